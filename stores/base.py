"""The driver interface every store implements, and the shared chunked-I/O helpers."""

import dataclasses
import logging
import urllib.parse

from stores import config
from stores import exceptions
from stores.hashing import ParallelHasher

LOG = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1024 * 1024

# Capability names (glance_store's BitMasks, spelled out).
READ_ACCESS = "read_access"
READ_RANDOM = "read_random"
WRITE_ACCESS = "write_access"
DRIVER_REUSABLE = "driver_reusable"


def read_chunks(stream, chunk_size):
    """Yield non-empty chunks of at most ``chunk_size`` bytes read from ``stream``."""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk


def limit_chunks(chunks, skip=0, length=None):
    """Yield the bytes of ``chunks`` after dropping ``skip`` and stopping at ``length``."""
    remaining = length
    for chunk in chunks:
        if skip:
            if len(chunk) <= skip:
                skip -= len(chunk)
                continue
            chunk = chunk[skip:]
            skip = 0
        if remaining is not None:
            if len(chunk) >= remaining:
                if remaining:
                    yield chunk[:remaining]
                return
            remaining -= len(chunk)
        yield chunk


def scheme_of(url):
    """Return the lower-case scheme of ``url``; raise BadStoreUri if it has none."""
    if not isinstance(url, str) or "://" not in url:
        raise exceptions.BadStoreUri(uri=url)
    return urllib.parse.urlsplit(url).scheme.lower()


class BodyIterator:
    """Yield a response body's chunks; a backend error becomes a stores exception.

    ``chunks`` iterates the body; ``errors`` are the client library's exception classes,
    turned into stores exceptions by ``reraise(error, what)``. The body is closed (its
    connection released) at the end, on an error, or by ``close()``.
    """

    def __init__(self, body, chunks, errors, reraise, what):
        self.body = body
        self.what = what
        self._iter = iter(chunks)
        self._errors = errors
        self._reraise = reraise

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._iter)
        except StopIteration:
            self.close()
            raise
        except self._errors as e:
            self.close()
            self._reraise(e, self.what)

    def close(self):
        """Release the connection."""
        close = getattr(self.body, "close", None)
        if close is not None:
            try:
                close()
            except self._errors:
                pass


@dataclasses.dataclass(frozen=True)
class AddResult:
    """What :meth:`Store.add` stored, as every driver returns it.

    ``url`` is the new object's location, ``size`` the number of bytes written and
    ``metadata`` the location metadata (``{"store": id}`` in multi-store mode).
    """

    url: str
    size: int
    metadata: dict


class Writer:
    """One object being written by :meth:`Store.add`; drivers subclass it.

    ``location`` is the URL the object will have once committed, set by ``begin_add``:
    ``Store.delete(location)`` removes whatever a failed write left behind.
    """

    location = None

    def write(self, chunk):
        """Write one chunk; raise a stores exception on a storage error."""
        raise NotImplementedError

    def commit(self):
        """Make the object visible under its final name; return (url, metadata)."""
        raise NotImplementedError

    def abort(self):
        """Remove whatever was written; must not raise."""


