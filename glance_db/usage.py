"""A project's resource usage, as Glance's quota code counts it (glance.db.sqlalchemy.api).

Four figures, each one SQL statement, summed in the database:

- ``image_size_total``: bytes of the owner's images (size > 0, status not killed, deleted or
  pending_delete), each counted once per location that is not ``deleted``
  (``_image_get_disk_usage_by_owner``; ``image_id`` leaves one image out, as when its own
  upload is being checked);
- ``image_stage_total``: bytes of images uploading or importing, plus copies in progress
  (a non-empty ``os_glance_importing_to_stores``) of images in any other live status;
- ``image_count_total``: the owner's images not killed, deleted or pending_delete;
- ``image_count_uploading``: images saving, uploading or importing, plus copies in progress.
"""

from sqlalchemy import and_, exists, func, select

from glance_db.models import Image, ImageLocation, ImageProperty

images = Image.__table__
locations = ImageLocation.__table__
props = ImageProperty.__table__

NAMES = ("image_size_total", "image_stage_total", "image_count_total",
         "image_count_uploading")
_GONE = ("killed", "deleted", "pending_delete")
_UPLOADING = ("saving", "uploading", "importing")


def _copying():
    """An image with a copy to other stores in progress (Glance's props subquery)."""
    return exists().where(and_(
        props.c.image_id == images.c.id,
        props.c.name == "os_glance_importing_to_stores",
        props.c.value != "",
        # NOTE: Glance's subquery does not look at deleted; neither do we.
    ))


def _storage(owner, image_id):
    live_locations = (select(func.count()).select_from(locations)
                      .where(locations.c.image_id == images.c.id,
                             locations.c.status != "deleted")
                      .scalar_subquery())
    where = [images.c.owner == owner, images.c.size > 0, images.c.status.notin_(_GONE)]
    if image_id is not None:
        where.append(images.c.id != image_id)
    return select(func.coalesce(func.sum(images.c.size * live_locations), 0)).where(*where)


def _staging(owner):
    importing = and_(images.c.status.in_(("uploading", "importing")))
    copying = and_(images.c.status.notin_(("uploading", "importing") + _GONE), _copying())
    return select(func.coalesce(func.sum(images.c.size), 0)).where(
        images.c.owner == owner, images.c.size > 0, importing | copying)


def _count(owner):
    return select(func.count()).select_from(images).where(
        images.c.owner == owner, images.c.status.notin_(_GONE))


def _uploading(owner):
    copying = and_(images.c.status.notin_(_UPLOADING + _GONE), _copying())
    return select(func.count()).select_from(images).where(
        images.c.owner == owner, images.c.status.in_(_UPLOADING) | copying)


class UsageRepo:
    """Usage figures of one owner, read through ``engine``."""

    def __init__(self, engine):
        self._engine = engine

    def usage(self, owner, names=NAMES, image_id=None):
        """Return {name: int} for each of ``names`` (bytes or counts, see the module doc).

        ``image_id`` is left out of ``image_size_total``.
        """
        statements = {
            "image_size_total": lambda: _storage(owner, image_id),
            "image_stage_total": lambda: _staging(owner),
            "image_count_total": lambda: _count(owner),
            "image_count_uploading": lambda: _uploading(owner),
        }
        with self._engine.connect() as conn:
            return {name: int(conn.execute(statements[name]()).scalar() or 0)
                    for name in names if name in statements}
