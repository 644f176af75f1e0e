"""ImageRepo.image_list contract: visibility, filters, tags, sort and keyset paging."""

import datetime
import itertools
import uuid

import pytest
from sqlalchemy import insert

from glance_db import exceptions
from glance_db.models import images

DEFAULT_SORT = [["created_at", "desc"], ["id", "desc"]]


def _ids(result):
    return {i["name"] for i in result}


def _list(repo, project_id="p1", is_admin=False, **query):
    query.setdefault("sort", DEFAULT_SORT)
    query.setdefault("os_hidden", False)
    return repo.image_list(project_id=project_id, is_admin=is_admin, **query)


@pytest.fixture
def population(repo):
    """Images of every visibility for p1/p2/p3; p2 is a member of some shared ones."""
    def make(name, owner, visibility, **kw):
        return repo.image_create(dict(name=name, owner=owner, visibility=visibility, **kw))

    make("p1-private", "p1", "private")
    make("p1-shared", "p1", "shared")
    make("p1-community", "p1", "community")
    make("p2-private", "p2", "private")
    make("p2-public", "p2", "public")
    make("p2-community", "p2", "community")
    for status in ("pending", "accepted", "rejected"):
        img = make("p2-shared-%s" % status, "p2", "shared")
        repo.member_create(img["id"], "p1")
        repo.member_update(img["id"], "p1", status)
    gone = make("p2-public-deleted", "p2", "public")
    repo.image_destroy(gone["id"])
    make("p2-public-killed", "p2", "public", status="killed")
    make("p3-shared-nomember", "p3", "shared")
    make("p2-hidden", "p2", "public", os_hidden=True)
    return repo


def test_list_default_visibility(population):
    assert _ids(_list(population)) == {
        "p1-private", "p1-shared", "p1-community", "p2-public", "p2-shared-accepted"}


@pytest.mark.parametrize("member_status,expected", [
    ("pending", {"p2-shared-pending"}), ("rejected", {"p2-shared-rejected"}),
    ("accepted", {"p2-shared-accepted"}),
    ("all", {"p2-shared-pending", "p2-shared-accepted", "p2-shared-rejected"}),
])
def test_list_member_status(population, member_status, expected):
    got = _ids(_list(population, member_status=member_status))
    assert {n for n in got if n.startswith("p2-shared")} == expected
    assert "p1-shared" in got  # own shared image whatever the member_status


@pytest.mark.parametrize("visibility,expected", [
    ("public", {"p2-public"}),
    ("private", {"p1-private"}),
    ("shared", {"p1-shared", "p2-shared-accepted"}),
    ("community", {"p1-community", "p2-community"}),
    ("all", {"p1-private", "p1-shared", "p1-community", "p2-public", "p2-community",
             "p2-shared-accepted"}),
])
def test_list_visibility_filter(population, visibility, expected):
    assert _ids(_list(population, visibility=visibility)) == expected


def test_list_admin_sees_all_but_foreign_community(population):
    everything = {"p1-private", "p1-shared", "p1-community", "p2-private", "p2-public",
                  "p2-shared-pending", "p2-shared-accepted", "p2-shared-rejected",
                  "p3-shared-nomember"}
    assert _ids(_list(population, is_admin=True)) == everything
    assert "p2-community" in _ids(_list(population, is_admin=True, visibility="community"))


def test_list_os_hidden(population):
    assert "p2-hidden" not in _ids(_list(population))
    assert _ids(_list(population, os_hidden=True)) == {"p2-hidden"}
    assert "p2-hidden" in _ids(_list(population, os_hidden=None))


def test_list_killed_never_listed(population):
    flt = [["status", "eq", "killed"]]
    assert _list(population, is_admin=True, filters=flt) == []


def test_list_anonymous_viewer(population):
    assert _ids(_list(population, project_id=None)) == {"p2-public"}


@pytest.fixture
def sized(repo):
    specs = [("a", 10, "qcow2", {"os": "linux"}, ["t1", "t2"], False),
             ("b", 20, "raw", {"os": "windows"}, ["t1"], True),
             ("c", 30, "qcow2", {}, ["t2"], False),
             ("d", None, "iso", {"os": "linux", "n": "5"}, [], False)]
    for name, size, fmt, props, tags, protected in specs:
        repo.image_create({"name": name, "owner": "p1", "size": size, "disk_format": fmt,
                           "properties": props, "tags": tags, "protected": protected})
    return repo


@pytest.mark.parametrize("filters,expected", [
    ([["name", "eq", "a"]], "a"),
    ([["name", "in", ["a", "c", "zz"]]], "ac"),
    ([["name", "neq", "a"]], "bcd"),
    ([["size", "gte", 20]], "bc"),
    ([["size", "gt", "20"]], "c"),
    ([["size", "lte", 20]], "ab"),
    ([["size", "lt", 20]], "a"),
    ([["size", "gte", 10], ["size", "lte", 20]], "ab"),
    ([["disk_format", "eq", "qcow2"]], "ac"),
    ([["protected", "eq", True]], "b"),
    ([["protected", "eq", "false"]], "acd"),
    ([["os", "eq", "linux"]], "ad"),
    ([["os", "in", ["windows", "bsd"]]], "b"),
    ([["n", "eq", 5]], "d"),
    ([["os", "eq", "linux"], ["disk_format", "eq", "iso"]], "d"),
    ([["nosuchprop", "eq", "x"]], ""),
])
def test_list_filters(sized, filters, expected):
    got = _list(sized, filters=filters, sort=[["name", "asc"], ["id", "asc"]])
    assert "".join(i["name"] for i in got) == expected


