"""The image-cache repository: Glance's ``node_reference`` and ``cached_images`` tables.

Glance 33's centralized_db cache driver keeps, per api node (its
``worker_self_reference_url``), one row per cached image with its size, hit count and
access times, so an operator can see which node caches what. A cached-image dict is
Glance's ``_cached_image_format``: ``id, image_id, last_accessed, last_modified, size,
hits, checksum`` with the two times as POSIX timestamps (floats).
"""

import contextlib
import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from glance_db.retry import retry_on_deadlock
from glance_db import exceptions
from glance_db.engine import SQLITE_WRITE
from glance_db.models import CachedImage, NodeReference

cached = CachedImage.__table__
nodes = NodeReference.__table__


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _timestamp(value):
    return value.replace(tzinfo=datetime.timezone.utc).timestamp()


def _format(row):
    m = row._mapping
    return {'id': m['id'], 'image_id': m['image_id'],
            'last_accessed': _timestamp(m['last_accessed']),
            'last_modified': _timestamp(m['last_modified']),
            'size': m['size'], 'hits': m['hits'], 'checksum': m['checksum']}


def _node_id(url):
    return select(nodes.c.node_reference_id).where(
        nodes.c.node_reference_url == url).scalar_subquery()


class CacheRepo:
    """Node references and their cached images, over one engine."""

    def __init__(self, engine):
        """Serve the cache tables from ``engine`` (see glance_db.engine.create_engine)."""
        self._reader = engine
        self._writer = engine.execution_options(**{SQLITE_WRITE: True})

    @retry_on_deadlock
    def node_reference_create(self, url):
        """Record an api node.

        :raises: Duplicate when the node is already recorded
        """
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(nodes).values(node_reference_url=url))
        except IntegrityError:
            raise exceptions.Duplicate('Node reference %s already exists' % url) from None

    def cached_images(self, node_url):
        """Return the cached-image dicts of one node, least recently accessed first."""
        query = (select(cached).where(cached.c.node_reference_id == _node_id(node_url))
                 .order_by(cached.c.last_accessed, cached.c.id))
        with self._reader.connect() as conn:
            return [_format(row) for row in conn.execute(query)]

    def cached_nodes(self, image_id):
        """Return the URLs of the nodes that cache ``image_id``."""
        query = (select(nodes.c.node_reference_url)
                 .join(cached, cached.c.node_reference_id == nodes.c.node_reference_id)
                 .where(cached.c.image_id == image_id).order_by(nodes.c.node_reference_id))
        with self._reader.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    @retry_on_deadlock
    def cached_image_add(self, node_url, image_id, size, checksum=None):
        """Record that ``node_url`` now caches ``image_id`` (a repeat is ignored).

        A node never recorded is recorded first (Glance would fail the insert instead).
        """
        now = _now()
        with contextlib.suppress(exceptions.Duplicate):
            self.node_reference_create(node_url)
        with self._writer.begin() as conn:
            node_id = conn.execute(select(nodes.c.node_reference_id).where(
                nodes.c.node_reference_url == node_url)).scalar()
            exists = conn.execute(select(cached.c.id).where(
                cached.c.image_id == image_id, cached.c.node_reference_id == node_id)).first()
            if exists is None:
                conn.execute(insert(cached).values(
                    image_id=image_id, size=size, checksum=checksum, hits=0,
                    last_accessed=now, last_modified=now, node_reference_id=node_id))

    @retry_on_deadlock
    def hit(self, node_url, image_id):
        """Count one download of ``image_id`` served from ``node_url``'s cache."""
        with self._writer.begin() as conn:
            conn.execute(update(cached).where(
                cached.c.image_id == image_id,
                cached.c.node_reference_id == _node_id(node_url),
            ).values(hits=cached.c.hits + 1, last_accessed=_now()))

    @retry_on_deadlock
    def cached_image_delete(self, node_url, image_id=None):
        """Forget one (or, without ``image_id``, every) image cached on ``node_url``.

        Return the number of rows removed.
        """
        query = delete(cached).where(cached.c.node_reference_id == _node_id(node_url))
        if image_id is not None:
            query = query.where(cached.c.image_id == image_id)
        with self._writer.begin() as conn:
            return conn.execute(query).rowcount
