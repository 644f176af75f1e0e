"""A store that keeps each image as an RBD image in a Ceph pool (glance_store's rbd driver).

Location ``rbd://<fsid>/<pool>/<image>/snap``: the image carries a protected snapshot
``snap``, so Nova and Cinder can make copy-on-write clones of it. The python bindings
(``rados``, ``rbd``) are optional: without them the store is disabled with a log line.
"""

import contextlib
import logging
import math
import urllib.parse

from stores import base
from stores import config
from stores import exceptions

try:
    import rados
    import rbd
except ImportError:  # NOTE: optional SDK; configure() reports it
    rados = None
    rbd = None

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
SNAPSHOT = "snap"
# glance_store grows an image of unknown size in doubling steps, up to this much at once.
MAX_RESIZE_STEP = 8 * 1024 * MiB
MISSING_LIBS = "The required libraries(rbd and rados) are not available"


def parse_location(url):
    """Return (fsid, pool, image, snapshot) of ``rbd://image`` or ``rbd://f/p/i/s``.

    :raises: BadStoreUri
    """
    if base.scheme_of(url) != "rbd":
        raise exceptions.BadStoreUri(uri=url)
    pieces = url[len("rbd://"):].split("/")
    if len(pieces) not in (1, 4):
        raise exceptions.BadStoreUri(message="URI must have exactly 1 or 4 components")
    if any(piece == "" for piece in pieces):
        raise exceptions.BadStoreUri(message="URI cannot contain empty components")
    if len(pieces) == 1:
        return None, None, pieces[0], None
    fsid, pool, image, snapshot = (urllib.parse.unquote(p) for p in pieces)
    return fsid, pool, image, snapshot


def make_location(fsid, pool, image, snapshot=SNAPSHOT):
    """Return the ``rbd://`` URL of an image snapshot (each part quoted)."""
    return "rbd://" + "/".join(urllib.parse.quote(p, "") for p in (fsid, pool, image, snapshot))


def backend_error(exc):
    """Return the stores exception for a rados/rbd error met while writing."""
    if isinstance(exc, (rbd.NoSpace, rbd.DiskQuotaExceeded, rados.NoSpace)):
        return exceptions.StorageFull()
    if isinstance(exc, (rbd.PermissionError, rados.PermissionError)):
        return exceptions.StorageWriteDenied()
    return exceptions.BackendUnavailable(
        message="Ceph operation failed: %s: %s" % (type(exc).__name__, exc))


class ImageReader:
    """Iterate over the bytes of an open RBD image; ``close`` releases the connection."""

    def __init__(self, resources, image, chunk_size, offset, end):
        self.resources = resources
        self.image = image
        self.chunk_size = chunk_size
        self.offset = offset
        self.end = end

    def __iter__(self):
        return self

    def __next__(self):
        if self.image is None or self.offset >= self.end:
            self.close()
            raise StopIteration
        length = min(self.chunk_size, self.end - self.offset)
        try:
            chunk = self.image.read(self.offset, length)
        except (rbd.Error, rados.Error) as e:
            self.close()
            raise backend_error(e) from e
        if not chunk:
            self.close()
            raise StopIteration
        self.offset += len(chunk)
        return chunk

    def close(self):
        """Close the image, the pool and the cluster connection (idempotent)."""
        self.image = None
        if self.resources is not None:
            resources, self.resources = self.resources, None
            resources.close()