def test_list_time_filters(sized):
    every = _list(sized, sort=[["created_at", "asc"], ["id", "asc"]])
    first = every[0]["created_at"]
    assert len(_list(sized, filters=[["created_at", "gte", first]])) == 4
    assert _list(sized, filters=[["created_at", "lt", first]]) == []
    assert len(_list(sized, filters=[["created_at", "gte", first + "Z"]])) == 4
    future = (datetime.datetime.utcnow() + datetime.timedelta(days=1)).isoformat()
    assert len(_list(sized, filters=[["updated_at", "lt", future]])) == 4


@pytest.mark.parametrize("bad", [
    [["name", "zz", "a"]], [["size", "gte", "big"]], [["created_at", "eq", "yesterday"]],
    [["protected", "eq", "maybe"]],
])
def test_list_invalid_filter(sized, bad):
    with pytest.raises(exceptions.InvalidFilter):
        _list(sized, filters=bad)


def test_list_tags_and(sized):
    assert _ids(_list(sized, tags=["t1"])) == {"a", "b"}
    assert _ids(_list(sized, tags=["t1", "t2"])) == {"a"}
    assert _list(sized, tags=["t1", "nope"]) == []


def test_list_sort_and_limit(sized):
    assert [i["name"] for i in _list(sized, sort=[["size", "asc"], ["id", "asc"]])] == \
        ["d", "a", "b", "c"]
    assert [i["name"] for i in _list(sized, sort=[["size", "desc"], ["id", "desc"]])] == \
        ["c", "b", "a", "d"]
    assert [i["name"] for i in _list(sized, sort=[["name", "desc"]], limit=2)] == ["d", "c"]
    assert _list(sized, limit=0) == []
    with pytest.raises(exceptions.InvalidSortKey):
        _list(sized, sort=[["bogus", "asc"]])


def test_list_children_loaded(sized):
    by_name = {i["name"]: i for i in _list(sized)}
    assert by_name["a"]["tags"] == ["t1", "t2"]
    assert by_name["d"]["properties"] == {"os": "linux", "n": "5"}


def test_list_marker_errors(population):
    with pytest.raises(exceptions.MarkerNotFound):
        _list(population, marker=str(uuid.uuid4()))
    invisible = _list(population, project_id="p2", visibility="private")[0]
    with pytest.raises(exceptions.MarkerNotFound):
        _list(population, marker=invisible["id"])


def _page_all(repo, sort, limit, **query):
    pages, marker = [], None
    for _ in range(5000 // limit + 2):  # bounded: a broken marker must fail, not hang
        page = _list(repo, sort=sort, limit=limit, marker=marker, **query)
        pages.extend(page)
        if len(page) < limit:
            return pages
        assert page[-1]["id"] != marker
        marker = page[-1]["id"]
    raise AssertionError("paging did not end")


def _null_smallest(value):
    return (value is not None, value)


@pytest.mark.parametrize("sort", [
    [["name", "asc"], ["size", "desc"], ["created_at", "desc"], ["id", "desc"]],
    [["size", "asc"], ["name", "desc"], ["id", "asc"]],
    [["disk_format", "desc"], ["size", "asc"], ["id", "desc"]],
    [["created_at", "asc"], ["id", "asc"]],
])
def test_marker_paging_multi_key(repo, sort):
    names, sizes, formats = ["x", "y", None], [1, None, 2], ["raw", None]
    for name, size, fmt in itertools.islice(
            itertools.cycle(itertools.product(names, sizes, formats)), 23):
        repo.image_create({"name": name, "size": size, "disk_format": fmt, "owner": "p1"})
    full = _list(repo, sort=sort)
    for key, direction in reversed(sort):
        expected = sorted(full, key=lambda i, k=key: _null_smallest(i[k]),
                          reverse=direction == "desc")
        full = expected
    assert [i["id"] for i in _list(repo, sort=sort)] == [i["id"] for i in full]
    for limit in (1, 4, 7):
        assert [i["id"] for i in _page_all(repo, sort, limit)] == [i["id"] for i in full]


def test_paging_over_1000_images(repo, db_engine):
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    rows = [{"id": str(uuid.uuid4()), "name": "img-%04d" % (n % 97), "status": "active",
             "owner": "p1", "visibility": "private", "min_ram": 0, "min_disk": 0,
             "protected": False, "os_hidden": False, "deleted": False,
             # Many images share a timestamp, so paging must rely on the id tiebreaker.
             "created_at": now + datetime.timedelta(seconds=n // 50), "updated_at": now}
            for n in range(1050)]
    with db_engine.begin() as conn:
        conn.execute(insert(images), rows)
    seen = _page_all(repo, DEFAULT_SORT, 100)
    assert len(seen) == 1050 and {i["id"] for i in seen} == {r["id"] for r in rows}
    by_name = _page_all(repo, [["name", "asc"], ["created_at", "desc"], ["id", "desc"]], 333)
    assert [i["id"] for i in by_name] == [i["id"] for i in _list(
        repo, sort=[["name", "asc"], ["created_at", "desc"], ["id", "desc"]], limit=2000)]
