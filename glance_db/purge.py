"""``glance-manage db purge`` and ``db purge_images_table`` (Glance's purge_deleted_rows).

Hard-deletes soft-deleted rows whose ``deleted_at`` is older than ``age_in_days``, at most
``max_rows`` per table (-1: all), oldest first. ``purge`` does every soft-delete table but
``images`` (task_info rows of purged tasks first, then the children, then tasks);
``purge_images_table`` does ``images`` alone, whose ids could otherwise be reused
(OSSN-0075). A deleted image whose child rows are still there (a smaller ``max_rows``, a
younger child, data the scrubber has yet to delete) is kept until a later run, instead of
failing on the foreign key as Glance does.
"""

import datetime

from sqlalchemy import and_, delete, exists, select

from glance_db import models

MAX_INT = 2 ** 31 - 1
BATCH = 500

# Children before parents (foreign keys); images only in purge_images_table.
_TABLES = ("image_properties", "image_tags", "image_locations", "image_members",
           "tasks")
# Tables whose rows hold a foreign key to images.id.
_IMAGE_CHILDREN = ("image_properties", "image_tags", "image_locations", "image_members")


class PurgeError(Exception):
    """The arguments are out of range; the message is Glance's."""


def check_args(age_in_days, max_rows, now=None):
    """Validate as Glance's glance-manage does.

    :raises: PurgeError
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if age_in_days < 0:
        raise PurgeError("Must supply a non-negative value for age.")
    if age_in_days >= int(now.timestamp()) / 86400:
        raise PurgeError("Maximal age is count of days since epoch.")
    if max_rows < -1:
        raise PurgeError("Minimal rows limit is -1.")
    if max_rows > MAX_INT:
        raise PurgeError("'max_rows' value out of range, must not exceed %d." % MAX_INT)


def _cutoff(age_in_days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now - datetime.timedelta(days=age_in_days)


def _ids(table, where, max_rows, conn):
    stmt = select(table.c.id).where(*where).order_by(table.c.deleted_at, table.c.id)
    if max_rows != -1:
        stmt = stmt.limit(max_rows)
    return [row[0] for row in conn.execute(stmt)]


def _delete_ids(conn, table, ids, progress=None):
    done = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        done += conn.execute(delete(table).where(table.c.id.in_(chunk))).rowcount
        if progress:
            progress(table.name, done, len(ids))
    if progress and not ids:
        progress(table.name, 0, 0)
    return done


def purge(engine, age_in_days=30, max_rows=100, progress=None):
    """Purge every soft-deleted table but images; return {table: rows deleted}.

    ``progress(table, done, total)`` is called after each batch of a table.
    """
    check_args(age_in_days, max_rows)
    cutoff = _cutoff(age_in_days)
    meta = models.Base.metadata
    tasks, task_info = meta.tables["tasks"], meta.tables["task_info"]
    done = {}
    with engine.begin() as conn:
        # task_info rows have no deleted column: they go with their purged task.
        task_ids = _ids(tasks, [tasks.c.deleted_at < cutoff], max_rows, conn)
        rows = 0
        for start in range(0, len(task_ids), BATCH):
            rows += conn.execute(delete(task_info).where(
                task_info.c.task_id.in_(task_ids[start:start + BATCH]))).rowcount
            if progress:
                progress("task_info", min(start + BATCH, len(task_ids)), len(task_ids))
        if progress and not task_ids:
            progress("task_info", 0, 0)
        done["task_info"] = rows
        for name in _TABLES:
            table = meta.tables[name]
            where = [table.c.deleted_at < cutoff]
            if name == "image_locations":
                # NOTE: a pending_delete location is the scrubber's queue: its data is
                # still in a store (not in Glance, which loses track of it here).
                where.append(table.c.status != "pending_delete")
            ids = _ids(table, where, max_rows, conn)
            if name == "tasks":
                # NOTE: only tasks whose task_info is gone (purged above or never made).
                ids = [i for i in ids if conn.execute(select(task_info.c.task_id).where(
                    task_info.c.task_id == i)).first() is None]
            done[name] = _delete_ids(conn, table, ids, progress)
    return done


def purge_images_table(engine, age_in_days=180, max_rows=100, progress=None):
    """Purge soft-deleted images with no child rows left; return {"images": rows}."""
    check_args(age_in_days, max_rows)
    cutoff = _cutoff(age_in_days)
    meta = models.Base.metadata
    images = meta.tables["images"]
    no_children = [~exists().where(meta.tables[name].c.image_id == images.c.id)
                   for name in _IMAGE_CHILDREN]
    with engine.begin() as conn:
        ids = _ids(images, [and_(images.c.deleted_at < cutoff, *no_children)], max_rows,
                   conn)
        rows = _delete_ids(conn, images, ids, progress)
    return {"images": rows}
