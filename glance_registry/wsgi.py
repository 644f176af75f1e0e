"""``application`` for external WSGI servers (uwsgi, mod_wsgi, gunicorn glance_registry.wsgi).

Config files: ``GLANCE_REGISTRY_CONFIG`` (comma-separated paths) or Glance's default search
(glance-registry.conf in ~/.glance, ~, /etc/glance, /etc).
"""

import os

from glance_registry import cmd
from glance_server import metrics
from glance_registry.app import create_app


def _config_files():
    paths = os.environ.get('GLANCE_REGISTRY_CONFIG')
    return [p.strip() for p in paths.split(',') if p.strip()] if paths else None


_conf = cmd.load_conf([], default_config_files=_config_files())
application = metrics.wrap(_conf, create_app(_conf))
