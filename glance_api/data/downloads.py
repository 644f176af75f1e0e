"""Download orchestration: GET /v2/images/{id}/file (docs/glance-api.md §4.2).

The store stream is opened before the first byte is sent, trying each active location in
turn; once headers are out an error can only drop the connection, so the body enforces
its byte count. The file store is served zero-copy: the response stream is the open file
positioned at the offset, and gunicorn's wsgi.file_wrapper sends it with sendfile(2)
from the current file offset for exactly Content-Length bytes.
"""

import itertools
import logging
import re

from glance_api import exceptions
from glance_api.rules import policy
from glance_registry import exceptions as registry_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

# PERF: at least this much per write so a chunked driver does not cost one syscall per
# small chunk (python-glanceclient's 64 KiB → 1 MiB change doubled Cinder downloads).
MIN_CHUNK = 1024 * 1024
DEACTIVATED = ('The requested image has been deactivated. Image data download is '
               'forbidden.')
MULTIPLE_RANGES = ('Requests with multiple ranges are not supported in Glance. You may make '
                   'multiple single-range requests instead.')
# WebOb's parsers (webob.byterange), which Glance uses: prefix matches, ends inclusive.
_RANGE_RE = re.compile(r'bytes *= *(\d*) *- *(\d*)', re.I)
_CONTENT_RANGE_RE = re.compile(r'bytes (?:(\d+)-(\d+)|[*])/(?:(\d+)|[*])')
# Store errors after which the next location may still serve the data.
_RETRYABLE = (store_exc.NotFound, store_exc.BackendUnavailable, store_exc.BadStoreUri,
              store_exc.UnknownScheme, store_exc.StoreGetNotSupported,
              store_exc.OperationTimeout, OSError)


class Download:
    """What the responder sends: status, headers and a body (file-like or iterable)."""

    def __init__(self, status, headers=None, body=None, length=0, image=None):
        self.image = image   # for image.send and the bytes-out metric
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.length = length


def parse_prefer(value):
    """Return the store ids of ``?prefer=a,b`` (Glance's download deserializer)."""
    return [store.strip() for store in (value or '').split(',') if store.strip()]


def preferred_first(stores, locations, prefer):
    """Return ``locations`` with those in the ``prefer`` stores first (Glance 33's
    download-from-suggested-stores); each group keeps its order.

    :raises: BadRequest when store selection is unavailable or a store is not configured
    """
    if not stores.multi_store:
        raise exceptions.BadRequest('Store selection for download is not available when '
                                    'multiple backends are not enabled.')
    configured = stores.store_ids()
    for store_id in prefer:
        if store_id not in configured:
            raise exceptions.BadRequest("Store '%s' is not configured." % store_id)
    wanted = set(prefer)
    preferred = [loc for loc in locations
                 if (loc.get('metadata') or {}).get('store') in wanted]
    return preferred + [loc for loc in locations if loc not in preferred]


def prepare(registry, stores, ctx, image_id, range_header=None, content_range_header=None,
            *, enforcer, cache=None, prefer=None):
    """Check access, parse the range and open the data; return a :class:`Download`.

    ``prefer`` is the list of store ids of ``?prefer=`` (read those copies first); as in
    Glance, where the cache middleware answers before it is looked at, it is ignored for
    an image served from the cache.

    :raises: ImageNotFound (404), Forbidden (403), BadRequest (400),
             RangeNotSatisfiable (416), store errors (e.g. BackendUnavailable 503)
    """
    try:
        image = registry.image_get(ctx, image_id)
    except registry_exc.ImageNotFound:
        raise exceptions.NotFound('No image found with ID %s' % image_id) from None
    policy.enforce_image(enforcer, ctx, 'download_image', image)
    if image['status'] == 'deactivated' and not ctx.is_admin:
        raise exceptions.Forbidden(DEACTIVATED)
    locations = [loc for loc in image.get('locations') or () if loc.get('status') == 'active']
    if prefer and not (cache is not None and cache.is_cached(image_id)):
        policy.enforce_image(enforcer, ctx, 'download_from_store', image)
        locations = preferred_first(stores, locations, prefer)
        image = dict(image, locations=locations)   # a cache fill reads them in this order
    if not locations:
        return Download(204)
    try:
        size = image['size']
        if size is None:
            first = locations[0]
            store = stores.for_location(first['url'], first.get('metadata'))
            size = store.get_size(first['url'])
        offset, length, content_range = parse_range(range_header, content_range_header, size)
        body = cache.open(ctx, image, offset, length) if cache is not None else None
        if body is None:
            body = _open(stores, locations, offset, length)
            if cache is not None:
                LOG.info('Image cache: sending %d bytes of image %s straight from the store',
                         length, image_id)
    except store_exc.NotFound:
        return Download(204)  # Glance: the store has no data for the image
    headers = {'Content-Type': 'application/octet-stream'}
    if content_range:
        headers['Content-Range'] = content_range
    if image.get('checksum'):
        headers['Content-MD5'] = image['checksum']
    return Download(206 if content_range else 200, headers, body, length, image)


def parse_range(range_header, content_range_header, size):
    """Return (offset, length, Content-Range value or None) as Glance computes them.

    :raises: exceptions.BadRequest (multiple ranges), exceptions.RangeNotSatisfiable
    """
    if range_header is not None:
        return _parse_range(range_header, size)
    if content_range_header is not None:
        return _parse_content_range(content_range_header, size)
    return 0, size, None


