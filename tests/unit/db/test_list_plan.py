"""The plain list's plan on MariaDB: walk created_at_image_idx, never sort the catalogue,
never scan image_members.

benchmarks/bench_scale.py found list(limit=20) 33x slower at 100k images than at 1k: the
optimizer merged the two flag indexes every live row matches and sorted every row, and
materialized the membership subquery from every image_members row (PERF notes in
glance_db/listing.py and glance_db/queries.py).
"""

import contextlib
import datetime
import json
import uuid

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import mysql, sqlite

from glance_db.engine import create_engine
from glance_db.listing import CREATED_AT_WALK, OWNER_WALK, build_list, check_sort
from glance_db.models import image_members, images, metadata
from tests.unit.db.backends import scratch_database


def _query(**values):
    query = {"project_id": "p1", "is_admin": False, "sort": check_sort(None), "limit": 20,
             "os_hidden": False, "member_status": "accepted", "owner_walk": True}
    query.update(values)
    return query


def _sql(query, dialect, **kw):
    return str(build_list(query, dialect.name).compile(dialect=dialect, **kw))


@pytest.mark.parametrize("values", [{}, {"is_admin": True}, {"os_hidden": None},
                                    {"sort": check_sort([("created_at", "asc")])}])
def test_a_plain_list_walks_created_at_on_mysql(values):
    assert "FROM images %s" % CREATED_AT_WALK in _sql(_query(**values), mysql.dialect())


@pytest.mark.parametrize("values", [
    {"filters": [("status", "eq", "active")]}, {"filters": [("disk_format", "eq", "qcow2")]},
    {"filters": [("os_distro", "eq", "cirros")]}, {"filters": [("name", "eq", "x")]},
    {"filters": [("created_at", "gt", "2026-01-01T00:00:00Z")]},
    {"visibility": "public"}, {"visibility": "all"},
    {"visibility": "private", "is_admin": True}, {"visibility": "shared", "is_admin": True}])
def test_a_filter_no_index_serves_walks_created_at_too(values):
    # Horizon and the CLI list with status=active: 466 ms at 100k images before the walk
    assert "FROM images %s" % CREATED_AT_WALK in _sql(_query(**values), mysql.dialect())


@pytest.mark.parametrize("values", [
    {"visibility": "private"}, {"visibility": "private", "os_hidden": True},
    {"filters": [("owner", "eq", "p2")]},
    {"filters": [("owner", "eq", "p2"), ("status", "eq", "active")], "is_admin": True}])
def test_a_projects_own_page_walks_owner_created_at(values):
    query = _query(owner_walk=True, **values)
    assert "FROM images %s" % OWNER_WALK in _sql(query, mysql.dialect())
    # a database real Glance made, before our `db sync` added the index: no hint
    assert "INDEX" not in _sql(dict(query, owner_walk=False), mysql.dialect())


@pytest.mark.parametrize("values", [
    {"tags": ["t"]}, {"visibility": "community"},
    {"visibility": "shared"}, {"visibility": "community", "is_admin": True},
    {"filters": [("checksum", "eq", "c" * 32)]},
    {"filters": [("id", "in", ["a", "b"])]}, {"filters": [("os_hash_value", "eq", "h")]},
    {"filters": [("updated_at", "gt", "2026-01-01T00:00:00Z")]},
    {"sort": check_sort([("name", "asc")])}])
def test_a_narrower_list_leaves_the_plan_to_the_optimizer(values):
    assert "INDEX" not in _sql(_query(**values), mysql.dialect())


def test_a_members_private_list_is_its_own_images():
    sql = _sql(_query(visibility="private"), mysql.dialect())
    where = sql.split("WHERE", 1)[1]
    assert "images.owner = %s" in where and "image_members" not in where
    assert "public" not in where


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


@contextlib.contextmanager
def _seeded_mariadb(tmp_path, count):
    """Yield an engine on a scratch MariaDB database with ``count`` seeded images."""
    with scratch_database("mariadb", tmp_path) as url:
        engine = create_engine(url)
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                _seed(conn, count)
                conn.exec_driver_sql("ANALYZE TABLE images, image_members")
            yield engine
        finally:
            engine.dispose()