class Store:
    """Base class of store drivers (see docs/internals.md §6).

    ``get`` returns ``(iterator, total_size)``: the iterator yields the bytes from
    ``offset`` on, at most ``length`` of them, and has ``close()``; ``total_size`` is
    the size of the whole object (0 when the backend cannot tell).
    """

    schemes = ()
    read_only = False
    # Name of the driver type (the entry point name): "file", "http", ...
    type_name = None
    OPTIONS = ()
    CAPABILITIES = frozenset({READ_ACCESS})

    def __init__(self, conf, backend_group=None):
        self.conf = conf
        self.backend_group = backend_group
        self.group = backend_group or config.GLANCE_STORE_GROUP
        config.register_group_opts(conf, self.OPTIONS, self.group)
        if backend_group:
            config.register_group_opts(conf, config.MULTI_BACKEND_OPTS, self.group)
        self.store_conf = conf[self.group]
        self.add_enabled = not self.read_only
        self.chunk_size = DEFAULT_CHUNK_SIZE

    @property
    def store_id(self):
        """Return the backend id (multi-store) or the driver type (single store)."""
        return self.backend_group or self.type_name

    @property
    def capabilities(self):
        """Return the capability names this store currently has."""
        caps = set(self.CAPABILITIES)
        if not self.add_enabled:
            caps.discard(WRITE_ACCESS)
        return frozenset(caps)

    @property
    def description(self):
        """Return ``store_description`` of the backend group, or None."""
        if not self.backend_group:
            return None
        return self.store_conf.store_description

    @property
    def weight(self):
        """Return the backend ``weight`` (0 in single-store mode)."""
        if not self.backend_group:
            return 0
        return self.store_conf.weight

    def configure(self):
        """Check the configuration; raise BadStoreConfiguration if it is unusable."""

    def properties(self):
        """Return the driver properties shown by ``GET /v2/info/stores/detail``."""
        return {}

    def owns(self, url):
        """Return True if ``url`` points into this store (scheme and, if known, prefix)."""
        return scheme_of(url) in self.schemes

    def get(self, location, offset=0, length=None):
        """Return (iterator of chunks, total size) for the object at ``location``.

        :raises: NotFound, BadStoreUri, BackendUnavailable, StoreGetNotSupported
        """
        raise exceptions.StoreGetNotSupported()

    def get_size(self, location):
        """Return the size in bytes of the object at ``location``.

        :raises: NotFound, BadStoreUri, BackendUnavailable
        """
        raise exceptions.StoreGetNotSupported()

    def location_project(self, location):
        """Return the project that owns the data at ``location``, or None when this store
        keeps no per-project data (every store but cinder).

        :raises: NotFound, BadStoreUri, BackendUnavailable
        """
        return None

    def open_file(self, location):
        """Return (open binary file, size) for zero-copy sending, or None."""
        return None

    def delete(self, location):
        """Delete the object at ``location``.

        :raises: NotFound, InUseByStore, StoreDeleteNotSupported, BackendUnavailable
        """
        raise exceptions.StoreDeleteNotSupported()

    def begin_add(self, image_id, size):
        """Return a :class:`Writer` for a new object; drivers that accept writes override."""
        raise exceptions.StoreAddDisabled()

    def add(self, image_id, stream, size, hashers=(), on_begin=None):
        """Store ``stream`` as ``image_id``; return its :class:`AddResult`.

        ``size`` is the declared byte count or None when unknown. Every byte written is
        fed to each of ``hashers`` (in helper threads, in parallel with the write). On
        any error the partial object is deleted before the error is re-raised.
        ``on_begin(location)``, when given, is called with the writer's ``location``
        before the first byte is written (the caller records it, so that data a crash
        leaves behind can be found and deleted later).

        :raises: Duplicate, SizeMismatch, StorageFull, StorageWriteDenied,
                 StoreAddDisabled, and whatever ``stream.read`` raises
        """
        if not self.add_enabled:
            raise exceptions.StoreAddDisabled()
        writer = self.begin_add(image_id, size)
        hasher = None
        written = 0
        try:
            if on_begin is not None:
                on_begin(writer.location)
            hasher = ParallelHasher(hashers)
            for chunk in read_chunks(stream, self.chunk_size):
                written += len(chunk)
                if size is not None and written > size:
                    raise exceptions.SizeMismatch(expected=size, actual=written)
                # NOTE: read() returned a new object nobody else changes: no copy.
                hasher.update(chunk, owned=True)
                writer.write(chunk)
            if size is not None and written != size:
                raise exceptions.SizeMismatch(expected=size, actual=written)
            hasher.close()
            url, metadata = writer.commit()
        except BaseException:
            # NOTE: BaseException too, so a client disconnect (GeneratorExit,
            # worker timeout) still removes the partial object.
            if hasher is not None:
                hasher.abort()
            _abort_quietly(writer, image_id)
            raise
        if self.backend_group:
            metadata["store"] = self.backend_group
        return AddResult(url, written, metadata)


def _abort_quietly(writer, image_id):
    try:
        writer.abort()
    except Exception:  # cleanup never masks the original error
        LOG.exception("Unable to remove partial image data for image %s", image_id)
