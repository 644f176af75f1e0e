"""The Swift store's writing side and its error mapping (see stores/swift.py).

An upload below the large-object size is one PUT; a larger one (or one of unknown size)
is written as segments, each sent by a helper thread fed chunk by chunk through a small
bounded queue, so a few segments can be in flight at once and memory stays at a few chunks
per thread; ``commit`` writes the DLO manifest.
"""

import logging
import queue
from concurrent import futures

import requests
import swiftclient
from keystoneauth1 import exceptions as ks_exceptions

from stores import base
from stores import exceptions

LOG = logging.getLogger(__name__)

# Seconds before a Swift request without an answer fails (swiftclient's per-request
# timeout); with RETRIES this bounds how long a dead backend holds a worker.
TIMEOUT = 60
RETRIES = 2
STARTING_BACKOFF = 0.5
# Segments in flight at once per upload, and chunks queued per segment.
UPLOAD_THREADS = 4
QUEUE_CHUNKS = 4
_END = object()
_ABORT = object()


def reraise(e, what):
    """Raise the stores exception for swiftclient/requests error ``e``."""
    if isinstance(e, exceptions.StoreError):
        raise e
    if isinstance(e, ks_exceptions.ClientException):
        _reraise_keystone(e)
    status = getattr(e, "http_status", None)
    if isinstance(e, swiftclient.ClientException) and status is not None:
        if status == 404:
            raise exceptions.NotFound(message="Swift could not find %s." % what) from e
        if status in (401, 403):
            raise exceptions.AuthorizationFailure(
                message="Swift rejected the credentials for %s: %s" % (what, e.msg)) from e
        if status == 413:
            raise exceptions.StorageFull(message=e.msg or None) from e
        if status == 409:
            raise exceptions.Duplicate(
                message="Swift already has an image at this location") from e
        if status == 507:
            raise exceptions.StorageFull() from e
        if status >= 500 or status == 408:
            raise exceptions.BackendUnavailable() from e
        raise exceptions.BackendException(
            message="Got error from Swift: %s" % e) from e
    # Connection refused, timeouts, resets, and swiftclient's own "no response".
    LOG.warning("Swift is unavailable (%s): %s", what, e)
    raise exceptions.BackendUnavailable() from e


def _reraise_keystone(e):
    """Raise the stores exception for a keystoneauth error (Keystone auth, catalog)."""
    status = getattr(e, "http_status", None)
    # NOTE: 404: Keystone's answer for an application credential that does not exist
    # (or was deleted); every keystoneauth HTTP error here comes from authenticating.
    if status in (401, 403, 404):
        raise exceptions.AuthorizationFailure(
            message="Keystone rejected the Swift credentials: %s" % e) from e
    if isinstance(e, ks_exceptions.CatalogException):
        raise exceptions.BackendException(
            message="Cannot find swift service endpoint : %s" % e) from e
    if isinstance(e, (ks_exceptions.ConnectionError, ks_exceptions.DiscoveryFailure)) \
            or (status is not None and (status >= 500 or status == 408)):
        LOG.warning("Keystone is unavailable for Swift: %s", e)
        raise exceptions.BackendUnavailable() from e
    raise exceptions.BackendException(message="Keystone error for Swift: %s" % e) from e


# NOTE: keystoneauth's errors (token, catalog) are not swiftclient's: swiftclient lets
# them through from the session.
ERRORS = (swiftclient.ClientException, requests.RequestException, OSError,
          ks_exceptions.ClientException)


def delete_ignoring_404(conn, container, name):
    try:
        conn.delete_object(container, name)
    except swiftclient.ClientException as e:
        if e.http_status == 404:
            return False
        raise
    return True


class _Upload:
    """One object PUT fed chunk by chunk through a bounded queue by a helper thread."""

    def __init__(self, pool, conn, container, name, length):
        self.queue = queue.Queue(QUEUE_CHUNKS)
        self.pending = b""
        self.name = name
        self.future = pool.submit(self._run, conn, container, name, length)

    def read(self, size=-1):
        """Return the next queued bytes, at most ``size`` (the body of the PUT)."""
        if not self.pending:
            chunk = self.queue.get()
            if chunk is _END:
                self.queue.put(_END)  # later reads see the end too
                return b""
            if chunk is _ABORT:
                raise OSError("upload aborted")
            self.pending = chunk
        if size is None or size < 0 or size >= len(self.pending):
            chunk, self.pending = self.pending, b""
            return chunk
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

    def _run(self, conn, container, name, length):
        try:
            if length == 0:
                conn.put_object(container, name, b"", content_length=0)
            else:
                # NOTE: a file-like body (swiftclient sends a generator with a
                # Content-Length wrongly); chunk_size as large as our chunks.
                conn.put_object(container, name, self, content_length=length,
                                chunk_size=base.DEFAULT_CHUNK_SIZE)
        finally:
            self._drain()

    def _drain(self):
        # Unblock a producer waiting on a full queue after a failure.
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass

    def put(self, item):
        """Queue ``item``; raise the upload's error if it failed meanwhile."""
        while True:
            if self.future.done():
                self.future.result()  # raises the upload's error
                if item is _END or item is _ABORT:
                    return
                raise exceptions.BackendException(
                    message="Swift upload of %s ended early" % self.name)
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


