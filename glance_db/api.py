"""The image repository: the one DB API of internals §2 (plain dicts in and out)."""


from sqlalchemy import bindparam, false, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from glance_db.retry import retry_on_deadlock, retry_read
from glance_db import exceptions, images as writes, members
from glance_db.engine import SQLITE_WRITE, reader_for, utcnow
from glance_db.listing import (
    build_list, check_sort, has_owner_walk, marker_row, plain_list,
)
from glance_db.models import image_tags
from glance_db.rawget import RawGet
from glance_db.queries import (
    get_with_children_stmt, image_from_joined_rows, image_row_to_dict, load_children,
    show_visibility,
)


def _get_stmt(is_admin, include_deleted):
    visibility = None if is_admin else show_visibility(bindparam("project_id"), False)
    return get_with_children_stmt(visibility, include_deleted)


# PERF: image_get is the hottest path: one round trip (image LEFT JOIN its children), and
# its four statement shapes are built once.
_GET = {(a, d): _get_stmt(a, d) for a in (False, True) for d in (False, True)}


class ImageRepo:
    """Images, their properties/tags/locations and members, over one engine."""

    def __init__(self, engine):
        """Serve images from ``engine`` (see glance_db.engine.create_engine)."""
        self._engine = engine
        self._reader = reader_for(engine)
        self._writer = engine.execution_options(**{SQLITE_WRITE: True})
        self._dialect = engine.dialect.name
        self._raw_get = RawGet(self._reader, _GET) if self._dialect != "sqlite" else None
        self._owner_walk = None if self._dialect == "mysql" else False   # listing.OWNER_WALK

    def _now(self):
        return utcnow(self._dialect)

    def _fetch(self, conn, image_id, project_id=None, is_admin=True, include_deleted=False):
        rows = conn.execute(_GET[(bool(is_admin), bool(include_deleted))],
                            {"image_id": image_id, "project_id": project_id}).all()
        image = image_from_joined_rows(rows)
        if image is None:
            raise writes.not_found(image_id)
        return image

    @retry_on_deadlock
    def image_create(self, values):
        """Create an image (with properties, tags, locations); return it.

        :raises: Duplicate when the id is taken.
        """
        now = self._now()
        with self._writer.begin() as conn:
            try:
                image_id = writes.insert_image(conn, values, now)
            except IntegrityError as exc:
                raise exceptions.Duplicate(
                    "Image with identifier %s already exists!" % values.get("id")) from exc
            writes.insert_children(conn, image_id, values, now)
            return self._fetch(conn, image_id)

    def _read(self, fn):
        """Run ``fn(conn)`` on a read connection, once more if the server had dropped it."""
        try:
            with self._reader.connect() as conn:
                return fn(conn)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        with self._reader.connect() as conn:
            return fn(conn)

    @retry_read
    def image_get(self, image_id, *, project_id=None, is_admin=True, include_deleted=False):
        """Return one image the viewer may see.

        :raises: ImageNotFound when missing, deleted or invisible.
        """
        if self._raw_get is None:
            return self._read(lambda conn: self._fetch(
                conn, image_id, project_id, is_admin, include_deleted))
        rows = self._raw_get.rows((bool(is_admin), bool(include_deleted)),
                                  {"image_id": image_id, "project_id": project_id})
        image = image_from_joined_rows(rows)
        if image is None:
            raise writes.not_found(image_id)
        return image

    @retry_read
    def image_list(self, *, project_id=None, is_admin=False, filters=None, tags=None,
                   visibility=None, member_status="accepted", os_hidden=None, marker=None,
                   limit=None, sort=None):
        """Return one page of the images the viewer may list (internals §2.1)."""
        query = {"project_id": project_id, "is_admin": is_admin, "filters": filters,
                 "tags": tags, "visibility": visibility, "member_status": member_status,
                 "os_hidden": os_hidden, "limit": limit, "sort": check_sort(sort)}
        if limit is not None and limit <= 0:
            return []

        def page_of(conn):
            if self._owner_walk is None:
                self._owner_walk = has_owner_walk(conn)
            query["owner_walk"] = self._owner_walk
            if marker or filters or tags:
                after = marker_row(conn, marker, project_id, is_admin) if marker else None
                stmt, params = build_list(query, self._dialect, after), {}
            else:
                stmt, params = plain_list(query, self._dialect)
            rows = conn.execute(stmt, params).all()
            page = [image_row_to_dict(r) for r in rows]
            load_children(conn, {i["id"]: i for i in page})
            return page
        return self._read(page_of)

    @retry_on_deadlock
    def image_update(self, image_id, values, *, from_state=None, purge_props=False):
        """Update columns and children; CAS on status when ``from_state`` is given.

        :raises: ImageNotFound, Conflict (lost compare-and-swap).
        """
        now = self._now()
        cols = writes.image_columns(values)
        cols.pop("id", None)
        with self._writer.begin() as conn:
            writes.cas_update(conn, image_id, cols, from_state, now)
            if "properties" in values:
                writes.set_properties(conn, image_id, values["properties"] or {},
                                      purge_props, now)
            elif purge_props:
                writes.set_properties(conn, image_id, {}, True, now)
            if "tags" in values:
                writes.set_tags(conn, image_id, values["tags"] or [], now)
            if "locations" in values:
                writes.set_locations(conn, image_id, values["locations"] or [], now)
            return self._fetch(conn, image_id)

    @retry_on_deadlock
    def image_destroy(self, image_id, *, from_state=None, status="deleted"):
        """Soft-delete an image and its children; return it as it was before.

        ``status`` may be ``pending_delete`` (delayed delete): its locations are then
        marked ``pending_delete`` for the scrubber.
        :raises: ImageNotFound, Conflict (lost compare-and-swap).
        """
        now = self._now()
        loc_status = "pending_delete" if status == "pending_delete" else "deleted"
        with self._writer.begin() as conn:
            before = self._fetch(conn, image_id)
            writes.mark_destroyed(conn, image_id, status, from_state, now)
            writes.soft_delete_children(conn, image_id, loc_status, now)
            members.delete_all(conn, image_id, now)
        return before

    @retry_on_deadlock
    def image_tag_add(self, image_id, tag):
        """Add a tag to a live image (idempotent).

        :raises: ImageNotFound.
        """
        now = self._now()
        with self._writer.begin() as conn:
            writes.cas_update(conn, image_id, {}, None, now)
            writes.add_tag(conn, image_id, tag, now)

    @retry_on_deadlock
    def image_tag_delete(self, image_id, tag):
        """Remove a tag from a live image.

        :raises: ImageNotFound, TagNotFound.
        """
        now = self._now()
        with self._writer.begin() as conn:
            writes.cas_update(conn, image_id, {}, None, now)
            writes.delete_tag(conn, image_id, tag, now)

    @retry_read
    def image_tag_count(self, image_id):
        """Return the number of live tags of an image."""
        t = image_tags
        return self._read(lambda conn: conn.execute(select(func.count()).where(
            t.c.image_id == image_id, t.c.deleted == false())).scalar_one())

    @retry_read
    def member_list(self, image_id, *, member=None):
        """Return the live members of an image (only ``member``'s when given)."""
        return self._read(lambda conn: members.list_members(conn, image_id, member))

    @retry_on_deadlock
    def member_create(self, image_id, member, can_share=False):
        """Share a live image with project ``member`` (status pending).

        :raises: ImageNotFound, Duplicate.
        """
        now = self._now()
        with self._writer.begin() as conn:
            return members.create_member(conn, image_id, member, can_share, now)

    @retry_read
    def member_get(self, image_id, member):
        """Return the live membership of ``member``.

        :raises: MemberNotFound.
        """
        return self._read(lambda conn: members.get_member(conn, image_id, member))

    @retry_on_deadlock
    def member_update(self, image_id, member, status):
        """Set a membership's status.

        :raises: MemberNotFound.
        """
        with self._writer.begin() as conn:
            return members.update_member(conn, image_id, member, status, self._now())

    @retry_on_deadlock
    def member_delete(self, image_id, member):
        """Soft-delete a membership (every live row of it).

        :raises: MemberNotFound.
        """
        with self._writer.begin() as conn:
            members.delete_member(conn, image_id, member, self._now())