class RbdWriter(base.Writer):
    """Write one new RBD image; commit snapshots and protects it."""

    def __init__(self, store, resources, ioctx, name, size, location):
        self.store = store
        self.resources = resources
        self.ioctx = ioctx
        self.name = name
        self.location = location
        self.image_size = size or 0
        self.offset = 0
        self.resize_amount = store.chunk_size
        self.zeros = bytes(store.chunk_size) if store.thin_provisioning else b""
        self.image = resources.enter_context(rbd.Image(ioctx, name))

    def write(self, chunk):
        """Write ``chunk`` at the current offset; an all-zero chunk may be skipped.

        :raises: StorageFull, StorageWriteDenied, BackendUnavailable
        """
        end = self.offset + len(chunk)
        try:
            if end > self.image_size:
                self._grow(end)
            if not (self.zeros and self._is_zero(chunk)):
                # NOTE: librbd's binding takes only bytes; the api hands bytearrays.
                # The copy costs ~1 ms per 8 MiB, far below the write itself.
                self.image.write(chunk if type(chunk) is bytes else bytes(chunk),
                                 self.offset)
        except (rbd.Error, rados.Error) as e:
            raise backend_error(e) from e
        self.offset = end

    def _grow(self, end):
        # NOTE: as glance_store, grow in doubling steps (up to 8 GiB) instead of resizing
        # for every chunk; commit() trims the image to the bytes written.
        while self.image_size < end:
            self.resize_amount = min(self.resize_amount * 2, MAX_RESIZE_STEP)
            self.image_size += self.resize_amount
        LOG.debug("resizing image %s to %s KiB", self.name, self.image_size // 1024)
        self.image.resize(self.image_size)

    def _is_zero(self, chunk):
        # PERF: memcmp against a cached zero buffer stops at the first non-zero byte.
        if len(chunk) == len(self.zeros):
            return chunk == self.zeros
        return chunk.count(0) == len(chunk)

    def commit(self):
        """Trim the image to its size, snapshot and protect it; return (url, metadata)."""
        try:
            if self.image_size != self.offset:
                self.image.resize(self.offset)
            self.image.create_snap(SNAPSHOT)
            self.image.protect_snap(SNAPSHOT)
        except (rbd.Error, rados.Error) as e:
            raise backend_error(e) from e
        finally:
            self._close()
        return self.location, {}

    def _close(self):
        self.image = None
        if self.resources is not None:
            resources, self.resources = self.resources, None
            resources.close()

    def abort(self):
        """Close the image and remove it (and its snapshot, if made)."""
        self._close()
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass


class RbdStore(base.Store):
    """Images as RBD images ``<pool>/<image id>`` with a protected snapshot ``snap``."""

    schemes = ("rbd",)
    type_name = "rbd"
    OPTIONS = config.RBD_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.WRITE_ACCESS})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self.fsid = None
        self._read_options()

    def _read_options(self):
        self.chunk_size = self.store_conf.rbd_store_chunk_size * MiB
        self.order = int(math.log(self.chunk_size, 2))
        self.pool = self.store_conf.rbd_store_pool
        self.user = self.store_conf.rbd_store_user or None
        self.conf_file = self.store_conf.rbd_store_ceph_conf or ""
        self.connect_timeout = self.store_conf.rados_connect_timeout
        self.thin_provisioning = self.store_conf.rbd_thin_provisioning

    def configure(self):
        """Check that the bindings are there (the cluster is reached on first use).

        :raises: BadStoreConfiguration
        """
        self._read_options()
        if rados is None or rbd is None:
            LOG.error(MISSING_LIBS)
            raise exceptions.BadStoreConfiguration(store_name="rbd", reason=MISSING_LIBS)

    def properties(self):
        """Return the properties shown by ``GET /v2/info/stores/detail``."""
        return {"chunk_size": self.chunk_size, "pool": self.pool,
                "thin_provisioning": self.thin_provisioning}

    def owns(self, url):
        """Return True for an rbd URL in this store's pool (and cluster, once known)."""
        try:
            fsid, pool, _, _ = parse_location(url)
        except exceptions.BadStoreUri:
            return False
        if pool is None:
            return True
        return pool == self.pool and (self.fsid is None or fsid == self.fsid)

    @contextlib.contextmanager
    def _pool(self, pool=None):
        """Yield (cluster, ioctx) on ``pool``; everything is released on exit.

        :raises: BackendUnavailable, NotFound (no such pool)
        """
        with contextlib.ExitStack() as resources:
            cluster, ioctx = self._open(resources, pool)
            yield cluster, ioctx

    def _open(self, resources, pool=None):
        if rados is None or rbd is None:
            raise exceptions.BackendUnavailable(message=MISSING_LIBS)
        try:
            cluster = rados.Rados(conffile=self.conf_file, rados_id=self.user)
            if self.connect_timeout >= 0:
                timeout = str(self.connect_timeout)
                for name in ("rados_osd_op_timeout", "rados_mon_op_timeout",
                             "client_mount_timeout"):
                    cluster.conf_set(name, timeout)
            cluster.connect()
        except rados.Error as e:
            LOG.error("Error connecting to ceph cluster: %s: %s", type(e).__name__, e)
            raise exceptions.BackendUnavailable(
                message="Error connecting to ceph cluster: %s" % e) from e
        resources.callback(cluster.shutdown)
        if self.fsid is None:
            self.fsid = cluster.get_fsid()
        try:
            ioctx = cluster.open_ioctx(pool or self.pool)
        except rados.ObjectNotFound:
            raise exceptions.NotFound(
                message="RADOS pool %s does not exist" % (pool or self.pool)) from None
        except rados.Error as e:
            raise backend_error(e) from e
        resources.callback(ioctx.close)
        return cluster, ioctx

    def _open_image(self, resources, location):
        """Open the image (at its snapshot) read-only; return (rbd.Image, name)."""
        _, pool, name, snapshot = parse_location(location)
        _, ioctx = self._open(resources, pool)
        try:
            image = rbd.Image(ioctx, name, snapshot=snapshot, read_only=True)
        except rbd.ImageNotFound:
            raise exceptions.NotFound(
                message="RBD image %s does not exist" % location) from None
        except (rbd.Error, rados.Error) as e:
            raise backend_error(e) from e
        resources.enter_context(image)
        return image

    def get(self, location, offset=0, length=None):
        """Return (ImageReader from ``offset``, image size).

        :raises: NotFound, BadStoreUri, BackendUnavailable
        """
        resources = contextlib.ExitStack()
        try:
            image = self._open_image(resources, location)
            size = image.size()
        except BaseException:
            resources.close()
            raise
        end = size if length is None else min(size, offset + length)
        return ImageReader(resources, image, self.chunk_size, offset, end), size

    def get_size(self, location):
        """Return the image size.

        :raises: NotFound, BadStoreUri, BackendUnavailable
        """
        with contextlib.ExitStack() as resources:
            return self._open_image(resources, location).size()

    def delete(self, location):
        """Unprotect and remove the snapshot (if any), then remove the image.

        :raises: NotFound, InUseByStore (the snapshot has clones, or the image is
                 open elsewhere), BadStoreUri, BackendUnavailable
        """
        _, pool, name, snapshot = parse_location(location)
        with self._pool(pool) as (_, ioctx):
            try:
                if snapshot is not None:
                    self._remove_snapshot(ioctx, name, snapshot)
                rbd.RBD().remove(ioctx, name)
            except rbd.ImageNotFound:
                raise exceptions.NotFound(
                    message="RBD image %s does not exist" % name) from None
            except rbd.ImageBusy:
                LOG.warning("Remove image %s failed. It is in use.", name)
                raise exceptions.InUseByStore() from None
            except rbd.ImageHasSnapshots:
                # NOTE: as glance_store: snapshots made outside Glance keep the data
                # alive; the image goes to the RBD trash instead.
                LOG.warning("Unable to remove image %s: it has snapshot(s) left; "
                            "trashing instead", name)
                self._trash(ioctx, name)
            except (rbd.Error, rados.Error) as e:
                raise backend_error(e) from e

    @staticmethod
    def _remove_snapshot(ioctx, name, snapshot):
        with rbd.Image(ioctx, name) as image:
            try:
                image.unprotect_snap(snapshot)
            except rbd.InvalidArgument:
                LOG.debug("Snapshot %s of %s is unprotected already", snapshot, name)
            except rbd.ImageNotFound:
                # A partial upload: the snapshot was never made.
                LOG.debug("Snapshot %s of %s does not exist", snapshot, name)
                return
            except rbd.ImageBusy:
                LOG.warning("Snapshot %s of %s is in use (it has clones).", snapshot, name)
                raise exceptions.InUseByStore() from None
            try:
                image.remove_snap(snapshot)
            except rbd.ImageNotFound:
                pass

    @staticmethod
    def _trash(ioctx, name):
        try:
            rbd.RBD().trash_move(ioctx, name)
        except rbd.ImageBusy:
            LOG.warning("Unable to move in-use image %s to trash", name)
            raise exceptions.InUseByStore() from None

    def begin_add(self, image_id, size):
        """Create the RBD image (at ``size`` when known; grown as written otherwise).

        :raises: Duplicate, StorageFull, BackendUnavailable
        """
        resources = contextlib.ExitStack()
        name = str(image_id)
        try:
            cluster, ioctx = self._open(resources, self.pool)
            location = make_location(self.fsid, self.pool, name)
            self._create(cluster, ioctx, name, size or 0)
        except BaseException:
            resources.close()
            raise
        try:
            return RbdWriter(self, resources, ioctx, name, size, location)
        except BaseException as e:
            resources.close()
            with contextlib.suppress(exceptions.StoreError):
                self.delete(location)
            if isinstance(e, (rbd.Error, rados.Error)):
                raise backend_error(e) from e
            raise

    def _create(self, cluster, ioctx, name, size):
        features = cluster.conf_get("rbd_default_features")
        if not features or int(features) == 0:
            features = rbd.RBD_FEATURE_LAYERING
        try:
            rbd.RBD().create(ioctx, name, size, self.order, old_format=False,
                             features=int(features))
        except rbd.ImageExists:
            raise exceptions.Duplicate(message="RBD image %s already exists" % name) from None
        except (rbd.Error, rados.Error) as e:
            raise backend_error(e) from e
