"""Member rows under races, quick re-shares and Glance 33's duplicate live rows, per backend."""

import datetime
import threading
import time

import pytest
from sqlalchemy import func, insert, select

from glance_db import exceptions
from glance_db.models import image_members

THREADS = 20


def _image(repo):
    return repo.image_create({"owner": "p1", "visibility": "shared"})


def _rows(db_engine, image_id, member):
    """Return (live, deleted) row counts of one membership."""
    m = image_members
    with db_engine.connect() as conn:
        counts = dict(conn.execute(
            select(m.c.deleted, func.count()).where(m.c.image_id == image_id,
                                                   m.c.member == member)
            .group_by(m.c.deleted)).all())
    return counts.get(False, 0), counts.get(True, 0)


def _sees(repo, image_id, project_id):
    try:
        repo.image_get(image_id, project_id=project_id, is_admin=False)
    except exceptions.ImageNotFound:
        return False
    return True


def _add_concurrently(repo, image_id, member):
    barrier = threading.Barrier(THREADS)
    outcomes = []

    def add():
        barrier.wait()
        try:
            repo.member_create(image_id, member)
            outcomes.append("created")
        except exceptions.Duplicate:
            outcomes.append("duplicate")
        except Exception as exc:  # any other outcome fails the assertion on outcomes
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=add) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return sorted(outcomes)


def test_concurrent_adds_make_one_live_row(repo, db_engine):
    image = _image(repo)
    for member in ("p2", "p3"):
        outcomes = _add_concurrently(repo, image["id"], member)
        assert outcomes == ["created"] + ["duplicate"] * (THREADS - 1)
        assert _rows(db_engine, image["id"], member) == (1, 0)
        assert [m["member"] for m in repo.member_list(image["id"])].count(member) == 1


def _one_second_of_cycles(repo, image_id, cycles):
    """Run add → delete ``cycles`` times inside one wall-clock second; return whether it fit."""
    time.sleep(1 - time.time() % 1)
    second = int(time.time())
    for _ in range(cycles):
        repo.member_create(image_id, "p2")
        assert _sees(repo, image_id, "p2")
        repo.member_delete(image_id, "p2")
        assert not _sees(repo, image_id, "p2")
        with pytest.raises(exceptions.MemberNotFound):
            repo.member_get(image_id, "p2")
    return int(time.time()) == second


def test_delete_revokes_at_any_speed(repo, db_engine):
    # NOTE: MariaDB stores deleted_at in whole seconds; the unique key (image_id, member,
    # deleted_at) made the second delete of a second fail and left the share in place.
    image = _image(repo)
    fitted = [_one_second_of_cycles(repo, image["id"], 3) for _ in range(3)]
    assert any(fitted), "no run of add/delete cycles fitted in one second"
    assert _rows(db_engine, image["id"], "p2")[0] == 0
    assert repo.member_list(image["id"]) == []
    assert repo.member_create(image["id"], "p2")["status"] == "pending"
    assert _rows(db_engine, image["id"], "p2")[0] == 1


def _insert_live(db_engine, image_id, member, copies, status="pending"):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    with db_engine.begin() as conn:
        conn.execute(insert(image_members), [
            {"image_id": image_id, "member": member, "can_share": False, "status": status,
             "created_at": now, "updated_at": now, "deleted": False}
            for _ in range(copies)])


def test_duplicate_live_rows_are_served_once_and_deleted_together(repo, db_engine):
    image = _image(repo)
    _insert_live(db_engine, image["id"], "p2", 3)
    _insert_live(db_engine, image["id"], "p3", 1)
    assert repo.member_get(image["id"], "p2")["member"] == "p2"
    assert [m["member"] for m in repo.member_list(image["id"])] == ["p2", "p3"]
    assert [m["member"] for m in repo.member_list(image["id"], member="p2")] == ["p2"]
    with pytest.raises(exceptions.Duplicate):
        repo.member_create(image["id"], "p2")
    assert repo.member_update(image["id"], "p2", "accepted")["status"] == "accepted"
    assert repo.member_get(image["id"], "p2")["status"] == "accepted"
    assert _sees(repo, image["id"], "p2")

    repo.member_delete(image["id"], "p2")
    assert _rows(db_engine, image["id"], "p2")[0] == 0
    assert not _sees(repo, image["id"], "p2")
    with pytest.raises(exceptions.MemberNotFound):
        repo.member_get(image["id"], "p2")
    with pytest.raises(exceptions.MemberNotFound):
        repo.member_delete(image["id"], "p2")
    assert [m["member"] for m in repo.member_list(image["id"])] == ["p3"]
    assert _rows(db_engine, image["id"], "p3") == (1, 0)


def test_duplicate_live_rows_right_after_a_delete(repo, db_engine):
    # A Glance 33 node re-adds the member twice within the second of our delete.
    image = _image(repo)
    repo.member_create(image["id"], "p2")
    repo.member_delete(image["id"], "p2")
    _insert_live(db_engine, image["id"], "p2", 2)
    repo.member_delete(image["id"], "p2")
    assert _rows(db_engine, image["id"], "p2")[0] == 0
    assert not _sees(repo, image["id"], "p2")


def test_image_delete_with_duplicate_live_rows(repo, db_engine):
    image = _image(repo)
    repo.member_create(image["id"], "p3")
    repo.member_delete(image["id"], "p3")
    repo.member_create(image["id"], "p3")
    _insert_live(db_engine, image["id"], "p2", 2)
    repo.image_destroy(image["id"])
    assert _rows(db_engine, image["id"], "p2")[0] == 0
    assert _rows(db_engine, image["id"], "p3")[0] == 0
    with pytest.raises(exceptions.ImageNotFound):
        repo.image_get(image["id"])
