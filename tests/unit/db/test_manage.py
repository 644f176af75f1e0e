"""glance-manage db commands: sync/version/check on empty, current and older databases."""

import pytest
import sqlalchemy

from glance_db import manage, migration
from tests.unit.db.backends import BACKEND_PARAMS, scratch_database


def _run(capsys, url, tmp_path, *args):
    conf = tmp_path / "glance-api.conf"
    conf.write_text("[database]\nconnection = %s\n" % url)
    code = manage.main(["--config-file", str(conf), *args])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def _set_revision(url, *revisions):
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
        for rev in revisions:
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('%s')" % rev)
    engine.dispose()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_sync_empty_then_current(capsys, tmp_path, backend):
    with scratch_database(backend, tmp_path) as url:
        assert _run(capsys, url, tmp_path, "db", "check")[0] == 3
        assert _run(capsys, url, tmp_path, "db", "sync") == (
            0, "Database is synced successfully.", "")
        tables = sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names()
        assert {"images", "image_members", "cached_images", "alembic_version"} <= set(tables)
        assert _run(capsys, url, tmp_path, "db", "version")[:2] == (0, migration.HEAD)
        assert _run(capsys, url, tmp_path, "db_sync") == (
            0, "Database is up to date. No migrations needed.", "")
        assert _run(capsys, url, tmp_path, "db", "check") == (
            0, "Database is up to date. No upgrades needed.", "")


@pytest.mark.parametrize("revision", ["zed_contract01",
                                      "wallaby_contract01", "train_contract01",
                                      "rocky_contract02", "ocata_contract01", "liberty"])
def test_sync_refuses_older_glance_revision(capsys, tmp_path, revision):
    with scratch_database("sqlite", tmp_path) as url:
        _run(capsys, url, tmp_path, "db", "sync")
        _set_revision(url, revision)
        code, out, err = _run(capsys, url, tmp_path, "db", "sync")
        assert code == 1 and out == ""
        assert revision in err and migration.HEAD in err and "glance-manage db sync" in err
        assert "upgrades only from 2023_1_contract01" in err
        assert _run(capsys, url, tmp_path, "db_version")[1] == revision
        assert _run(capsys, url, tmp_path, "db", "check")[0] == 3


def test_check_contract_pending(capsys, tmp_path):
    with scratch_database("sqlite", tmp_path) as url:
        _run(capsys, url, tmp_path, "db", "sync")
        _set_revision(url, "2023_1_contract01", migration.EXPAND_HEAD)
        code, out, _ = _run(capsys, url, tmp_path, "db", "check")
        assert code == 5 and "db contract" in out


def test_sync_refuses_unknown_and_unversioned(capsys, tmp_path):
    with scratch_database("sqlite", tmp_path) as url:
        _run(capsys, url, tmp_path, "db", "sync")
        _set_revision(url, "abc123")
        code, _, err = _run(capsys, url, tmp_path, "db", "sync")
        assert code == 1 and "abc123" in err
        _set_revision(url)
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        code, _, err = _run(capsys, url, tmp_path, "db", "sync")
        assert code == 1 and "alembic_version" in err
        assert _run(capsys, url, tmp_path, "db", "version_control")[0] == 0
        assert _run(capsys, url, tmp_path, "db", "version")[1] == migration.HEAD


def test_upgrade_and_bad_version(capsys, tmp_path):
    with scratch_database("sqlite", tmp_path) as url:
        code, out, _ = _run(capsys, url, tmp_path, "db", "upgrade")
        assert code == 0 and migration.HEAD in out
        code, _, err = _run(capsys, url, tmp_path, "db", "sync", "--version", "zed_contract01")
        assert code == 1 and "zed_contract01" in err


def test_no_connection_configured(capsys, tmp_path):
    conf = tmp_path / "empty.conf"
    conf.write_text("[DEFAULT]\n")
    assert manage.main(["--config-file", str(conf), "db", "version"]) == 1
    assert "[database] connection" in capsys.readouterr().err
