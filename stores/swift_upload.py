"""The Swift store's writing side and its error mapping (see stores/swift.py).

An upload below the large-object size is one PUT; a larger one (or one of unknown size)
is written as segments, each sent by a helper thread fed chunk by chunk through a small
bounded queue (stores/streams.py), so a few segments can be in flight at once and memory
stays at a few chunks per thread; ``commit`` writes the DLO manifest.
"""

import functools
import logging
from concurrent import futures

import requests
import swiftclient
from keystoneauth1 import exceptions as ks_exceptions

from stores import base
from stores import exceptions
from stores import streams

LOG = logging.getLogger(__name__)

# Seconds before a Swift request without an answer fails (swiftclient's per-request
# timeout); with RETRIES this bounds how long a dead backend holds a worker.
TIMEOUT = 60
RETRIES = 2
STARTING_BACKOFF = 0.5
# Segments in flight at once per upload.
UPLOAD_THREADS = 4


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


def _put_object(conn, container, name, length, body):
    """Upload ``body`` (a streams.QueueBody) as ``container/name``, ``length`` bytes."""
    if length == 0:
        conn.put_object(container, name, b"", content_length=0)
    else:
        # NOTE: a file-like body (swiftclient sends a generator with a Content-Length
        # wrongly); chunk_size as large as our chunks.
        conn.put_object(container, name, body, content_length=length,
                        chunk_size=base.DEFAULT_CHUNK_SIZE)


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
        send = functools.partial(_put_object, conn, self.loc.container, name, length)
        self.current = streams.QueueBody(self.pool, send, "Swift", name)
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
                        self.current.end()
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
                self.current.end()
            elif not self.segmented:
                self._start_upload()  # an empty object
                self.current.end()
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
            upload.abort(TIMEOUT)
        futures.wait([u.future for u in self.uploads], timeout=TIMEOUT * (RETRIES + 1))
        self.pool.shutdown(wait=False)
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass
