"""The scrub queue: image data waiting to be deleted from the stores.

A location row with ``status = 'pending_delete'`` (and ``deleted = 1``) names bytes that no
image uses any more and that a store still holds. Glance makes such rows when an image is
deleted with ``delayed_delete``; this service also makes them:

- as an *upload reservation*: before a byte is written, the api records the URL the new
  object will have (``reserve``). A successful upload turns the reservation into the active
  location in the same transaction that activates the image (glance_db.images
  .set_locations); a failed one deletes its bytes and then ``release``\\ s it. If the api
  died, or the store could not be reached to delete, the reservation stays queued here.
- when a location removed by PATCH could not be deleted at once.

``jobs`` returns what the scrubber (glance_api.cli.scrubber) should delete: the pending_delete
locations of deleted images older than ``scrub_time`` (Glance's queue), those of uploads
that stalled (image in ``saving`` and not touched for ``stall_time``; the uploader renews
``updated_at`` while it streams), and any other pending_delete location older than
``scrub_time`` of an image that is not uploading. A URL that a live location of any image
uses is never returned.
"""

import datetime
import json

from sqlalchemy import and_, exists, false, insert, not_, select, true, update

from glance_db.retry import retry_on_deadlock
from glance_db import exceptions
from glance_db.engine import SQLITE_WRITE, utcnow
from glance_db.models import image_locations as locs, images

_RESERVED = "pending_delete"
# Values an upload that never finished leaves behind on its image (as a failed upload's
# roll-back in glance_api.data.uploads).
_ROLLBACK = {"status": "queued", "size": None, "virtual_size": None, "checksum": None,
             "os_hash_algo": None, "os_hash_value": None}


