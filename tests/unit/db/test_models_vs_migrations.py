"""The alembic baseline and the models describe the same schema on every backend."""

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from glance_db import migration
from glance_db.models import metadata
from tests.unit.db.backends import BACKEND_PARAMS, scratch_database
from tests.unit.db.schemadump import differences, dump


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_upgrade_matches_models(backend, tmp_path):
    with scratch_database(backend, tmp_path) as migrated_url, \
            scratch_database(backend, tmp_path) as created_url:
        engine = sqlalchemy.create_engine(migrated_url, poolclass=sqlalchemy.pool.NullPool)
        with engine.begin() as conn:
            migration.upgrade(conn)
        with engine.connect() as conn:
            assert migration.current_revisions(conn) == [migration.HEAD]
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        engine.dispose()
        created = sqlalchemy.create_engine(created_url, poolclass=sqlalchemy.pool.NullPool)
        metadata.create_all(created)
        created.dispose()
        assert diff == []
        assert differences(dump(migrated_url), dump(created_url)) == []


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_downgrade_drops_everything(backend, tmp_path):
    from alembic import command

    with scratch_database(backend, tmp_path) as url:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        with engine.begin() as conn:
            migration.upgrade(conn)
        with engine.begin() as conn:
            command.downgrade(migration.alembic_config(conn), "base")
        assert set(sqlalchemy.inspect(engine).get_table_names()) <= {"alembic_version"}
        with engine.begin() as conn:
            migration.upgrade(conn)
        assert "images" in sqlalchemy.inspect(engine).get_table_names()
        engine.dispose()
