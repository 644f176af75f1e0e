"""The api node's image cache (Glance's glance/image_cache, docs/glance-api.md "cache").

Layout as Glance: cached files directly under ``image_cache_dir``, with ``incomplete/``
(fills in progress), ``invalid/`` (failed fills, for glance-cache-cleaner) and ``queue/``
(empty files naming images to prefetch). The index of hits and access times is an
``cache_index`` object (the registry for centralized_db, a local sqlite file otherwise).

One fill per image, across threads and worker processes: the first download takes an
exclusive ``flock`` on ``incomplete/<id>`` and a thread copies the store into it; every
download of the image, the first one included, tails that growing file with ``pread``
until it has the image's size. Later downloads (and ranges) are served from the finished
file zero-copy (``downloads.FileSlice`` → sendfile). A follower that finds the lock free
before the file is whole (the filling process died) reads the rest from the store.
"""

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import threading
import time

from glance_api.data import downloads
from glance_api.web import metrics
from glance_server import flavors

LOG = logging.getLogger(__name__)

CHUNK = downloads.MIN_CHUNK
# How long a reader sleeps when it has caught up with the fill (doubling up to the max).
POLL_MIN, POLL_MAX = 0.002, 0.05
# A reader whose fill has not grown for this long reads the rest from the store itself
# (a hung store connection must not hang every download of the image).
STALL_FALLBACK = 60.0
_ATTEMPTS = 5


def caching_enabled(conf):
    """Return True when downloads go through the cache (Glance's paste flavor choice).

    Glance puts its cache middleware in the pipeline for the ``caching`` and
    ``cachemanagement`` flavors (with or without ``keystone+``).
    """
    return bool(conf.image_cache_dir) and flavors.of(conf, 'glance-api').caching


def management_enabled(conf):
    """Return True when /v2/cached_images and /v2/queued_images are routed (cachemanage)."""
    return flavors.of(conf, 'glance-api').cachemanagement


def _try_lock(fd, kind):
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _same_file(fd, path):
    """Return True when ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev)


def _lock_free(fd):
    """Return True when no fill holds the exclusive lock of the file open as ``fd``."""
    if not _try_lock(fd, fcntl.LOCK_SH):
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cacheable(image):
    """Return True when the image's data may go through the cache."""
    return (image.get('status') == 'active' and bool(image.get('size'))
            and any(loc.get('status') == 'active' for loc in image.get('locations') or ()))