class SwiftWriter(base.Writer):
    """Write an image as one object, or as segments plus a DLO manifest."""

    def __init__(self, store, loc, size, segmented):
        self.store = store
        self.loc = loc
        self.location = loc.uri()
        self.size = size
        self.segmented = segmented
        self.segment_size = store.large_object_chunk_size
        self.pool = futures.ThreadPoolExecutor(max_workers=UPLOAD_THREADS,
                                               thread_name_prefix="swift-upload")
        self.uploads = []
        self.current = None
        self.room = 0          # bytes the current upload still takes
        self.written = 0

    def _start_upload(self):
        if self.segmented:
            index = len(self.uploads) + 1
            name = "%s-%05d" % (self.loc.obj, index)
            length = self.segment_size
            if self.size is not None:
                length = min(length, self.size - self.written)
            else:
                length = None  # chunked transfer: the size is known only at the end
            room = self.segment_size
        else:
            name, length, room = self.loc.obj, self.size, self.size
        self._finish_waiting()
        conn = self.store.connect(self.loc)
        self.current = _Upload(self.pool, conn, self.loc.container, name, length)
        self.uploads.append(self.current)
        self.room = room

    def _finish_waiting(self):
        """Bound the segments in flight: wait for the oldest when all threads are busy."""
        running = [u for u in self.uploads if not u.future.done()]
        if len(running) >= UPLOAD_THREADS:
            self._result(running[0])
        for upload in self.uploads:
            if upload.future.done():
                self._result(upload)

    def _result(self, upload):
        try:
            upload.future.result(timeout=TIMEOUT * (RETRIES + 1))
        except futures.TimeoutError:
            raise exceptions.BackendUnavailable() from None
        except ERRORS as e:
            reraise(e, upload.name)

    def write(self, chunk):
        """Send ``chunk``, split at segment boundaries.

        :raises: StorageFull, BackendUnavailable, AuthorizationFailure, SizeMismatch
        """
        try:
            view = memoryview(chunk)
            while view:
                if self.current is None or self.room == 0:
                    if self.current is not None:
                        if not self.segmented:
                            raise exceptions.SizeMismatch(expected=self.size,
                                                          actual=self.written + len(view))
                        self.current.put(_END)
                    self._start_upload()
                n = min(self.room, len(view))
                # NOTE: a whole chunk is passed as is (no copy); only a piece that
                # straddles a segment boundary is copied.
                self.current.put(chunk if n == len(chunk) else bytes(view[:n]))
                self.room -= n
                self.written += n
                view = view[n:]
        except ERRORS as e:
            reraise(e, self.loc.obj)

    def commit(self):
        """Finish the uploads, then write the manifest; return (url, {})."""
        try:
            if self.current is not None:
                self.current.put(_END)
            elif not self.segmented:
                self._start_upload()  # an empty object
                self.current.put(_END)
            for upload in self.uploads:
                self._result(upload)
            conn = self.store.connect(self.loc)
            if self.segmented:
                # Segments of an earlier image with the same id would join the DLO.
                self.store._delete_segments(conn, self.loc.container, self.loc.obj + "-",
                                            first=len(self.uploads) + 1)
                conn.put_object(self.loc.container, self.loc.obj, b"", content_length=0,
                                headers={"X-Object-Manifest": "%s/%s-" % (
                                    self.loc.container, self.loc.obj)})
            self.store.remember(conn)
        except ERRORS as e:
            reraise(e, self.loc.obj)
        finally:
            self.pool.shutdown(wait=False)
        return self.location, {}

    def abort(self):
        """Stop the uploads and delete whatever was written.

        :raises: BackendUnavailable (the partial data stays; ``delete(location)`` later)
        """
        for upload in self.uploads:
            if not upload.future.done():
                try:
                    upload.queue.put(_ABORT, timeout=TIMEOUT)
                except queue.Full:
                    pass
        futures.wait([u.future for u in self.uploads], timeout=TIMEOUT * (RETRIES + 1))
        self.pool.shutdown(wait=False)
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass
