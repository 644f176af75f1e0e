"""ImageRepo contract: create/get/visibility/update/CAS/destroy/tags/members on every backend."""

import datetime
import threading

import pytest
from sqlalchemy import select

from glance_db import exceptions
from glance_db.models import image_members, image_properties, image_tags

ISO_MICRO = "%Y-%m-%dT%H:%M:%S.%f"


def _create(repo, **values):
    values.setdefault("owner", "p1")
    return repo.image_create(values)


def test_create_defaults_and_roundtrip(repo):
    image = repo.image_create({"name": "cirros", "owner": "p1",
                               "properties": {"os_distro": "cirros", "empty": None},
                               "tags": ["b", "a", "b"],
                               "locations": [{"url": "file:///x", "metadata": {"store": "s"}}]})
    assert len(image["id"]) == 36
    assert (image["status"], image["visibility"]) == ("queued", "shared")
    assert (image["min_ram"], image["min_disk"]) == (0, 0)
    assert image["protected"] is False and image["os_hidden"] is False
    assert image["deleted"] is False and image["deleted_at"] is None
    datetime.datetime.strptime(image["created_at"], ISO_MICRO)
    assert image["updated_at"] == image["created_at"]
    assert image["properties"] == {"os_distro": "cirros", "empty": None}
    assert image["tags"] == ["b", "a"]
    assert image["locations"] == [{"id": image["locations"][0]["id"], "url": "file:///x",
                                   "metadata": {"store": "s"}, "status": "active"}]
    assert repo.image_get(image["id"]) == image


def test_create_keeps_given_values(repo):
    image = _create(repo, id="a" * 36, visibility="public", size=2 ** 40, protected=True,
                    os_hidden=True, min_ram=512)
    got = repo.image_get("a" * 36)
    assert (got["size"], got["protected"], got["os_hidden"], got["min_ram"]) == (
        2 ** 40, True, True, 512)
    assert got == image


def test_create_duplicate_id(repo):
    _create(repo, id="dup")
    with pytest.raises(exceptions.Duplicate):
        _create(repo, id="dup")


def test_get_missing_and_deleted(repo):
    with pytest.raises(exceptions.ImageNotFound, match="No image found with ID nope"):
        repo.image_get("nope")
    image = _create(repo)
    repo.image_destroy(image["id"])
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_get(image["id"])
    gone = repo.image_get(image["id"], include_deleted=True)
    assert gone["deleted"] is True and gone["status"] == "deleted" and gone["deleted_at"]


@pytest.mark.parametrize("visibility,owner,viewer,member_status,visible", [
    ("private", "p1", "p1", None, True),
    ("private", "p1", "p2", None, False),
    ("private", None, "p2", None, True),
    ("public", "p1", "p2", None, True),
    ("community", "p1", "p2", None, True),
    ("shared", "p1", "p2", None, False),
    ("shared", "p1", "p2", "pending", True),
    ("shared", "p1", "p2", "rejected", True),
    ("shared", "p1", "p2", "accepted", True),
    ("private", "p1", None, None, False),
])
def test_get_visibility(repo, visibility, owner, viewer, member_status, visible):
    image = _create(repo, visibility=visibility, owner=owner)
    if member_status:
        repo.member_create(image["id"], "p2")
        repo.member_update(image["id"], "p2", member_status)
    assert repo.image_get(image["id"], is_admin=True)["id"] == image["id"]
    if visible:
        assert repo.image_get(image["id"], project_id=viewer, is_admin=False)["id"] == image["id"]
    else:
        with pytest.raises(exceptions.ImageNotFound):
            repo.image_get(image["id"], project_id=viewer, is_admin=False)


def test_get_visibility_ignores_deleted_membership(repo):
    image = _create(repo, visibility="shared")
    repo.member_create(image["id"], "p2")
    repo.member_delete(image["id"], "p2")
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_get(image["id"], project_id="p2", is_admin=False)


def test_update_columns_properties_tags_locations(repo, db_engine):
    image = _create(repo, properties={"a": "1", "b": "2"}, tags=["x", "y"],
                    locations=[{"url": "file:///1"}, {"url": "file:///2"}])
    loc1 = image["locations"][0]["id"]
    updated = repo.image_update(image["id"], {
        "name": "new", "properties": {"b": "3", "c": "4"}, "tags": ["y", "z"],
        "locations": [{"url": "file:///1", "metadata": {"k": "v"}}, {"url": "file:///3"}]})
    assert updated["name"] == "new"
    assert updated["properties"] == {"a": "1", "b": "3", "c": "4"}
    assert updated["tags"] == ["y", "z"]
    assert [loc["url"] for loc in updated["locations"]] == ["file:///1", "file:///3"]
    assert updated["locations"][0] == {"id": loc1, "url": "file:///1", "metadata": {"k": "v"},
                                       "status": "active"}
    assert updated["updated_at"] >= image["updated_at"]
    assert repo.image_get(image["id"]) == updated


def test_update_purge_props_and_readd(repo, db_engine):
    image = _create(repo, properties={"a": "1", "b": "2"})
    purged = repo.image_update(image["id"], {"properties": {"b": "2"}}, purge_props=True)
    assert purged["properties"] == {"b": "2"}
    back = repo.image_update(image["id"], {"properties": {"a": "again"}})
    assert back["properties"] == {"a": "again", "b": "2"}
    with db_engine.connect() as conn:
        rows = conn.execute(select(image_properties.c.name).where(
            image_properties.c.image_id == image["id"])).all()
    assert sorted(r.name for r in rows) == ["a", "b"]  # revived, not duplicated


def test_update_cas(repo):
    image = _create(repo)
    saving = repo.image_update(image["id"], {"status": "saving"}, from_state="queued")
    assert saving["status"] == "saving"
    with pytest.raises(exceptions.Conflict) as err:
        repo.image_update(image["id"], {"status": "saving"}, from_state="queued")
    assert "saving" in err.value.message and "queued" in err.value.message
    assert repo.image_get(image["id"])["status"] == "saving"
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_update("missing", {"status": "active"}, from_state="saving")


def test_cas_race_exactly_one_winner(repo):
    for _ in range(5):
        image = _create(repo)
        barrier = threading.Barrier(2)
        outcomes = []

        def race(image_id=image["id"], barrier=barrier, outcomes=outcomes):
            barrier.wait()
            try:
                repo.image_update(image_id, {"status": "saving"}, from_state="queued")
                outcomes.append("won")
            except exceptions.Conflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=race) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["conflict", "won"]


def test_destroy(repo, db_engine):
    image = _create(repo, properties={"a": "1"}, tags=["t"], locations=[{"url": "file:///1"}])
    repo.member_create(image["id"], "p2")
    before = repo.image_destroy(image["id"], from_state="queued")
    assert before["status"] == "queued" and before["locations"][0]["url"] == "file:///1"
    with db_engine.connect() as conn:
        for table in (image_properties, image_tags, image_members):
            flags = conn.execute(select(table.c.deleted).where(
                table.c.image_id == image["id"])).scalars().all()
            assert flags and all(flags)
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_destroy(image["id"])


def test_destroy_cas_and_pending_delete(repo):
    image = _create(repo, status="active", locations=[{"url": "file:///1"}])
    with pytest.raises(exceptions.Conflict):
        repo.image_destroy(image["id"], from_state="queued")
    repo.image_destroy(image["id"], status="pending_delete")
    gone = repo.image_get(image["id"], include_deleted=True)
    assert gone["status"] == "pending_delete"
    assert [loc["status"] for loc in gone["locations"]] == ["pending_delete"]


def test_tags(repo):
    image = _create(repo, tags=["a"])
    repo.image_tag_add(image["id"], "b")
    repo.image_tag_add(image["id"], "b")
    assert repo.image_get(image["id"])["tags"] == ["a", "b"]
    assert repo.image_tag_count(image["id"]) == 2
    repo.image_tag_delete(image["id"], "a")
    assert repo.image_get(image["id"])["tags"] == ["b"]
    with pytest.raises(exceptions.TagNotFound):
        repo.image_tag_delete(image["id"], "a")
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_tag_add("missing", "x")
    repo.image_tag_add(image["id"], "a")
    assert repo.image_get(image["id"])["tags"] == ["b", "a"]


def test_members(repo):
    image = _create(repo, visibility="shared")
    created = repo.member_create(image["id"], "p2")
    assert created["status"] == "pending" and created["can_share"] is False
    assert created["member"] == "p2" and created["image_id"] == image["id"]
    assert created["deleted"] is False
    with pytest.raises(exceptions.Duplicate):
        repo.member_create(image["id"], "p2")
    repo.member_create(image["id"], "p3", can_share=True)
    assert [m["member"] for m in repo.member_list(image["id"])] == ["p2", "p3"]
    assert [m["member"] for m in repo.member_list(image["id"], member="p3")] == ["p3"]
    assert repo.member_update(image["id"], "p2", "accepted")["status"] == "accepted"
    assert repo.member_get(image["id"], "p2")["status"] == "accepted"
    repo.member_delete(image["id"], "p2")
    with pytest.raises(exceptions.MemberNotFound):
        repo.member_get(image["id"], "p2")
    with pytest.raises(exceptions.MemberNotFound):
        repo.member_update(image["id"], "p2", "accepted")
    with pytest.raises(exceptions.MemberNotFound):
        repo.member_delete(image["id"], "p2")
    assert repo.member_create(image["id"], "p2")["status"] == "pending"
    with pytest.raises(exceptions.ImageNotFound):
        repo.member_create("missing", "p2")


def test_get_survives_server_dropping_the_connection(repo, db_engine):
    image = _create(repo, name="kept")
    assert repo.image_get(image["id"])["name"] == "kept"
    backend = db_engine.dialect.name
    if backend == "sqlite":
        pytest.skip("no server connection to drop")
    # NOTE: the server ends every other session of this database, as a restart or
    # wait_timeout would; the reader's cached connection is among them.
    with db_engine.connect() as conn:
        if backend == "mysql":
            mine = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            ids = conn.exec_driver_sql(
                "SELECT id FROM information_schema.processlist WHERE db = DATABASE()"
                " AND id <> %d" % mine).scalars().all()
            for other in ids:
                conn.exec_driver_sql("KILL CONNECTION %d" % other)
        else:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert repo.image_get(image["id"])["name"] == "kept"
    assert repo.image_get(image["id"])["name"] == "kept"