class ScrubRepo:
    """Reservations and the scrub queue, over one engine."""

    def __init__(self, engine):
        self._engine = engine
        self._writer = engine.execution_options(**{SQLITE_WRITE: True})
        self._dialect = engine.dialect.name

    def _now(self):
        return utcnow(self._dialect)

    @retry_on_deadlock
    def reserve(self, image_id, url, metadata):
        """Record that ``url`` is about to be written for ``image_id``; return the row id.

        :raises: ImageNotFound when the image is gone.
        """
        now = self._now()
        with self._writer.begin() as conn:
            found = conn.execute(select(images.c.id).where(
                images.c.id == image_id, images.c.deleted == false())).first()
            if found is None:
                raise exceptions.ImageNotFound("No image found with ID %s" % image_id)
            result = conn.execute(insert(locs).values(
                image_id=image_id, value=url, meta_data=json.dumps(metadata or {}),
                status=_RESERVED, created_at=now, updated_at=now, deleted=True,
                deleted_at=now))
            return result.inserted_primary_key[0]

    @retry_on_deadlock
    def release(self, location_id):
        """Mark a pending_delete location's data gone (idempotent)."""
        now = self._now()
        with self._writer.begin() as conn:
            conn.execute(update(locs).where(locs.c.id == location_id,
                                            locs.c.status == _RESERVED)
                         .values(status="deleted", deleted=True, updated_at=now))

    def jobs(self, scrub_time, stall_time, limit=1000):
        """Return the scrub queue: ``[{image_id, image_status, kind, locations: [...]}]``.

        ``kind`` is ``deleted_image`` (Glance's: finish by marking the image deleted),
        ``stalled_upload`` (roll the image back to queued) or ``location``.
        """
        now = self._now()
        scrub_cutoff = now - datetime.timedelta(seconds=max(0, scrub_time))
        live = locs.alias("live")
        in_use = exists().where(live.c.value == locs.c.value, live.c.deleted == false(),
                                live.c.status == "active")
        stalled = and_(images.c.status == "saving", images.c.deleted == false())
        if stall_time and stall_time > 0:
            stall_cutoff = now - datetime.timedelta(seconds=stall_time)
            stalled = and_(stalled, images.c.updated_at <= stall_cutoff)
        else:
            stalled = false()
        deleted_image = and_(images.c.deleted == true(), images.c.status == "pending_delete",
                             images.c.deleted_at <= scrub_cutoff)
        other = and_(images.c.status != "saving", not_(deleted_image),
                     locs.c.deleted_at <= scrub_cutoff)
        stmt = (select(images.c.id, images.c.status, images.c.deleted, locs.c.id.label("lid"),
                       locs.c.value, locs.c.meta_data)
                .select_from(images.outerjoin(locs, and_(
                    locs.c.image_id == images.c.id, locs.c.status == _RESERVED)))
                .where(((locs.c.id.is_not(None) & not_(in_use)) & (deleted_image | other))
                       | stalled)
                .order_by(images.c.id, locs.c.id).limit(limit))
        jobs = {}
        with self._engine.connect() as conn:
            for row in conn.execute(stmt):
                if row.status == "saving" and not row.deleted:
                    kind = "stalled_upload"
                elif row.deleted and row.status == "pending_delete":
                    kind = "deleted_image"
                else:
                    kind = "location"
                job = jobs.setdefault(row.id, {"image_id": row.id, "image_status": row.status,
                                               "kind": kind, "locations": []})
                if row.lid is not None and not self._used(conn, row.value):
                    job["locations"].append({"id": row.lid, "url": row.value,
                                             "metadata": json.loads(row.meta_data or "{}")})
        return list(jobs.values())

    @staticmethod
    def _used(conn, url):
        return conn.execute(select(locs.c.id).where(
            locs.c.value == url, locs.c.deleted == false(),
            locs.c.status == "active").limit(1)).first() is not None

    @retry_on_deadlock
    def finish(self, image_id, kind):
        """Close a job whose data is all gone; return the image's new status or None.

        ``deleted_image``: pending_delete → deleted. ``stalled_upload``: saving → queued
        with the data attributes cleared, only if it still has no live location. A lost
        compare-and-swap (restored, or the upload finished meanwhile) changes nothing.
        """
        now = self._now()
        with self._writer.begin() as conn:
            if kind == "deleted_image":
                res = conn.execute(update(images).where(
                    images.c.id == image_id, images.c.deleted == true(),
                    images.c.status == "pending_delete").values(status="deleted",
                                                                 updated_at=now))
                return "deleted" if res.rowcount else None
            if kind == "stalled_upload":
                has_live = exists().where(locs.c.image_id == images.c.id,
                                          locs.c.deleted == false())
                res = conn.execute(update(images).where(
                    images.c.id == image_id, images.c.deleted == false(),
                    images.c.status == "saving", not_(has_live))
                    .values(updated_at=now, **_ROLLBACK))
                return "queued" if res.rowcount else None
        return None

    @retry_on_deadlock
    def restore(self, image_id):
        """pending_delete → active (Glance's image_restore), with the locations it had.

        :raises: ImageNotFound, Conflict (not pending_delete)
        """
        now = self._now()
        with self._writer.begin() as conn:
            row = conn.execute(select(images.c.status, images.c.deleted_at).where(
                images.c.id == image_id)).first()
            if row is None:
                raise exceptions.ImageNotFound("No image found with ID %s" % image_id)
            if row.status != "pending_delete":
                raise exceptions.Conflict(
                    "cannot restore the image from %s to active (wanted "
                    "from_state=pending_delete)" % row.status)
            conn.execute(update(images).where(images.c.id == image_id).values(
                status="active", deleted=False, deleted_at=None, updated_at=now))
            # NOTE: the locations the delete marked (same deleted_at as the image), not
            # reservations of failed uploads, which hold no usable data.
            conn.execute(update(locs).where(locs.c.image_id == image_id,
                                            locs.c.status == _RESERVED,
                                            locs.c.deleted_at == row.deleted_at)
                         .values(status="active", deleted=False, deleted_at=None,
                                 updated_at=now))

