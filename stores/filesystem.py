"""A store that keeps each image as one file in a local (or mounted) directory."""

import contextlib
import errno
import glob
import json
import logging
import os
import urllib.parse
import uuid

from stores import base
from stores import config
from stores import exceptions
from stores import fsconfig
from stores import timeouts

LOG = logging.getLogger(__name__)

_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_DENIED_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
TEMP_SUFFIX = ".part"


def storage_error(exc):
    """Return the stores exception for an OSError from a write, or None."""
    if exc.errno in _FULL_ERRNOS:
        return exceptions.StorageFull()
    if exc.errno in _DENIED_ERRNOS:
        return exceptions.StorageWriteDenied()
    return None


class ChunkedFile:
    """Iterate over an open file in chunks, stopping after ``length`` bytes."""

    def __init__(self, fileobj, chunk_size, length=None):
        self.fileobj = fileobj
        self.chunk_size = chunk_size
        self.remaining = length

    def __iter__(self):
        return self

    def __next__(self):
        if self.fileobj is None:
            raise StopIteration
        size = self.chunk_size
        if self.remaining is not None:
            size = min(size, self.remaining)
        chunk = self.fileobj.read(size) if size > 0 else b""
        if not chunk:
            self.close()
            raise StopIteration
        if self.remaining is not None:
            self.remaining -= len(chunk)
        return chunk

    def close(self):
        """Close the file (the WSGI server calls this when the response ends)."""
        if self.fileobj is not None:
            self.fileobj.close()
            self.fileobj = None


class FileWriter(base.Writer):
    """Write to a hidden temporary file beside the final one, then link it in place."""

    def __init__(self, store, fd, temp_path, final_path):
        self.store = store
        self.fd = fd
        self.temp_path = temp_path
        self.final_path = final_path
        self.location = "file://" + final_path
        self.position = 0
        self.holes = False
        self.zeros = bytes(store.chunk_size) if store.thin_provisioning else b""

    def write(self, chunk):
        """Write ``chunk``; with thin provisioning an all-zero chunk becomes a hole."""
        if self.zeros and self._is_zero(chunk):
            os.lseek(self.fd, len(chunk), os.SEEK_CUR)
            self.holes = True
        else:
            self._write_all(chunk)
        self.position += len(chunk)

    def _is_zero(self, chunk):
        # PERF: memcmp against a cached zero buffer stops at the first non-zero byte.
        if len(chunk) == len(self.zeros):
            return chunk == self.zeros
        return chunk.count(0) == len(chunk)

    def _write_all(self, chunk):
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            mapped = storage_error(e)
            if mapped is None:
                raise
            raise mapped from e

    def commit(self):
        """Flush, set permissions, and publish the file under its final name."""
        try:
            if self.holes:
                # A trailing hole is not part of the file until it is sized.
                os.ftruncate(self.fd, self.position)
            self.store.set_file_perm(self.fd, self.final_path)
        except OSError as e:
            mapped = storage_error(e)
            raise (mapped or e) from e
        finally:
            self._close()
        publish(self.temp_path, self.final_path)
        self.temp_path = None
        return "file://" + self.final_path, self.store.location_metadata(self.final_path)

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def abort(self):
        """Close and remove the temporary file."""
        self._close()
        if self.temp_path:
            try:
                os.unlink(self.temp_path)
            except FileNotFoundError:
                pass


def publish(temp_path, final_path):
    """Give ``temp_path`` the name ``final_path`` atomically; never overwrite.

    :raises: Duplicate if ``final_path`` exists
    """
    try:
        # NOTE: link() fails with EEXIST instead of silently replacing a file that a
        # concurrent upload of the same id published first (rename() would replace it).
        os.link(temp_path, final_path)
    except FileExistsError:
        raise exceptions.Duplicate(image=final_path) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # Filesystem without hard links: check-then-rename, as glance_store does.
        if os.path.exists(final_path):
            raise exceptions.Duplicate(image=final_path) from None
        os.rename(temp_path, final_path)
        return
    try:
        os.unlink(temp_path)
    except OSError:
        LOG.warning("Unable to remove temporary file %s", temp_path)


