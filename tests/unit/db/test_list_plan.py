"""The plain list's plan on MariaDB: walk created_at_image_idx, never sort the catalogue,
never scan image_members.

benchmarks/bench_scale.py found list(limit=20) 33x slower at 100k images than at 1k: the
optimizer merged the two flag indexes every live row matches and sorted every row, and
materialized the membership subquery from every image_members row (PERF notes in
glance_db/listing.py and glance_db/queries.py).
"""

import datetime
import uuid

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import mysql, sqlite

from glance_db.engine import create_engine
from glance_db.listing import CREATED_AT_WALK, build_list, check_sort
from glance_db.models import image_members, images, metadata
from tests.unit.db.backends import scratch_database


def _query(**values):
    query = {"project_id": "p1", "is_admin": False, "sort": check_sort(None), "limit": 20,
             "os_hidden": False, "member_status": "accepted"}
    query.update(values)
    return query


def _sql(query, dialect, **kw):
    return str(build_list(query, dialect.name).compile(dialect=dialect, **kw))


@pytest.mark.parametrize("values", [{}, {"is_admin": True}, {"os_hidden": None},
                                    {"sort": check_sort([("created_at", "asc")])}])
def test_a_plain_list_walks_created_at_on_mysql(values):
    assert "FROM images %s" % CREATED_AT_WALK in _sql(_query(**values), mysql.dialect())


@pytest.mark.parametrize("values", [
    {"filters": [("disk_format", "eq", "qcow2")]}, {"tags": ["t"]}, {"visibility": "private"},
    {"sort": check_sort([("name", "asc")])}])
def test_a_narrower_list_leaves_the_plan_to_the_optimizer(values):
    assert "INDEX" not in _sql(_query(**values), mysql.dialect())


def test_other_databases_get_no_hint():
    assert "INDEX" not in _sql(_query(), sqlite.dialect())


def _seed(conn, count):
    base = datetime.datetime(2026, 1, 1)
    rows, members = [], []
    for i in range(count):
        when = base + datetime.timedelta(seconds=i)
        visibility = ("public", "shared", "private", "private")[i % 4]
        rows.append({"id": str(uuid.UUID(int=i + 1)), "name": "i%d" % i, "status": "active",
                     "owner": "p%d" % (i // 4 % 50), "visibility": visibility,
                     "min_disk": 0, "min_ram": 0, "protected": False, "os_hidden": False,
                     "created_at": when, "updated_at": when, "deleted": False})
        if visibility == "shared":
            members.append({"image_id": rows[-1]["id"], "member": "p%d" % (i % 50),
                            "can_share": False, "status": "accepted", "created_at": when,
                            "deleted": False})
    conn.execute(insert(images), rows)
    conn.execute(insert(image_members), members)


@pytest.mark.mariadb
@pytest.mark.parametrize("is_admin", [False, True])
def test_mariadb_reads_a_page_in_index_order(tmp_path, is_admin):
    with scratch_database("mariadb", tmp_path) as url:
        engine = create_engine(url)
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                _seed(conn, 4000)
                conn.exec_driver_sql("ANALYZE TABLE images, image_members")
            sql = _sql(_query(is_admin=is_admin), mysql.dialect(),
                       compile_kwargs={"literal_binds": True})
            with engine.connect() as conn:
                plan = conn.execute(text("EXPLAIN " + sql)).mappings().all()
                page = conn.execute(text(sql)).all()
        finally:
            engine.dispose()
    first = plan[0]
    assert (first["table"], first["key"]) == ("images", "created_at_image_idx"), plan
    assert "filesort" not in (first["Extra"] or ""), plan
    # the membership test: a lookup per candidate row, never a scan of every member row
    assert [(p["select_type"], p["type"]) for p in plan[1:]] == (
        [] if is_admin else [("DEPENDENT SUBQUERY", "ref")]), plan
    assert len(page) == 20
