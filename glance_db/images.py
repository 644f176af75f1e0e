"""Write side of the image repository: create, update (compare-and-swap), destroy, tags."""

import json
import uuid

from sqlalchemy import false, insert, select, true, update

from glance_db import exceptions
from glance_db.models import (
    image_locations as locs, image_properties as props, image_tags as tags, images,
)
from glance_db.queries import IMAGE_COLUMNS

_WRITABLE = frozenset(IMAGE_COLUMNS) - {"id", "created_at", "deleted", "deleted_at"}
_CHILD_KEYS = ("properties", "tags", "locations")


def image_columns(values):
    """Split the images-table columns out of ``values``; reject unknown keys."""
    cols = {}
    for key, value in values.items():
        if key in _CHILD_KEYS:
            continue
        if key not in _WRITABLE and key != "id":
            raise exceptions.InvalidFilter("Unknown image attribute: %s" % key)
        cols[key] = value
    return cols


def insert_image(conn, values, now):
    """Insert an image row with Glance's defaults; return its id."""
    row = {"visibility": "shared", "status": "queued", "min_ram": 0, "min_disk": 0,
           "protected": False, "os_hidden": False}
    row.update(image_columns(values))
    row["id"] = row.get("id") or str(uuid.uuid4())
    row.update(created_at=now, updated_at=now, deleted=False, deleted_at=None)
    row["min_ram"] = row["min_ram"] or 0
    row["min_disk"] = row["min_disk"] or 0
    conn.execute(insert(images), row)
    return row["id"]


def not_found(image_id):
    """Return the ImageNotFound error for ``image_id``."""
    return exceptions.ImageNotFound("No image found with ID %s" % image_id)


def cas_update(conn, image_id, cols, from_state, now):
    """UPDATE the image row, only from ``from_state`` when given.

    :raises: ImageNotFound when missing or deleted, Conflict when the status differs.
    """
    cols = dict(cols, updated_at=now)
    stmt = update(images).where(images.c.id == image_id, images.c.deleted == false())
    if from_state is not None:
        stmt = stmt.where(images.c.status == from_state)
    if conn.execute(stmt.values(**cols)).rowcount:
        return
    raise_lost(conn, image_id, cols.get("status"), from_state)


def raise_lost(conn, image_id, new_status, from_state):
    """Raise why an UPDATE of the image matched no row: ImageNotFound or Conflict.

    NOTE: a locking read: on MariaDB (REPEATABLE READ) a plain one would see the snapshot
    of the transaction's first read, so an image another transaction deleted meanwhile
    would still look live (a Conflict naming a stale status instead of ImageNotFound).
    """
    current = conn.execute(
        select(images.c.status).where(images.c.id == image_id, images.c.deleted == false())
        .with_for_update(read=True)
    ).scalar()
    if current is None:
        raise not_found(image_id)
    raise exceptions.Conflict(
        "cannot transition from %s to %s in update (wanted from_state=%s)"
        % (current, new_status or current, from_state))


def set_properties(conn, image_id, new, purge, now):
    """Merge (or with ``purge`` replace) the image's properties."""
    # NOTE: the unique key (image_id, name) also covers soft-deleted rows, so a deleted
    # property is brought back to life rather than inserted again (as Glance does).
    existing = {r.name: r for r in conn.execute(
        select(props.c.id, props.c.name, props.c.value, props.c.deleted)
        .where(props.c.image_id == image_id))}
    for name, value in new.items():
        value = None if value is None else str(value)
        row = existing.get(name)
        if row is None:
            conn.execute(insert(props), {"image_id": image_id, "name": name, "value": value,
                                         "created_at": now, "updated_at": now,
                                         "deleted": False})
        elif row.deleted or row.value != value:
            conn.execute(update(props).where(props.c.id == row.id).values(
                value=value, deleted=False, deleted_at=None, updated_at=now))
    if purge:
        gone = [r.id for name, r in existing.items() if name not in new and not r.deleted]
        if gone:
            conn.execute(update(props).where(props.c.id.in_(gone)).values(
                deleted=True, deleted_at=now, updated_at=now))