class ImageCache:
    """The cache directory of this node, its fills and its index."""

    def __init__(self, conf, index, stores):
        self.base_dir = conf.image_cache_dir
        self.max_size = conf.image_cache_max_size
        self.stall_time = conf.image_cache_stall_time
        self.index = index
        self.stores = stores
        for sub in ('incomplete', 'invalid', 'queue'):
            os.makedirs(os.path.join(self.base_dir, sub), exist_ok=True)

    def path(self, image_id, sub=None):
        """Return the path of an image's file (``sub``: incomplete, invalid, queue)."""
        if sub:
            return os.path.join(self.base_dir, sub, image_id)
        return os.path.join(self.base_dir, image_id)

    # -- downloads -----------------------------------------------------------------------

    def open(self, ctx, image, offset, length):
        """Return a response body for ``length`` bytes at ``offset`` from the cache.

        None means: not cacheable, or a range of an image not cached yet (read the store,
        as Glance never caches partial downloads). A whole download of an uncached image
        starts or joins the image's one fill.

        :raises: store errors when the fill cannot open the store
        """
        if not cacheable(image):
            return None
        for _attempt in range(_ATTEMPTS):
            cached = self._open_cached(ctx, image)
            if cached is not None:
                metrics.cache_hit()
                return downloads.FileSlice(cached, offset, length)
            if _attempt == 0:
                metrics.cache_miss()   # NOTE: joining another download's fill is a miss too
            if offset or length != image['size']:
                return None
            body = self._attach(ctx, image, wait=False)
            if body is not None:
                return body
        LOG.warning('Image cache: no stable fill for image %s; reading the store', image['id'])
        return None

    def _open_cached(self, ctx, image):
        image_id = image['id']
        try:
            fileobj = open(self.path(image_id), 'rb')
        except FileNotFoundError:
            return None
        if os.fstat(fileobj.fileno()).st_size != image['size']:
            fileobj.close()
            LOG.error('Image cache file of %s has the wrong size; removing it', image_id)
            self.delete_cached_image(ctx, image_id)
            return None
        try:
            self.index.hit(ctx, image_id)
        except Exception as e:   # NOTE: bookkeeping never fails a download
            LOG.warning('Image cache: could not count a hit of %s: %s', image_id, e)
        return fileobj

    def _attach(self, ctx, image, wait):
        """Lead or follow the image's fill; return a tailing body, or None to retry.

        With ``wait`` the fill runs in this thread and True is returned once it ended.
        """
        incomplete = self.path(image['id'], 'incomplete')
        fd = os.open(incomplete, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            leader = _try_lock(fd, fcntl.LOCK_EX)
            if not _same_file(fd, incomplete):
                os.close(fd)   # renamed away (finished or failed) since it was opened
                return None
            if not leader:
                if wait:
                    os.close(fd)
                    return True   # someone else fills it
                return self._tail(fd, image)
            if os.path.exists(self.path(image['id'])):
                os.unlink(incomplete)   # finished between our checks: serve the file
                os.close(fd)
                return None
            # NOTE: a stale file left by a dead fill is emptied; a follower that read some of
            # it first got the same image bytes (image data never changes).
            os.ftruncate(fd, 0)
            chunks = self._open_store(image, 0)
        except BaseException:
            with contextlib.suppress(OSError):
                if _same_file(fd, incomplete):
                    os.unlink(incomplete)
                os.close(fd)
            raise
        if wait:
            return self._fill(ctx, image, fd, chunks)
        reader = os.open(incomplete, os.O_RDONLY | os.O_CLOEXEC)
        threading.Thread(target=self._fill, args=(ctx, image, fd, chunks), daemon=True,
                         name='cache-fill-%s' % image['id']).start()
        return self._tail(reader, image)

    def _open_store(self, image, offset):
        """Open the image's data from ``offset`` as a counted chunk iterator."""
        locations = [loc for loc in image['locations'] if loc.get('status') == 'active']
        error = None
        for loc in locations:
            try:
                store = self.stores.for_location(loc['url'], loc.get('metadata'))
                chunks, _size = store.get(loc['url'], offset=offset,
                                          length=image['size'] - offset)
                return self._counted(downloads._Prefetched(chunks), image['id'], offset)
            except downloads._RETRYABLE as e:
                LOG.warning('Image cache: cannot open a location of %s: %r', image['id'], e)
                error = e
        raise error

    def _counted(self, chunks, image_id, offset):
        read = 0
        try:
            for chunk in chunks:
                read += len(chunk)
                yield chunk
        finally:
            with contextlib.suppress(Exception):
                chunks.close()
            LOG.info('Image cache: read %d bytes of image %s from the store (offset %d)',
                     read, image_id, offset)

    def _fill(self, ctx, image, fd, chunks):
        """Copy the store into incomplete/<id>, verify, publish; True when cached."""
        image_id, size = image['id'], image['size']
        incomplete = self.path(image_id, 'incomplete')
        md5 = hashlib.md5(usedforsecurity=False)
        algo = image.get('os_hash_algo')
        multihash = hashlib.new(algo) if algo and image.get('os_hash_value') else None
        written = 0
        try:
            for chunk in chunks:
                chunk = chunk[:size - written]
                _write_all(fd, chunk)
                md5.update(chunk)
                if multihash is not None:
                    multihash.update(chunk)
                written += len(chunk)
                if written >= size:
                    break
            if written != size:
                raise OSError('store gave %d of %d bytes' % (written, size))
            if image.get('checksum') and md5.hexdigest() != image['checksum']:
                raise ValueError('Checksum verification failed')
            if multihash is not None and multihash.hexdigest() != image['os_hash_value']:
                raise ValueError('%s verification failed' % algo)
            os.rename(incomplete, self.path(image_id))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(image_id, 'queue'))
        except Exception as e:
            LOG.error('Image cache: fill of %s failed, moving it to invalid/: %s', image_id, e)
            with contextlib.suppress(OSError):
                if _same_file(fd, incomplete):
                    os.rename(incomplete, self.path(image_id, 'invalid'))
            return False
        finally:
            with contextlib.suppress(Exception):
                chunks.close()
            os.close(fd)   # releases the fill lock
        LOG.info('Image cache: cached image %s (%d bytes)', image_id, size)
        try:
            # NOTE: Glance 33's drivers record no checksum (the column stays null).
            self.index.add(ctx, image_id, size, None)
        except Exception as e:
            LOG.warning('Image cache: could not record %s in the index: %s', image_id, e)
        return True

    def _tail(self, fd, image):
        """Yield the image from the file a fill is writing (``fd``), then close it."""
        size, pos, delay = image['size'], 0, POLL_MIN
        grew = time.monotonic()
        try:
            while pos < size:
                data = os.pread(fd, min(CHUNK, size - pos), pos)
                if data:
                    pos += len(data)
                    delay, grew = POLL_MIN, time.monotonic()
                    yield data
                    continue
                stalled = time.monotonic() - grew > STALL_FALLBACK
                if stalled or _lock_free(fd):
                    data = os.pread(fd, min(CHUNK, size - pos), pos)
                    if data:
                        continue
                    # NOTE: the fill died, failed or hangs; what was sent came from the store.
                    LOG.warning('Image cache: fill of %s stopped at %d bytes; reading the '
                                'rest from the store', image['id'], pos)
                    yield from downloads.counted_chunks(self._open_store(image, pos),
                                                        size - pos)
                    return
                time.sleep(delay)
                delay = min(delay * 2, POLL_MAX)
        finally:
            os.close(fd)

    def fill(self, ctx, image):
        """Cache an image now (prefetch); return True when cached or being cached."""
        if not cacheable(image):
            return False
        for _attempt in range(_ATTEMPTS):
            cached = self._open_cached(ctx, image)
            if cached is not None:
                cached.close()
                return True
            done = self._attach(ctx, image, wait=True)
            if done is not None:
                return done
        return False

    # -- management ----------------------------------------------------------------------

    def _files(self, sub=None):
        base = os.path.join(self.base_dir, sub) if sub else self.base_dir
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if os.path.isfile(path) and not name.endswith('.db') \
                    and not name.endswith(('-wal', '-shm', '-journal')):
                yield path

    def is_cached(self, image_id):
        """Return True when the image's file is in the cache."""
        return os.path.exists(self.path(image_id))

    def get_cached_images(self, ctx):
        """Return the index's records of the cached images."""
        return self.index.list(ctx)

    def get_cache_size(self):
        """Return the total size in bytes of the cached files."""
        return sum(os.path.getsize(p) for p in self._files())

    def get_queued_images(self):
        """Return the queued image ids, oldest first."""
        items = []
        for path in self._files('queue'):
            with contextlib.suppress(OSError):
                items.append((os.path.getmtime(path), os.path.basename(path)))
        return [image_id for _mtime, image_id in sorted(items)]

    def queue_image(self, image_id):
        """Queue an image for prefetching; False if cached, being cached or queued."""
        if self.is_cached(image_id) or os.path.exists(self.path(image_id, 'queue')):
            return False
        incomplete = self.path(image_id, 'incomplete')
        if os.path.exists(incomplete):
            with open(incomplete, 'rb') as f:
                if not _lock_free(f.fileno()):
                    return False
        with open(self.path(image_id, 'queue'), 'w'):
            pass
        return True

    def delete_cached_image(self, ctx, image_id):
        """Remove an image's cached file and its index record."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(image_id))
        self.index.delete(ctx, image_id)

    def delete_all_cached_images(self, ctx):
        """Remove every cached file and index record; return the number of files."""
        deleted = 0
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                deleted += 1
        self.index.delete_all(ctx)
        return deleted

    def delete_queued_image(self, image_id):
        """Take an image off the prefetch queue."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(image_id, 'queue'))

    def delete_all_queued_images(self):
        """Empty the prefetch queue; return the number of entries removed."""
        deleted = 0
        for path in self._files('queue'):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                deleted += 1
        return deleted

    def prune(self, ctx):
        """Evict least recently used images down to image_cache_max_size.

        Return (files pruned, bytes pruned), as Glance's ImageCache.prune.
        """
        current = self.get_cache_size()
        if current <= self.max_size:
            return 0, 0
        files, freed = 0, 0
        tracked = [entry['image_id'] for entry in self.index.list(ctx)]
        # NOTE: files the index lost (a failed index write) go first, oldest first.
        untracked = sorted((p for p in self._files()
                            if os.path.basename(p) not in set(tracked)), key=os.path.getmtime)
        order = [os.path.basename(p) for p in untracked] + tracked
        for image_id in order:
            if current <= self.max_size:
                break
            try:
                size = os.path.getsize(self.path(image_id))
            except OSError:
                size = 0
            LOG.info('Image cache: pruning %s to free %d bytes', image_id, size)
            self.delete_cached_image(ctx, image_id)
            files, freed, current = files + 1, freed + size, current - size
        return files, freed

    def clean(self, stall_time=None):
        """Delete invalid files and incomplete ones untouched for ``stall_time`` seconds.

        Return (invalid removed, stalled removed). A fill still holding its lock is kept.
        """
        invalid = 0
        for path in self._files('invalid'):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                invalid += 1
                LOG.info('Removed invalid cache file %s', path)
        older_than = time.time() - (self.stall_time if stall_time is None else stall_time)
        stalled = 0
        for path in self._files('incomplete'):
            with contextlib.suppress(FileNotFoundError):
                if os.path.getmtime(path) >= older_than:
                    continue
                with open(path, 'rb') as f:
                    if not _lock_free(f.fileno()):
                        continue
                os.unlink(path)
                stalled += 1
                LOG.info('Removed stalled cache file %s', path)
        return invalid, stalled


def from_conf(conf, registry, stores, service_auth):
    """Return this node's ImageCache, or None without image_cache_dir.

    ``service_auth`` (glance_api.web.service_auth) acts for the cache's own registry calls.
    """
    if not conf.image_cache_dir:
        if flavors.of(conf, 'glance-api').caching:
            LOG.warning('The %s flavor needs image_cache_dir: the image cache is off',
                        conf.paste_deploy.flavor)
        return None
    from glance_api.cache import index as cache_index   # NOTE: beside from_conf, its only user here
    os.makedirs(conf.image_cache_dir, exist_ok=True)   # the sqlite index lives in it
    return ImageCache(conf, cache_index.from_conf(conf, registry, service_auth), stores)
