"""Image members (sharing): one live row per (image, project)."""

from sqlalchemy import false, insert, select, update

from glance_db import exceptions
from glance_db.models import image_members as members
from glance_db.queries import member_row_to_dict

_LIVE = members.c.deleted == false()


def _not_found(image_id, member):
    return exceptions.MemberNotFound(
        "Member %s not found for image %s" % (member, image_id))


def list_members(conn, image_id, member=None):
    """Return the live member dicts of an image, optionally only ``member``'s."""
    stmt = select(members).where(members.c.image_id == image_id, _LIVE)
    if member is not None:
        stmt = stmt.where(members.c.member == member)
    return [member_row_to_dict(r) for r in conn.execute(stmt.order_by(members.c.id))]


def get_member(conn, image_id, member):
    """Return one live member dict or raise MemberNotFound."""
    found = list_members(conn, image_id, member)
    if not found:
        raise _not_found(image_id, member)
    return found[0]


def create_member(conn, image_id, member, can_share, now):
    """Insert a pending membership; raise Duplicate when a live one exists."""
    # NOTE: the unique key includes deleted_at, which is NULL on every live row, and NULLs
    # never collide in a unique index; so the live-duplicate check is ours to make.
    if list_members(conn, image_id, member):
        raise exceptions.Duplicate(
            "Member %s is duplicated for image %s" % (member, image_id))
    conn.execute(insert(members), {
        "image_id": image_id, "member": member, "can_share": bool(can_share),
        "status": "pending", "created_at": now, "updated_at": now, "deleted": False})
    return get_member(conn, image_id, member)


def update_member(conn, image_id, member, status, now):
    """Set the status of a live membership; raise MemberNotFound when absent."""
    res = conn.execute(update(members).where(
        members.c.image_id == image_id, members.c.member == member, _LIVE
    ).values(status=status, updated_at=now))
    if not res.rowcount:
        raise _not_found(image_id, member)
    return get_member(conn, image_id, member)


def delete_member(conn, image_id, member, now):
    """Soft-delete a live membership; raise MemberNotFound when absent."""
    res = conn.execute(update(members).where(
        members.c.image_id == image_id, members.c.member == member, _LIVE
    ).values(deleted=True, deleted_at=now, updated_at=now))
    if not res.rowcount:
        raise _not_found(image_id, member)


def delete_all(conn, image_id, now):
    """Soft-delete every live membership of a destroyed image."""
    conn.execute(update(members).where(members.c.image_id == image_id, _LIVE)
                 .values(deleted=True, deleted_at=now, updated_at=now))
