"""The task repository: Glance's ``tasks`` and ``task_info`` tables as plain dicts.

A task dict is Glance's raw row (``glance.db.sqlalchemy.api._task_format``): ``id, type,
status, owner, expires_at, created_at, updated_at, deleted_at, deleted, image_id,
request_id, user_id`` and, except in lists, ``input, result, message`` (input and result
decoded from their JSON text). Timestamps are naive UTC isoformat with microseconds.
"""

import datetime
import json
import uuid

from sqlalchemy import and_, false, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from glance_db.retry import retry_on_deadlock
from glance_db import exceptions
from glance_db.engine import SQLITE_WRITE, utcnow
from glance_db.models import Task, TaskInfo
from glance_db.queries import isotime

tasks = Task.__table__
task_info = TaskInfo.__table__

TASK_COLUMNS = tuple(c.name for c in tasks.c)
INFO_KEYS = ("input", "result", "message")
SORT_KEYS = frozenset(TASK_COLUMNS) - {"deleted"}
_TIME_COLS = ("expires_at", "created_at", "updated_at", "deleted_at")
# Columns a caller may set; id, timestamps and deleted belong to the repository.
_WRITABLE = frozenset(("type", "status", "owner", "expires_at", "image_id", "request_id",
                       "user_id"))
UNFINISHED = ("pending", "processing")


def _parse_time(value):
    """Return ``value`` (an ISO 8601 string) as a naive UTC datetime.

    :raises: InvalidFilter when it is no time (the images repository's name for a value
        a column cannot hold).
    """
    if value is None or isinstance(value, datetime.datetime):
        return value
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise exceptions.InvalidFilter("Invalid time: %s" % value) from None
    return parsed


def _dump(value):
    return None if value is None else json.dumps(value)


def _load(text):
    return None if text is None else json.loads(text)


def _row_to_dict(row, with_info):
    m = row._mapping
    task = {key: m[key] for key in TASK_COLUMNS}
    for key in _TIME_COLS:
        task[key] = isotime(task[key])
    task["deleted"] = bool(task["deleted"])
    if with_info:
        task["input"] = _load(m["input"])
        task["result"] = _load(m["result"])
        task["message"] = m["message"]
    return task


def _full_select():
    return select(tasks, task_info.c.input, task_info.c.result, task_info.c.message) \
        .select_from(tasks.outerjoin(task_info, task_info.c.task_id == tasks.c.id))


def _visible(owner, is_admin):
    """Glance's _is_task_visible as SQL: admin, ownerless, or the viewer's own."""
    if is_admin:
        return true()
    if owner is None:
        return tasks.c.owner.is_(None)
    return or_(tasks.c.owner.is_(None), tasks.c.owner == owner)


