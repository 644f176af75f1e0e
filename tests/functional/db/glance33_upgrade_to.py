"""Run under real Glance 33's venv: bring a database to one of Glance's own alembic revisions.

usage: python glance33_upgrade_to.py CONFIG_FILE REVISION   (Glance's `db sync` has no
--version any more; this calls its alembic chain directly, as its own tests do.)
"""
import sys

from alembic import command
from glance.common import config  # noqa: F401  (registers Glance's options)
from glance.db.sqlalchemy import alembic_migrations
from oslo_config import cfg

cfg.CONF(["--config-file", sys.argv[1]], project="glance")
command.upgrade(alembic_migrations.get_alembic_config(), sys.argv[2])
