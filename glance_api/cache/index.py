"""Where the image cache keeps its records: hits, access times and sizes per image.

``image_cache_driver`` as Glance 33: ``centralized_db`` (default) keeps them in the
``cached_images`` table under this node's ``worker_self_reference_url``, reached through
the registry; ``sqlite`` and ``xattr`` keep them on this node, in the sqlite file
``image_cache_sqlite_db`` of the cache directory (Glance's xattr driver used file
attributes; the records are the same).
"""

import contextlib
import logging
import os
import socket
import sqlite3
import threading
import time


LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached_images (
    image_id TEXT PRIMARY KEY,
    hits INTEGER DEFAULT 0,
    last_accessed REAL DEFAULT 0,
    last_modified REAL DEFAULT 0,
    size INTEGER DEFAULT 0,
    checksum TEXT
)
"""


class RegistryIndex:
    """Records in the central database, through the registry (centralized_db)."""

    def __init__(self, registry, node_url, service_auth):
        self.registry = registry
        self.node = node_url
        self.service_auth = service_auth

    def _ctx(self, ctx):
        return ctx or self.service_auth.context()

    def list(self, ctx):
        """Return Glance's cached-image dicts of this node, least recently accessed first."""
        return self.registry.cache_list(self._ctx(ctx), self.node)

    def add(self, ctx, image_id, size, checksum):
        """Record a newly cached image."""
        self.registry.cache_add(self._ctx(ctx), self.node, image_id, size, checksum)

    def hit(self, ctx, image_id):
        """Count one download served from the cache."""
        self.registry.cache_hit(self._ctx(ctx), self.node, image_id)

    def delete(self, ctx, image_id):
        """Forget one image."""
        self.registry.cache_delete(self._ctx(ctx), self.node, image_id)

    def delete_all(self, ctx):
        """Forget every image of this node."""
        self.registry.cache_delete(self._ctx(ctx), self.node)

    def nodes(self, ctx, image_id):
        """Return the URLs of the nodes caching ``image_id``."""
        return self.registry.cache_nodes(self._ctx(ctx), image_id)


class LocalIndex:
    """Records in a sqlite file beside the cached images (the sqlite and xattr drivers)."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextlib.contextmanager
    def _db(self):
        db = getattr(self._local, 'db', None)
        if db is None or getattr(self._local, 'pid', None) != os.getpid():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            self._local.db, self._local.pid = db, os.getpid()
        yield db

    def list(self, ctx):
        """Return Glance's sqlite-driver records, least recently accessed first."""
        with self._db() as db:
            rows = db.execute('SELECT image_id, hits, last_accessed, last_modified, size '
                              'FROM cached_images ORDER BY last_accessed, image_id')
            return [dict(row) for row in rows]

    def add(self, ctx, image_id, size, checksum):
        """Record a newly cached image."""
        now = time.time()
        with self._db() as db:
            db.execute('INSERT OR REPLACE INTO cached_images (image_id, hits, last_accessed, '
                       'last_modified, size, checksum) VALUES (?, 0, ?, ?, ?, ?)',
                       (image_id, now, now, size, checksum))

    def hit(self, ctx, image_id):
        """Count one download served from the cache."""
        with self._db() as db:
            db.execute('UPDATE cached_images SET hits = hits + 1, last_accessed = ? '
                       'WHERE image_id = ?', (time.time(), image_id))

    def delete(self, ctx, image_id):
        """Forget one image."""
        with self._db() as db:
            db.execute('DELETE FROM cached_images WHERE image_id = ?', (image_id,))

    def delete_all(self, ctx):
        """Forget every image."""
        with self._db() as db:
            db.execute('DELETE FROM cached_images')

    def nodes(self, ctx, image_id):
        """Not known on a node-local index."""
        return []


def node_url(conf):
    """Return this node's reference URL (worker_self_reference_url, as Glance)."""
    if conf.worker_self_reference_url:
        return conf.worker_self_reference_url
    # NOTE: Glance fails the insert without one; a stable per-host default keeps working.
    return conf.public_endpoint or 'http://%s:%s' % (socket.gethostname(), conf.bind_port)


def from_conf(conf, registry, service_auth):
    """Return the index ``image_cache_driver`` selects."""
    driver = (conf.image_cache_driver or 'centralized_db').lower()
    if driver == 'centralized_db':
        return RegistryIndex(registry, node_url(conf), service_auth)
    return LocalIndex(os.path.join(conf.image_cache_dir, conf.image_cache_sqlite_db))
