"""Image members (sharing): one live row per (image, project).

Every write here first locks the image row (``lock_image``), so member writes of one image
run one after another on every backend (SQLite's BEGIN IMMEDIATE already serializes them).
Rows written by Glance 33, which takes no such lock, may still hold two live rows for one
member: reads show each member once and a delete removes them all.
"""

from sqlalchemy import delete, false, insert, select, update

from glance_db import exceptions
from glance_db.images import not_found as image_not_found
from glance_db.models import image_members as members, images
from glance_db.queries import member_row_to_dict

_LIVE = members.c.deleted == false()


def _not_found(image_id, member):
    return exceptions.MemberNotFound(
        "Member %s not found for image %s" % (member, image_id))


def lock_image(conn, image_id):
    """Lock the image row until the transaction ends; return whether the image is live.

    NOTE: it must be the transaction's first statement: on MariaDB (REPEATABLE READ) the
    snapshot later reads see is taken at the first plain read, so only then do they see
    what the previous lock holder committed.
    """
    # PERF: FOR NO KEY UPDATE on PostgreSQL (plain FOR UPDATE elsewhere) still lets other
    # transactions insert rows referencing the image, e.g. its properties, meanwhile.
    row = conn.execute(select(images.c.deleted).where(images.c.id == image_id)
                       .with_for_update(key_share=True)).first()
    return row is not None and not row.deleted


def list_members(conn, image_id, member=None):
    """Return the live member dicts of an image, optionally only ``member``'s."""
    stmt = select(members).where(members.c.image_id == image_id, _LIVE)
    if member is not None:
        stmt = stmt.where(members.c.member == member)
    first = {}
    for row in conn.execute(stmt.order_by(members.c.id)):
        # NOTE: the oldest of a member's duplicate live rows (Glance 33's) speaks for all.
        first.setdefault(row.member, row)
    return [member_row_to_dict(r) for r in first.values()]


def get_member(conn, image_id, member):
    """Return one live member dict or raise MemberNotFound."""
    found = list_members(conn, image_id, member)
    if not found:
        raise _not_found(image_id, member)
    return found[0]


def create_member(conn, image_id, member, can_share, now):
    """Insert a pending membership of a live image.

    :raises: ImageNotFound, Duplicate when a live membership exists.
    """
    if not lock_image(conn, image_id):
        raise image_not_found(image_id)
    # NOTE: the unique key includes deleted_at, which is NULL on every live row, and NULLs
    # never collide in a unique index; so the live-duplicate check is ours to make, under
    # the image lock.
    if list_members(conn, image_id, member):
        raise exceptions.Duplicate(
            "Member %s is duplicated for image %s" % (member, image_id))
    conn.execute(insert(members), {
        "image_id": image_id, "member": member, "can_share": bool(can_share),
        "status": "pending", "created_at": now, "updated_at": now, "deleted": False})
    return get_member(conn, image_id, member)


def update_member(conn, image_id, member, status, now):
    """Set the status of a live membership; raise MemberNotFound when absent."""
    lock_image(conn, image_id)
    # Every duplicate live row gets the status, so whichever one a reader meets agrees.
    res = conn.execute(update(members).where(
        members.c.image_id == image_id, members.c.member == member, _LIVE
    ).values(status=status, updated_at=now))
    if not res.rowcount:
        raise _not_found(image_id, member)
    return get_member(conn, image_id, member)


def delete_member(conn, image_id, member, now):
    """Soft-delete a live membership (all its live rows); raise MemberNotFound when absent."""
    lock_image(conn, image_id)
    if not _soft_delete(conn, image_id, now, member):
        raise _not_found(image_id, member)


def delete_all(conn, image_id, now):
    """Soft-delete every live membership of a destroyed image (whose row the caller locked)."""
    _soft_delete(conn, image_id, now)


def _soft_delete(conn, image_id, now, member=None):
    """Soft-delete the live memberships of an image (only ``member``'s when given).

    Return the number of members revoked.
    """
    where = [members.c.image_id == image_id, _LIVE]
    if member is not None:
        where.append(members.c.member == member)
    # NOTE: a locking read sees the latest committed rows even where image_destroy's
    # earlier plain read fixed a MariaDB snapshot before its UPDATE locked the image.
    rows = conn.execute(select(members.c.id, members.c.member).where(*where)
                        .order_by(members.c.id).with_for_update()).all()
    kept = {}
    for row in rows:
        kept.setdefault(row.member, row.id)
    # NOTE: the unique key (image_id, member, deleted_at) allows one tombstone per member
    # and deleted_at, which MariaDB stores in whole seconds. So a member's duplicate live
    # rows cannot all become tombstones of ``now``: one does, the others go. Likewise a
    # tombstone of this same ``now`` (an earlier delete within the second) makes way for
    # the new one; without that the delete failed and the image stayed shared.
    extra = [row.id for row in rows if kept[row.member] != row.id]
    if extra:
        conn.execute(delete(members).where(members.c.id.in_(extra)))
    if kept:
        conn.execute(delete(members).where(
            members.c.image_id == image_id, members.c.member.in_(list(kept)),
            members.c.deleted_at == now))
        conn.execute(update(members).where(members.c.id.in_(list(kept.values())))
                     .values(deleted=True, deleted_at=now, updated_at=now))
    return len(kept)