class TaskRepo:
    """Tasks and their task_info rows, over one engine; one transaction per method."""

    def __init__(self, engine):
        """Serve tasks from ``engine`` (see glance_db.engine.create_engine)."""
        self._reader = engine
        self._writer = engine.execution_options(**{SQLITE_WRITE: True})
        self._dialect = engine.dialect.name

    def _now(self):
        return utcnow(self._dialect)

    def _get(self, conn, task_id, owner=None, is_admin=True, include_deleted=False):
        stmt = _full_select().where(tasks.c.id == task_id)
        if not include_deleted:
            stmt = stmt.where(tasks.c.deleted == false())
        row = conn.execute(stmt).first()
        if row is None:
            raise exceptions.TaskNotFound("Task with the given ID %s was not found." % task_id)
        task = _row_to_dict(row, True)
        if not (is_admin or task["owner"] is None or task["owner"] == owner):
            raise exceptions.TaskForbidden(
                "Forbidding request, task %s is not visible" % task_id)
        return task

    @retry_on_deadlock
    def task_create(self, values):
        """Create a task (and its task_info row); return it.

        ``values``: columns (``id`` picked when missing, ``status`` default pending) and
        ``input``/``result``/``message``.
        :raises: Duplicate when the id is taken.
        """
        now = self._now()
        cols = {k: v for k, v in values.items() if k in _WRITABLE}
        cols["expires_at"] = _parse_time(cols.get("expires_at"))
        cols.setdefault("status", "pending")
        cols.update(id=values.get("id") or str(uuid.uuid4()), created_at=now, updated_at=now,
                    deleted=False)
        info = {"task_id": cols["id"], "input": _dump(values.get("input")),
                "result": _dump(values.get("result")), "message": values.get("message")}
        with self._writer.begin() as conn:
            try:
                conn.execute(insert(tasks).values(**cols))
            except IntegrityError as exc:
                raise exceptions.Duplicate(
                    "Task with identifier %s already exists!" % cols["id"]) from exc
            conn.execute(insert(task_info).values(**info))
            return self._get(conn, cols["id"])

    def task_get(self, task_id, *, owner=None, is_admin=True, include_deleted=False):
        """Return one task with its input, result and message.

        :raises: TaskNotFound (missing or deleted), TaskForbidden (another owner's).
        """
        with self._reader.connect() as conn:
            return self._get(conn, task_id, owner, is_admin, include_deleted)

    @retry_on_deadlock
    def task_update(self, task_id, values, *, from_state=None):
        """Update columns and task_info; CAS on status when ``from_state`` is given.

        :raises: TaskNotFound, Conflict (lost compare-and-swap).
        """
        now = self._now()
        cols = {k: v for k, v in values.items() if k in _WRITABLE}
        if "expires_at" in cols:
            cols["expires_at"] = _parse_time(cols["expires_at"])
        cols["updated_at"] = now
        info = {k: (values[k] if k == "message" else _dump(values[k]))
                for k in INFO_KEYS if k in values}
        with self._writer.begin() as conn:
            stmt = update(tasks).where(tasks.c.id == task_id, tasks.c.deleted == false())
            if from_state is not None:
                stmt = stmt.where(tasks.c.status == from_state)
            if not conn.execute(stmt.values(**cols)).rowcount:
                current = self._get(conn, task_id)["status"]
                raise exceptions.Conflict(
                    "cannot transition task %s from %s to %s (wanted from_state=%s)"
                    % (task_id, current, cols.get("status", current), from_state))
            if info:
                conn.execute(update(task_info).where(task_info.c.task_id == task_id)
                             .values(**info))
            return self._get(conn, task_id)

    @retry_on_deadlock
    def task_delete(self, task_id):
        """Soft-delete a task; return it as it was before.

        :raises: TaskNotFound.
        """
        now = self._now()
        with self._writer.begin() as conn:
            before = self._get(conn, task_id)
            conn.execute(update(tasks).where(tasks.c.id == task_id)
                         .values(deleted=True, deleted_at=now, updated_at=now))
            return before

    def _expire(self, conn, owner, now):
        """Soft-delete the viewer's tasks past expires_at (Glance's _task_soft_delete)."""
        owner_is = tasks.c.owner.is_(None) if owner is None else tasks.c.owner == owner
        conn.execute(update(tasks).where(owner_is, tasks.c.deleted == false(),
                                         tasks.c.expires_at <= now)
                     .values(deleted=True, deleted_at=now))

    def task_list(self, *, owner=None, is_admin=False, filters=None, marker=None,
                  limit=None, sort_key="created_at", sort_dir="desc", deleted=False):
        """Return one page of task stubs (no input/result/message), Glance's task_get_all.

        ``filters``: {column: value}; names that are not task columns are ignored.
        :raises: InvalidSortKey, TaskNotFound (marker).
        """
        if sort_key not in SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise exceptions.InvalidSortKey("Sort key supplied was not valid.")
        now = self._now()
        with self._writer.begin() as conn:
            self._expire(conn, owner, now)
            stmt = select(tasks)
            if not is_admin and owner is not None:
                stmt = stmt.where(tasks.c.owner == owner)
            if deleted is not None:
                stmt = stmt.where(tasks.c.deleted == bool(deleted))
            for key, value in (filters or {}).items():
                if value is not None and key in TASK_COLUMNS and key != "deleted":
                    stmt = stmt.where(tasks.c[key] == value)
            keys = [sort_key] + [k for k in ("created_at", "id") if k != sort_key]
            if marker is not None:
                after = self._get(conn, marker, owner, is_admin, include_deleted=bool(deleted))
                stmt = stmt.where(_after(keys, sort_dir, after))
            desc = sort_dir == "desc"
            stmt = stmt.order_by(*[tasks.c[k].desc() if desc else tasks.c[k].asc()
                                   for k in keys])
            if limit is not None:
                stmt = stmt.limit(limit)
            return [_row_to_dict(r, False) for r in conn.execute(stmt)]

    def tasks_for_image(self, image_id, *, owner=None, is_admin=False):
        """Return the unexpired tasks of an image the viewer may see (Glance's
        tasks_get_by_image: full rows; an admin also sees deleted ones)."""
        now = self._now()
        with self._writer.begin() as conn:
            self._expire(conn, owner, now)
            stmt = _full_select().where(
                tasks.c.image_id == image_id,
                or_(tasks.c.expires_at.is_(None), tasks.c.expires_at >= now),
                _visible(owner, is_admin))
            if not is_admin:
                stmt = stmt.where(tasks.c.deleted == false())
            rows = conn.execute(stmt.order_by(tasks.c.created_at, tasks.c.id)).all()
            return [_row_to_dict(r, True) for r in rows]

    @retry_on_deadlock
    def tasks_fail_unfinished(self, ids, message, expires_at=None):
        """Move the tasks ``ids`` still pending/processing to failure with ``message``.

        Each move is a compare-and-swap on the status; return the tasks that moved.
        """
        now = self._now()
        moved = []
        with self._writer.begin() as conn:
            for task_id in ids:
                stmt = update(tasks).where(tasks.c.id == task_id,
                                           tasks.c.status.in_(UNFINISHED),
                                           tasks.c.deleted == false())
                values = {"status": "failure", "updated_at": now,
                          "expires_at": _parse_time(expires_at)}
                if conn.execute(stmt.values(**values)).rowcount:
                    conn.execute(update(task_info).where(task_info.c.task_id == task_id)
                                 .values(message=message))
                    moved.append(self._get(conn, task_id))
        return moved

    def tasks_unfinished(self, *, types=None):
        """Return the live pending/processing tasks (full rows), oldest first."""
        stmt = _full_select().where(tasks.c.status.in_(UNFINISHED), tasks.c.deleted == false())
        if types:
            stmt = stmt.where(tasks.c.type.in_(list(types)))
        with self._reader.connect() as conn:
            rows = conn.execute(stmt.order_by(tasks.c.created_at, tasks.c.id)).all()
            return [_row_to_dict(r, True) for r in rows]


def _after(keys, sort_dir, marker):
    """Rows strictly after ``marker`` in the (keys..., sort_dir) order (keyset paging)."""
    op = (lambda c, v: c < v) if sort_dir == "desc" else (lambda c, v: c > v)
    clauses = []
    for i, key in enumerate(keys):
        value = marker[key]
        if key in _TIME_COLS:
            value = _parse_time(value)
        eqs = [tasks.c[k] == _marker_value(k, marker) for k in keys[:i]]
        if value is None:
            # NOTE: NULLs sort first ascending (last descending) on most backends; rows
            # after a NULL marker key are the non-NULL ones in ascending order.
            if sort_dir == "asc":
                clauses.append(and_(*eqs, tasks.c[key].isnot(None)))
            continue
        clauses.append(and_(*eqs, op(tasks.c[key], value)))
    return or_(*clauses)


def _marker_value(key, marker):
    value = marker[key]
    return _parse_time(value) if key in _TIME_COLS else value