class FilesystemStore(base.Store):
    """Images as files ``<datadir>/<image id>``, location ``file://<datadir>/<id>``.

    Every operation on a location refuses a file outside the data directories.
    """

    schemes = ("file", "filesystem")
    type_name = "file"
    OPTIONS = config.FILESYSTEM_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.WRITE_ACCESS,
                              base.DRIVER_REUSABLE})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self.datadirs = {}          # priority -> [directory, ...]
        self.metadata = []
        self._read_options()

    def _read_options(self):
        self.chunk_size = self.store_conf.filesystem_store_chunk_size
        self.thin_provisioning = self.store_conf.filesystem_thin_provisioning
        # NOTE: opening, sizing and deleting files and free-space checks get a deadline
        # (filesystem_store_timeout); glance_store guards sizing, deleting and statvfs.
        self.timeouts = timeouts.TimeoutExecutor(
            self.store_conf.filesystem_store_timeout,
            self.store_conf.filesystem_store_thread_pool_size,
            self.store_conf.filesystem_store_threadpool_threshold)
        self.file_perm = self.store_conf.filesystem_store_file_perm
        fdir = self.store_conf.filesystem_store_datadir
        self.datadir = fdir
        self.datadirs = {0: [fdir]} if fdir else {}

    def configure(self):
        """Create the data directories and check them and the other options.

        :raises: BadStoreConfiguration
        """
        self.datadirs = fsconfig.parse_datadirs(self.store_conf)
        self.datadir = self.datadirs[max(self.datadirs)][0]
        fsconfig.check_file_perm(self.file_perm)
        for paths in self.datadirs.values():
            for path in paths:
                fsconfig.create_datadir(path, self.file_perm)
                fsconfig.remove_stale_temp_files(path, TEMP_SUFFIX)
        meta_file = self.store_conf.filesystem_store_metadata_file
        if meta_file:
            self.metadata = fsconfig.load_metadata(meta_file)

    def properties(self):
        """Return the properties shown by ``GET /v2/info/stores/detail``."""
        return {"data_dir": self.datadir, "chunk_size": self.chunk_size,
                "thin_provisioning": self.thin_provisioning}

    def all_datadirs(self):
        """Return every configured data directory, highest priority first."""
        return [p for prio in sorted(self.datadirs, reverse=True) for p in self.datadirs[prio]]

    def owns(self, url):
        """Return True for a file URL under one of this store's data directories."""
        if not super().owns(url):
            return False
        path = self._path(url)
        return any(os.path.dirname(path) == os.path.normpath(d) for d in self.all_datadirs())

    @staticmethod
    def _path(location):
        if base.scheme_of(location) not in FilesystemStore.schemes:
            raise exceptions.BadStoreUri(uri=location)
        pieces = urllib.parse.urlsplit(location)
        path = (pieces.netloc + pieces.path).strip()
        if not path.startswith("/"):
            raise exceptions.BadStoreUri(message="No absolute path specified in URI %s"
                                         % location)
        return os.path.normpath(path)

    def _confined_path(self, location):
        """Return the file path of ``location``, which must lie in one of the data directories.

        :raises: BadStoreUri (malformed), NotFound (outside every data directory: answered
                 like a missing file, so that it tells nothing about the host's files),
                 OperationTimeout
        """
        path = self._path(location)
        datadirs = self.all_datadirs()
        # SECURITY: the api refuses file:// locations from users, as Glance does; an image
        # row written some other way must still not make this store serve, size or delete
        # a host file (glance-api.conf and its service password).
        real, inside = self.timeouts.run(_resolve, path, datadirs)
        if not inside:
            LOG.error("Refusing location %s of file store %s: %s is not inside its data "
                      "directories (%s) once symlinks and '..' are resolved",
                      location, self.store_id, real, ", ".join(datadirs))
            raise exceptions.NotFound(image=path)
        return path

    def _open(self, location):
        path = self._confined_path(location)
        try:
            fileobj = self.timeouts.run(open, path, "rb", discard=_close)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise exceptions.NotFound(image=path) from None
        except PermissionError:
            raise exceptions.Forbidden(message="You cannot read file %s" % path) from None
        try:
            # PERF: image files are read front to back. Measured, 1 GiB not in the page
            # cache sent by sendfile over loopback TCP: ~1.2-1.5 GB/s with this hint
            # (the kernel doubles its read-ahead window), ~0.4 GB/s without.
            os.posix_fadvise(fileobj.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (OSError, AttributeError):
            pass
        return fileobj, os.fstat(fileobj.fileno()).st_size

    def get(self, location, offset=0, length=None):
        """Return (ChunkedFile from ``offset``, file size).

        :raises: NotFound, BadStoreUri
        """
        fileobj, size = self._open(location)
        if offset:
            fileobj.seek(offset)
        return ChunkedFile(fileobj, self.chunk_size, length), size

    def open_file(self, location):
        """Return (open binary file, size) for zero-copy ``sendfile``.

        :raises: NotFound, BadStoreUri
        """
        return self._open(location)

    def get_size(self, location):
        """Return the file size.

        :raises: NotFound, BadStoreUri, OperationTimeout
        """
        path = self._confined_path(location)
        try:
            return self.timeouts.run(os.stat, path).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise exceptions.NotFound(image=path) from None

    def delete(self, location):
        """Remove the file.

        :raises: NotFound, Forbidden, BadStoreUri, OperationTimeout
        """
        self.timeouts.run(self._delete, self._confined_path(location))

    @staticmethod
    def _delete(path):
        # NOTE: an upload that died leaves its temporary file beside the final name
        # (begin_add); deleting the location removes it too (the scrubber's cleanup).
        temps = glob.glob(os.path.join(glob.escape(os.path.dirname(path)),
                                       ".%s.*%s" % (glob.escape(os.path.basename(path)),
                                                    TEMP_SUFFIX)))
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            if temps:
                return
            raise exceptions.NotFound(image=path) from None
        except OSError:
            raise exceptions.Forbidden(message="You cannot delete file %s" % path) from None

    def begin_add(self, image_id, size):
        """Open a temporary file in the best data directory for ``size`` bytes.

        :raises: Duplicate, StorageFull, StorageWriteDenied, BadStoreUri, OperationTimeout
        """
        image_id = str(image_id)
        if not image_id or "/" in image_id or "\0" in image_id or image_id in (".", ".."):
            raise exceptions.BadStoreUri(uri=image_id)
        datadir = self._find_best_datadir(size or 0)
        final_path = os.path.join(datadir, image_id)
        if self.timeouts.run(os.path.lexists, final_path):
            raise exceptions.Duplicate(image=final_path)
        temp_path = os.path.join(datadir, ".%s.%s%s" % (image_id, uuid.uuid4().hex[:12],
                                                         TEMP_SUFFIX))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = self.timeouts.run(os.open, temp_path, flags, 0o666, discard=os.close)
        except OSError as e:
            mapped = storage_error(e)
            if mapped is None:
                raise
            raise mapped from e
        return FileWriter(self, fd, temp_path, final_path)

    def _find_best_datadir(self, image_size):
        """Return the highest-priority directory with room (ties: most free space)."""
        if len(self.datadirs) == 1 and len(next(iter(self.datadirs.values()))) == 1:
            return self.datadir
        for priority in sorted(self.datadirs, reverse=True):
            best, best_free = None, -1
            for datadir in self.datadirs[priority]:
                free = self.timeouts.run(_free_space, datadir)
                if free >= image_size and free > best_free:
                    best, best_free = datadir, free
            if best:
                return best
        raise exceptions.StorageFull(
            message="There is no enough disk space left on the image storage media. "
                    "requested=%s" % image_size)

    def set_file_perm(self, fd, path):
        """Apply ``filesystem_store_file_perm`` (octal digits) to a new image file."""
        if self.file_perm <= 0:
            return
        try:
            os.fchmod(fd, int(str(self.file_perm), 8))
        except (OSError, ValueError):
            LOG.warning("Unable to set permission to image: %s", path)

    def location_metadata(self, path):
        """Return the ``filesystem_store_metadata_file`` entry whose mountpoint holds path."""
        for entry in self.metadata:
            if path.startswith(entry["mountpoint"]):
                return dict(entry)
        if self.metadata:
            LOG.error("The image path %s does not match with any of the mountpoint "
                      "defined in metadata: %s. An empty dictionary will be returned "
                      "to the client.", path, json.dumps(self.metadata))
        return {}


def _close(fileobj):
    fileobj.close()


def _resolve(path, datadirs):
    """Return (real path of ``path``, whether it lies below one of ``datadirs``)."""
    real = os.path.realpath(path)
    for datadir in datadirs:
        root = os.path.realpath(datadir)
        if real != root and os.path.commonpath((real, root)) == root:
            return real, True
    return real, False


def _free_space(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return max(0, st.f_bavail * st.f_frsize)

