"""glance-manage db expand / migrate / contract / check, purge and purge_images_table.

The rolling upgrade starts from a database real Glance 33's own glance-manage brought to
Glance 2023.1's head (2023_1_contract01), and ends with the schema real Glance 33 makes.
Purge runs on a database this service made, with rows as Glance soft-deletes them.
"""
import datetime
import pathlib
import uuid

import pytest
import sqlalchemy

from tests.functional.db.test_glance33_schema import (  # noqa: F401 (fixture)
    BACKENDS, _conf, _our_manage, _run, glance33,
)
from tests.unit.db.backends import scratch_database
from tests.unit.db.schemadump import differences, dump

HEAD = "2024_1_contract01"
HERE = pathlib.Path(__file__).resolve().parent


def _glance_2023_1(glance33, conf):  # noqa: F811
    """Let real Glance 33's alembic chain bring the database to 2023_1_contract01."""
    code, _, err = _run([str(glance33 / "python"), str(HERE / "glance33_upgrade_to.py"),
                         conf, "2023_1_contract01"])
    assert code == 0, err[-2000:]


def _revisions(url):
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(r[0] for r in conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


@pytest.mark.oracle
@pytest.mark.parametrize("backend", BACKENDS)
def test_rolling_upgrade_from_glance_2023_1(backend, glance33, tmp_path):  # noqa: F811
    with scratch_database(backend, tmp_path) as url, \
            scratch_database(backend, tmp_path) as real_head_url:
        conf = _conf(tmp_path, url)
        _glance_2023_1(glance33, conf)
        assert _revisions(url) == ["2023_1_contract01"]
        assert _our_manage(conf, "db", "check")[:2] == (
            3, "Your database is not up to date. Your first step is to run "
               "`glance-manage db expand`.")
        code, out, err = _our_manage(conf, "db", "migrate")
        assert code == 1 and "Data migration did not run" in err
        code, out, err = _our_manage(conf, "db", "contract")
        assert code == 1 and "Database contraction did not run" in err

        code, out, err = _our_manage(conf, "db", "expand")
        assert code == 0, err
        assert out == ("Upgraded database to: 2024_1_expand01, current revision(s): "
                       "2023_1_contract01, 2024_1_expand01\n"
                       "Added index owner_created_at_image_idx on images (owner, created_at), "
                       "which Glance's schema lacks and Glance ignores.")
        assert _our_manage(conf, "db", "expand")[:2] == (
            0, "Database expansion is up to date. No expansion needed.")
        assert _our_manage(conf, "db", "check")[:2] == (
            5, "Your database is not up to date. Your next step is to run "
               "`glance-manage db contract`.")
        assert _our_manage(conf, "db", "migrate")[:2] == (
            0, "Database migration is up to date. No migration needed.")
        code, out, err = _our_manage(conf, "db", "contract")
        assert code == 0, err
        assert _revisions(url) == [HEAD]
        assert _our_manage(conf, "db", "check")[:2] == (
            0, "Database is up to date. No upgrades needed.")
        assert _our_manage(conf, "db", "contract")[:2] == (
            0, "Database is up to date. No migrations needed.")
        # real Glance 33 agrees, and the schema is the one it makes itself
        code, out, err = _run([str(glance33 / "glance-manage"), "--config-file", conf,
                               "db", "check"])
        assert code == 0 and "up to date" in out, (out, err)
        code, _, err = _run([str(glance33 / "glance-manage"), "--config-file",
                             _conf(tmp_path, real_head_url), "db_sync"])
        assert code == 0, err[-2000:]
        real, ours = dump(real_head_url), dump(url)
        extra = ("owner_created_at_image_idx", ("owner", "created_at"), False)
        assert extra in ours["images"]["indexes"]
        ours["images"]["indexes"].remove(extra)
        assert differences(real, ours) == []


@pytest.mark.oracle
def test_sync_upgrades_glance_2023_1_in_one_step(glance33, tmp_path):  # noqa: F811
    with scratch_database("sqlite", tmp_path) as url:
        conf = _conf(tmp_path, url)
        _glance_2023_1(glance33, conf)
        code, out, err = _our_manage(conf, "db", "sync")
        assert code == 0, err
        assert _revisions(url) == [HEAD]


def test_expand_on_an_empty_database(tmp_path):
    with scratch_database("sqlite", tmp_path) as url:
        conf = _conf(tmp_path, url)
        code, out, err = _our_manage(conf, "db", "expand")
        assert code == 0, err
        assert out == ("Upgraded database to: 2024_1_expand01, current revision(s): "
                       "2024_1_expand01")
        assert _our_manage(conf, "db", "contract")[0] == 0
        assert _revisions(url) == [HEAD]


# --- purge ---------------------------------------------------------------------------

def _old(days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    return now - datetime.timedelta(days=days)


def _insert_image(conn, deleted_days=None, status="active", location_status=None):
    image_id = str(uuid.uuid4())
    deleted_at = _old(deleted_days) if deleted_days is not None else None
    conn.execute(sqlalchemy.text(
        "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, "
        "deleted, min_disk, min_ram, protected, visibility, os_hidden) VALUES "
        "(:id, 'p', 1, :st, :c, :c, :d, :dd, 0, 0, 0, 'shared', 0)"),
        {"id": image_id, "st": status if deleted_at is None else "deleted",
         "c": _old(400), "d": deleted_at, "dd": deleted_at is not None})
    for table, cols in (("image_properties", "name, value"), ("image_tags", "value")):
        values = "'k', 'v'" if table == "image_properties" else "'t'"
        conn.execute(sqlalchemy.text(
            f"INSERT INTO {table} (image_id, {cols}, created_at, updated_at, deleted_at, "
            f"deleted) VALUES (:id, {values}, :c, :c, :d, :dd)"),
            {"id": image_id, "c": _old(400), "d": deleted_at, "dd": deleted_at is not None})
    conn.execute(sqlalchemy.text(
        "INSERT INTO image_locations (image_id, value, meta_data, status, created_at, "
        "updated_at, deleted_at, deleted) VALUES (:id, 'file:///x', '{}', :s, :c, :c, :d, "
        ":dd)"), {"id": image_id, "s": location_status or ("deleted" if deleted_at
                                                            else "active"),
                  "c": _old(400), "d": deleted_at, "dd": deleted_at is not None})
    return image_id


def _insert_task(conn, deleted_days):
    task_id = str(uuid.uuid4())
    conn.execute(sqlalchemy.text(
        "INSERT INTO tasks (id, type, status, owner, created_at, updated_at, deleted_at, "
        "deleted) VALUES (:id, 'import', 'success', 'p', :c, :c, :d, 1)"),
        {"id": task_id, "c": _old(400), "d": _old(deleted_days)})
    conn.execute(sqlalchemy.text(
        "INSERT INTO task_info (task_id, input, result, message) VALUES (:id, '{}', '{}', "
        "'')"), {"id": task_id})
    return task_id


def _count(url, table, where="1=1", **params):
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(
                f"SELECT COUNT(*) FROM {table} WHERE {where}"), params).scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_purge_and_purge_images_table(backend, tmp_path):
    with scratch_database(backend, tmp_path) as url:
        conf = _conf(tmp_path, url)
        assert _our_manage(conf, "db", "sync")[0] == 0
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            old = [_insert_image(conn, deleted_days=40) for _ in range(3)]
            young = _insert_image(conn, deleted_days=5)
            live = _insert_image(conn)
            queued_for_scrub = _insert_image(conn, deleted_days=40,
                                             location_status="pending_delete")
            old_task, young_task = _insert_task(conn, 40), _insert_task(conn, 5)
        engine.dispose()

        code, out, err = _our_manage(conf, "db", "purge", "--max_rows", "2")
        assert code == 0, err
        assert "ago from image_properties" in out and "Purge complete" in out
        # two of the four old image_properties rows per table, oldest first
        assert _count(url, "image_properties", "deleted = 1") == 3
        code, out, err = _our_manage(conf, "db", "purge", "--max_rows", "-1")
        assert code == 0, err
        for table in ("image_properties", "image_tags"):
            assert _count(url, table, "deleted = 1") == 1          # the young one
        # the pending_delete location is the scrubber's: kept
        assert _count(url, "image_locations", "image_id = :i", i=queued_for_scrub) == 1
        assert _count(url, "tasks", "id = :i", i=old_task) == 0
        assert _count(url, "task_info", "task_id = :i", i=old_task) == 0
        assert _count(url, "tasks", "id = :i", i=young_task) == 1
        # purge never touches images
        assert _count(url, "images") == 6

        code, out, err = _our_manage(conf, "db", "purge_images_table", "--age_in_days", "30",
                                     "--max_rows", "-1")
        assert code == 0, err
        remaining = {r for r in old + [young, live, queued_for_scrub]
                     if _count(url, "images", "id = :i", i=r)}
        assert remaining == {young, live, queued_for_scrub}


@pytest.mark.parametrize("args, message", [
    (("--age_in_days", "-1"), "Must supply a non-negative value for age."),
    (("--age_in_days", "100000"), "Maximal age is count of days since epoch."),
    (("--max_rows", "-2"), "Minimal rows limit is -1."),
    (("--max_rows", str(2 ** 31)), "'max_rows' value out of range, must not exceed "
                                   "2147483647."),
])
def test_purge_refuses_glances_bad_arguments(tmp_path, args, message):
    with scratch_database("sqlite", tmp_path) as url:
        conf = _conf(tmp_path, url)
        assert _our_manage(conf, "db", "sync")[0] == 0
        code, out, err = _our_manage(conf, "db", "purge", *args)
        assert code == 1 and message in err