def _plan_and_page(tmp_path, query, explain="ANALYZE FORMAT=JSON"):
    """Return MariaDB's ``explain`` of ``query`` over 4000 seeded images, and the page."""
    sql = _sql(query, mysql.dialect(), compile_kwargs={"literal_binds": True})
    with _seeded_mariadb(tmp_path, 4000) as engine, engine.connect() as conn:
        plan = conn.execute(text(explain + " " + sql)).mappings().all()
        page = conn.execute(text(sql)).all()
    if explain == "EXPLAIN":
        return plan, page
    return json.loads(next(iter(plan[0].values())))["query_block"], page


def _images_access(block):
    """Return the images table's entry of an ANALYZE plan and whether it sorted."""
    step = block["nested_loop"][0] if "nested_loop" in block else block
    if "read_sorted_file" in step:
        return step["read_sorted_file"]["filesort"]["table"], True
    return step["table"], "filesort" in step


@pytest.mark.mariadb
@pytest.mark.parametrize("values, key, most_rows, count", [
    # p1 owns 80 of the 4000 images, 40 private, and sees about 27% of them: each page
    # is read in index order until 20 match
    ({"visibility": "private"}, "owner_created_at_image_idx", 40, 20),
    # one match: the walk reads p1's own rows, never more
    ({"visibility": "private", "filters": [("name", "eq", "i2006")]},
     "owner_created_at_image_idx", 80, 1),
    ({"filters": [("status", "eq", "active")]}, "created_at_image_idx", 100, 20),
    ({"filters": [("owner", "eq", "p1")]}, "owner_created_at_image_idx", 80, 20)])
def test_mariadb_reads_a_narrowed_page_in_index_order(tmp_path, values, key, most_rows, count):
    block, page = _plan_and_page(tmp_path, _query(**values))
    table, sorted_ = _images_access(block)
    assert (table["key"], sorted_) == (key, False), block
    assert table["r_rows"] <= most_rows, block
    assert len(page) == count


@pytest.mark.mariadb
@pytest.mark.parametrize("is_admin", [False, True])
def test_mariadb_reads_a_page_in_index_order(tmp_path, is_admin):
    plan, page = _plan_and_page(tmp_path, _query(is_admin=is_admin), "EXPLAIN")
    first = plan[0]
    assert (first["table"], first["key"]) == ("images", "created_at_image_idx"), plan
    assert "filesort" not in (first["Extra"] or ""), plan
    # the membership test: a lookup per candidate row, never a scan of every member row
    assert [(p["select_type"], p["type"]) for p in plan[1:]] == (
        [] if is_admin else [("DEPENDENT SUBQUERY", "ref")]), plan
    assert len(page) == 20


@pytest.mark.mariadb
def test_the_repo_pages_alike_with_and_without_our_index(tmp_path):
    """A database real Glance made has no owner_created_at_image_idx until our db sync."""
    from glance_db.api import ImageRepo

    with _seeded_mariadb(tmp_path, 400) as engine:
        pages = {}
        for kind in ("with", "without"):
            if kind == "without":
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP INDEX owner_created_at_image_idx ON images")
            repo = ImageRepo(engine)
            # p1 owns images 4..7 and 204..207; 6, 7, 206, 207 are private
            pages[kind] = [[i["id"] for i in repo.image_list(
                project_id="p1", visibility="private", limit=2, marker=marker)]
                for marker in (None, str(uuid.UUID(int=206 + 1)))]
            pages[kind].append([i["id"] for i in repo.image_list(
                project_id="p2", is_admin=True, filters=[("owner", "eq", "p1")], limit=3)])
            assert repo._owner_walk is (kind == "with")
    assert pages["with"] == pages["without"]
    assert pages["with"][:2] == [[str(uuid.UUID(int=i + 1)) for i in pair]
                                 for pair in ((207, 206), (7, 6))]
    assert len(pages["with"][2]) == 3
