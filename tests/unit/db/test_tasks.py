"""TaskRepo on SQLite, MariaDB and PostgreSQL: create/get/list/update/delete, image tasks,
compare-and-swap and the interrupted-task recovery."""

import datetime
import uuid

import pytest
from sqlalchemy import delete

from glance_db import exceptions
from glance_db.models import metadata
from glance_db.tasks import TaskRepo


@pytest.fixture
def repo(db_engine):
    """Return a TaskRepo over an emptied database."""
    with db_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
    return TaskRepo(db_engine)


def _task(repo, owner="p1", **values):
    values = {"type": "location_import", "owner": owner, "input": {"image_id": "i1"},
              "message": "", **values}
    return repo.task_create(values)


def test_create_and_get_round_trip(repo):
    """A created task reads back with its decoded input and Glance's raw row keys."""
    task = _task(repo, image_id="i1", request_id="req-1", user_id="u1",
                 input={"image_id": "i1", "loc_url": "http://x/", "validation_data": {}})
    assert task["status"] == "pending" and task["deleted"] is False
    assert task["input"] == {"image_id": "i1", "loc_url": "http://x/", "validation_data": {}}
    assert task["result"] is None and task["message"] == ""
    assert set(task) == {"id", "type", "status", "owner", "expires_at", "created_at",
                         "updated_at", "deleted_at", "deleted", "image_id", "request_id",
                         "user_id", "input", "result", "message"}
    assert len(task["created_at"]) == len("2026-11-30T06:56:28.625552")
    assert repo.task_get(task["id"]) == task


def test_duplicate_id(repo):
    """A taken id is Duplicate."""
    task = _task(repo)
    with pytest.raises(exceptions.Duplicate):
        _task(repo, id=task["id"])


def test_get_missing_and_foreign(repo):
    """Missing → TaskNotFound; another owner's → TaskForbidden; admin sees it."""
    with pytest.raises(exceptions.TaskNotFound):
        repo.task_get(str(uuid.uuid4()))
    task = _task(repo, owner="p1")
    with pytest.raises(exceptions.TaskForbidden):
        repo.task_get(task["id"], owner="p2", is_admin=False)
    assert repo.task_get(task["id"], owner="p1", is_admin=False)["id"] == task["id"]


def test_update_compare_and_swap(repo):
    """from_state must match; the loser gets Conflict and nothing changes."""
    task = _task(repo)
    moved = repo.task_update(task["id"], {"status": "processing"}, from_state="pending")
    assert moved["status"] == "processing"
    with pytest.raises(exceptions.Conflict):
        repo.task_update(task["id"], {"status": "processing"}, from_state="pending")
    done = repo.task_update(task["id"], {"status": "success", "result": {"image_id": "i1"},
                                         "expires_at": "2030-01-01T00:00:00"},
                            from_state="processing")
    assert done["result"] == {"image_id": "i1"}
    assert done["expires_at"].startswith("2030-01-01T00:00:00")
    with pytest.raises(exceptions.TaskNotFound):
        repo.task_update(str(uuid.uuid4()), {"status": "failure"})


def test_delete_is_soft(repo):
    """A deleted task is gone for get, but its row remains (include_deleted)."""
    task = _task(repo)
    repo.task_delete(task["id"])
    with pytest.raises(exceptions.TaskNotFound):
        repo.task_get(task["id"])
    row = repo.task_get(task["id"], include_deleted=True)
    assert row["deleted"] is True and row["deleted_at"] is not None


def test_list_owner_filters_sort_and_paging(repo):
    """Non-admins list their own tasks; filters, sort and marker paging as Glance."""
    ids = [_task(repo, owner="p1", status=s)["id"] for s in ("pending", "success", "failure")]
    _task(repo, owner="p2")
    mine = repo.task_list(owner="p1", is_admin=False)
    assert sorted(t["id"] for t in mine) == sorted(ids)
    assert "input" not in mine[0]
    assert len(repo.task_list(owner="p1", is_admin=True)) == 4
    assert [t["id"] for t in repo.task_list(owner="p1", filters={"status": "success"})] \
        == [ids[1]]
    assert repo.task_list(owner="p1", filters={"nope": "x"}, is_admin=False) != []
    first = repo.task_list(owner="p1", limit=2, sort_dir="asc")
    rest = repo.task_list(owner="p1", limit=2, sort_dir="asc", marker=first[-1]["id"])
    assert [t["id"] for t in first + rest] == [
        t["id"] for t in repo.task_list(owner="p1", sort_dir="asc")]
    assert len(first + rest) == 3
    by_status = repo.task_list(owner="p1", sort_key="status", sort_dir="asc")
    assert [t["status"] for t in by_status] == ["failure", "pending", "success"]
    with pytest.raises(exceptions.InvalidSortKey):
        repo.task_list(sort_key="input")
    with pytest.raises(exceptions.TaskNotFound):
        repo.task_list(marker=str(uuid.uuid4()))


def test_tasks_for_image_visibility_and_expiry(repo):
    """Image tasks: the viewer's own, unexpired; expired ones are soft-deleted."""
    mine = _task(repo, owner="p1", image_id="img")
    _task(repo, owner="p2", image_id="img")
    _task(repo, owner="p1", image_id="other")
    past = (datetime.datetime.utcnow() - datetime.timedelta(hours=1)).isoformat()
    old = _task(repo, owner="p1", image_id="img", status="success", expires_at=past)
    assert [t["id"] for t in repo.tasks_for_image("img", owner="p1")] == [mine["id"]]
    assert repo.task_get(old["id"], include_deleted=True)["deleted"] is True
    assert len(repo.tasks_for_image("img", owner="x", is_admin=True)) == 2
    assert repo.tasks_for_image("img", owner="p1")[0]["input"] == {"image_id": "i1"}


def test_fail_unfinished(repo):
    """Only pending/processing tasks move to failure, each by compare-and-swap."""
    pending = _task(repo)
    processing = _task(repo, status="processing")
    done = _task(repo, status="success")
    assert {t["id"] for t in repo.tasks_unfinished()} == {pending["id"], processing["id"]}
    moved = repo.tasks_fail_unfinished([pending["id"], processing["id"], done["id"]],
                                       "interrupted", "2030-01-01T00:00:00")
    assert {t["id"] for t in moved} == {pending["id"], processing["id"]}
    assert all(t["status"] == "failure" and t["message"] == "interrupted" for t in moved)
    assert repo.task_get(done["id"])["status"] == "success"
    assert repo.tasks_unfinished() == []
    assert repo.tasks_unfinished(types=["import"]) == []