def set_tags(conn, image_id, new, now):
    """Replace the image's live tags by ``new`` (kept in given order)."""
    live = {r.value: r.id for r in conn.execute(
        select(tags.c.id, tags.c.value)
        .where(tags.c.image_id == image_id, tags.c.deleted == false()))}
    wanted = list(dict.fromkeys(new))
    gone = [row_id for value, row_id in live.items() if value not in wanted]
    if gone:
        conn.execute(update(tags).where(tags.c.id.in_(gone)).values(
            deleted=True, deleted_at=now, updated_at=now))
    added = [{"image_id": image_id, "value": t, "created_at": now, "updated_at": now,
              "deleted": False} for t in wanted if t not in live]
    if added:
        conn.execute(insert(tags), added)


def add_tag(conn, image_id, tag, now):
    """Add one tag unless present; return True when a row was added."""
    found = conn.execute(select(tags.c.id).where(
        tags.c.image_id == image_id, tags.c.value == tag, tags.c.deleted == false())).first()
    if found:
        return False
    conn.execute(insert(tags), {"image_id": image_id, "value": tag, "created_at": now,
                                "updated_at": now, "deleted": False})
    return True


def delete_tag(conn, image_id, tag, now):
    """Soft-delete one live tag; raise TagNotFound when absent."""
    res = conn.execute(update(tags).where(
        tags.c.image_id == image_id, tags.c.value == tag, tags.c.deleted == false()
    ).values(deleted=True, deleted_at=now, updated_at=now))
    if not res.rowcount:
        raise exceptions.TagNotFound("Tag %s not found" % tag)


def _loc_row(image_id, loc, now):
    return {"image_id": image_id, "value": loc["url"],
            "meta_data": json.dumps(loc.get("metadata") or {}),
            "status": loc.get("status") or "active", "created_at": now, "updated_at": now,
            "deleted": False}


def set_locations(conn, image_id, new, now):
    """Replace the image's live locations: keep matching ones, add new, delete the rest."""
    live = {r.id: r for r in conn.execute(
        select(locs.c.id, locs.c.value).where(locs.c.image_id == image_id,
                                              locs.c.deleted == false()))}
    by_url = {r.value: r.id for r in live.values()}
    kept = set()
    for loc in new:
        row_id = loc.get("id") if loc.get("id") in live else by_url.get(loc["url"])
        if row_id is None or row_id in kept:
            conn.execute(insert(locs), _loc_row(image_id, loc, now))
            continue
        kept.add(row_id)
        conn.execute(update(locs).where(locs.c.id == row_id).values(
            value=loc["url"], meta_data=json.dumps(loc.get("metadata") or {}),
            status=loc.get("status") or "active", updated_at=now))
    gone = [row_id for row_id in live if row_id not in kept]
    if gone:
        conn.execute(update(locs).where(locs.c.id.in_(gone)).values(
            deleted=True, deleted_at=now, updated_at=now, status="deleted"))
    active = [loc["url"] for loc in new if (loc.get("status") or "active") == "active"]
    if active:
        # NOTE: data queued for deletion (an upload's reservation, a location removed
        # with delayed_delete) that is now a live location again must not be scrubbed.
        conn.execute(update(locs).where(
            locs.c.image_id == image_id, locs.c.deleted == true(),
            locs.c.status == "pending_delete", locs.c.value.in_(active)).values(
            status="deleted", updated_at=now))


def insert_children(conn, image_id, values, now):
    """Insert the properties, tags and locations given with a new image."""
    if values.get("properties"):
        set_properties(conn, image_id, values["properties"], False, now)
    if values.get("tags"):
        set_tags(conn, image_id, values["tags"], now)
    for loc in values.get("locations") or ():
        conn.execute(insert(locs), _loc_row(image_id, loc, now))


def soft_delete_children(conn, image_id, location_status, now):
    """Soft-delete every child row of a destroyed image."""
    for table in (props, tags):
        conn.execute(update(table).where(table.c.image_id == image_id,
                                         table.c.deleted == false())
                     .values(deleted=True, deleted_at=now, updated_at=now))
    conn.execute(update(locs).where(locs.c.image_id == image_id, locs.c.deleted == false())
                 .values(deleted=True, deleted_at=now, updated_at=now, status=location_status))


def mark_destroyed(conn, image_id, status, from_state, now):
    """CAS the image row to deleted; raise ImageNotFound/Conflict when it loses."""
    stmt = update(images).where(images.c.id == image_id, images.c.deleted == false())
    if from_state is not None:
        stmt = stmt.where(images.c.status == from_state)
    res = conn.execute(stmt.values(deleted=true(), deleted_at=now, updated_at=now,
                                   status=status))
    if not res.rowcount:
        raise_lost(conn, image_id, status, from_state)