def _parse_range(header, size):
    if ',' in header:
        raise exceptions.BadRequest(MULTIPLE_RANGES)
    match = _RANGE_RE.match(header)
    if not match or not (match.group(1) or match.group(2)):
        raise exceptions.RangeNotSatisfiable('Invalid Range header.')
    first, last = match.groups()
    if not first:
        start, end = -int(last), None  # suffix: the last n bytes
    else:
        start = int(first)
        end = int(last) + 1 if last else None
        if end is not None and start >= end:
            raise exceptions.RangeNotSatisfiable('Invalid Range header.')
    if start >= size:
        raise exceptions.RangeNotSatisfiable(
            'Invalid start position in Range header. Start position MUST be in the '
            'inclusive range [0, %s].' % (size - 1))
    offset = start if start >= 0 else (size + start if -start < size else 0)
    if end is not None and end < size:
        return offset, end - offset, 'bytes %s-%s/%s' % (offset, end - 1, size)
    return offset, size - offset, 'bytes %s-%s/%s' % (offset, size - 1, size)


def _parse_content_range(header, size):
    match = _CONTENT_RANGE_RE.match(header)
    if not match or match.group(1) is None:
        raise exceptions.RangeNotSatisfiable('Invalid Content-Range header.')
    start, stop = int(match.group(1)), int(match.group(2)) + 1
    total = int(match.group(3)) if match.group(3) else None
    if start >= stop or (total is not None and stop > total):
        raise exceptions.RangeNotSatisfiable('Invalid Content-Range header.')
    if total is None and stop > size:
        raise exceptions.RangeNotSatisfiable(
            'Invalid stop position in Content-Range header. The stop position MUST be in '
            'the inclusive range [0, %s].' % (size - 1))
    if start >= size:
        raise exceptions.RangeNotSatisfiable(
            'Invalid start position in Content-Range header. Start position MUST be in '
            'the inclusive range [0, %s].' % (size - 1))
    stop = min(stop, size)
    return start, stop - start, 'bytes %s-%s/%s' % (start, stop - 1, size)


def _open(stores, locations, offset, length):
    """Open the first location that works; raise the last error if none does."""
    error = None
    for loc in locations:
        url = loc['url']
        try:
            store = stores.for_location(url, loc.get('metadata'))
            opened = store.open_file(url)
            if opened is not None:
                fileobj, _size = opened
                return FileSlice(fileobj, offset, length)
            chunks, _size = store.get(url, offset=offset, length=length)
            return counted_chunks(_Prefetched(chunks), length)
        except _RETRYABLE as e:
            LOG.warning('Unable to open image data at one location, trying the next: %r', e)
            error = e
    raise error


class _Prefetched:
    """A store iterator whose first chunk is read at once: a store failing on its first
    read is then still an error answer (or a fall back to the next location), not a
    dropped connection."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._it = iter(chunks)
        try:
            self._first = (next(self._it),)
        except StopIteration:
            self._first = ()
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        return itertools.chain(self._first, self._it)

    def close(self):
        """Close the store iterator (releases its file or connection)."""
        close = getattr(self._chunks, 'close', None)
        if close is not None:
            close()


class FileSlice:
    """``length`` bytes of an open file from ``offset``: the zero-copy response body.

    gunicorn's sendfile path reads the file descriptor's current offset (set here) and
    sends Content-Length bytes; the ``read`` path (TLS, test clients) stops at the
    slice end and fails loudly on a short file so the connection is dropped.
    """

    def __init__(self, fileobj, offset, length):
        self._file = fileobj
        self._remaining = length
        fileobj.seek(offset)

    def fileno(self):
        """Return the descriptor of the underlying file (for sendfile)."""
        return self._file.fileno()

    def seek(self, pos, whence=0):
        """Move the underlying file offset (socket.sendfile does this when done)."""
        return self._file.seek(pos, whence)

    def read(self, size=-1):
        """Return up to ``size`` bytes of the slice; raise IOError if the file is short."""
        if self._remaining <= 0:
            return b''
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._file.read(want)
        if not data:
            raise OSError('Image data ended %d bytes early' % self._remaining)
        self._remaining -= len(data)
        return data

    def close(self):
        """Close the underlying file."""
        self._file.close()


def counted_chunks(chunks, length):
    """Yield exactly ``length`` bytes from ``chunks`` in pieces of at least MIN_CHUNK.

    :raises: OSError when the store ends early, so the server drops the connection
             instead of ending a response shorter than its Content-Length
    """
    remaining = length
    pending = bytearray()
    try:
        for chunk in chunks:
            if len(chunk) > remaining:
                chunk = chunk[:remaining]
            remaining -= len(chunk)
            if pending or len(chunk) < MIN_CHUNK:
                pending += chunk
                if len(pending) >= MIN_CHUNK or not remaining:
                    yield bytes(pending)
                    pending = bytearray()
            else:
                yield chunk
            if not remaining:
                return
        if pending:
            yield bytes(pending)
        if remaining:
            raise OSError('Image data ended %d bytes early' % remaining)
    finally:
        close = getattr(chunks, 'close', None)
        if close is not None:
            close()
