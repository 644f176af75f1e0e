"""The contract every store driver keeps, run against each driver on its real server.

Usage (pytest style)::

    from tests.functional.stores.contract import StoreContract

    class TestSwiftContract(StoreContract):
        large_size = 3 * MiB + 123          # > the store's large-object threshold
        duplicate = "overwrite"             # or "raise" (Duplicate, first copy intact)

        @pytest.fixture
        def store(self, ...):               # a configured stores.Store, writable
            ...

        # optional hooks; a hook left as is skips the cases that need it
        def leftovers(self, store, url): ...          # backend names still under url
        def put_object(self, store, name, data): ...  # read-only stores: place data
        def unavailable_store(self, store): ...       # same store, server not reachable
        def bad_auth_store(self, store): ...          # same store, wrong credentials
        def full_store(self, store, room): ...        # context manager: at most ``room``
                                                      # more bytes fit (quota)
        def url_for(self, other, url): ...            # url as ``other`` store sees it

Interface, all optional except ``store``:

``store`` (fixture)
    A configured ``stores.Store``. Each test adds objects under fresh uuid ids and
    deletes them, so a store shared by xdist workers is fine.
``read_only`` (class attribute, default False)
    Only the read cases run; objects are placed with ``put_object``.
``large_size`` (class attribute, bytes)
    Size of the "large" case: larger than the store's segment/multipart threshold, so
    segments or multipart parts are used; None skips the large case.
``duplicate`` (class attribute)
    ``"raise"``: adding an id that exists raises Duplicate and the first object stays;
    ``"overwrite"``: the second add wins (Swift, as glance_store).
``leftovers(store, url) -> list``
    Names of everything the backend still holds for ``url`` (segments, unfinished
    multipart uploads, temporary files). Used to check that delete/abort/quota failure
    leave nothing behind. The default only checks that ``get_size`` raises NotFound.
``put_object(store, name, data) -> url``
    Put ``data`` where ``store`` can read it; the default is ``store.add``.
``unavailable_store(store) -> Store``
    A store whose server is down or unreachable (e.g. pointing at a closed loopback
    port: stopping a backend that another xdist worker shares is not safe). Its calls
    must raise BackendUnavailable within ``outage_seconds``.
``bad_auth_store(store) -> Store``
    The same store with a wrong key/password; calls raise AuthorizationFailure.
``full_store(store, room)``
    A context manager yielding a store in which at most ``room`` more bytes fit
    (quota); adding more raises StorageFull and leaves nothing behind.
``url_for(other, url) -> url``
    The URL of the same object as seen through ``other`` (an unavailable or bad-auth
    store), for drivers whose URLs carry the address or credentials (swift+http);
    the default returns ``url`` unchanged.
``stop_backend()/start_backend()``
    Only for backends private to one test process; the default skips.
"""

import contextlib
import hashlib
import io
import socket
import time
import uuid

import pytest

from stores import exceptions

MiB = 1024 * 1024


def payload(size, seed=0):
    """Return ``size`` reproducible, incompressible-enough bytes."""
    block = hashlib.sha512(b"%d" % seed).digest() * 16  # 1 KiB
    whole, rest = divmod(size, len(block))
    return block * whole + block[:rest]


def read_all(iterator):
    """Join the chunks of a store iterator and close it."""
    try:
        return b"".join(iterator)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class FailingStream:
    """A file-like that yields ``good`` bytes and then raises OSError (client gone)."""

    def __init__(self, good):
        self.stream = io.BytesIO(good)

    def read(self, size=-1):
        chunk = self.stream.read(size)
        if not chunk:
            raise OSError("client went away")
        return chunk


class StoreContract:
    """Mixin of contract tests; see the module docstring for what subclasses provide."""

    read_only = False
    large_size = None
    duplicate = "raise"
    outage_seconds = 30

    # --- hooks -----------------------------------------------------------------

    def leftovers(self, store, url):
        """Return backend names still present for ``url`` (default: the object only)."""
        try:
            store.get_size(url)
        except exceptions.NotFound:
            return []
        return [url]

    def put_object(self, store, name, data):
        """Place ``data`` so ``store`` can read it; return its URL."""
        added = store.add(name, io.BytesIO(data), len(data))
        assert added.size == len(data)
        return added.url

    def unavailable_store(self, store):
        pytest.skip("no way to make this backend unavailable")

    def bad_auth_store(self, store):
        pytest.skip("this backend has no credentials")

    @contextlib.contextmanager
    def full_store(self, store, room):
        pytest.skip("this backend has no quota to fill")
        yield  # pragma: no cover

    def url_for(self, other, url):
        """Return ``url`` as seen through the store ``other``."""
        return url

    def stop_backend(self):
        pytest.skip("the backend is shared; use unavailable_store")

    def start_backend(self):
        pass

    # --- helpers ---------------------------------------------------------------

    def _put(self, store, data):
        name = str(uuid.uuid4())
        return self.put_object(store, name, data), name

    def _remove(self, store, url):
        with contextlib.suppress(exceptions.StoreError):
            store.delete(url)

    def _need_writable(self):
        if self.read_only:
            pytest.skip("read-only store")

    # --- reads -----------------------------------------------------------------

    @pytest.mark.parametrize("size", [1, 100 * 1024, 3 * MiB + 17])
    def test_put_get_roundtrip(self, store, size):
        data = payload(size, seed=size)
        url, _ = self._put(store, data)
        try:
            assert store.owns(url)
            iterator, total = store.get(url)
            assert read_all(iterator) == data
            assert total == size
            assert store.get_size(url) == size
        finally:
            self._remove(store, url)

    def test_empty_object(self, store):
        url, _ = self._put(store, b"")
        try:
            iterator, total = store.get(url)
            assert read_all(iterator) == b""
            assert total == 0
            assert store.get_size(url) == 0
        finally:
            self._remove(store, url)

    def test_get_offset_and_length(self, store):
        data = payload(2 * MiB + 5, seed=7)
        url, _ = self._put(store, data)
        try:
            cases = [(0, 10), (1, None), (MiB - 3, 9), (MiB + 1, MiB + 4), (len(data) - 1, 1)]
            for offset, length in cases:
                iterator, total = store.get(url, offset=offset, length=length)
                end = None if length is None else offset + length
                assert read_all(iterator) == data[offset:end], (offset, length)
                assert total in (len(data), 0)
        finally:
            self._remove(store, url)

    def test_chunks_are_bounded(self, store):
        """Reads stream: no chunk is the whole multi-MiB object at once."""
        data = payload(4 * MiB, seed=3)
        url, _ = self._put(store, data)
        try:
            iterator, _ = store.get(url)
            sizes = []
            try:
                for chunk in iterator:
                    sizes.append(len(chunk))
            finally:
                iterator.close()
            assert sum(sizes) == len(data)
            assert max(sizes) <= 2 * MiB
        finally:
            self._remove(store, url)

    def test_missing_object_not_found(self, store):
        url, _ = self._put(store, b"x")
        self._remove(store, url)
        missing = url.replace(url.rsplit("/", 1)[-1], "missing-" + uuid.uuid4().hex)
        with pytest.raises(exceptions.NotFound):
            store.get_size(missing)
        with pytest.raises(exceptions.NotFound):
            read_all(store.get(missing)[0])

    # --- writes ----------------------------------------------------------------

    def test_large_object_uses_segments(self, store):
        self._need_writable()
        if not self.large_size:
            pytest.skip("no large-object threshold for this store")
        data = payload(self.large_size, seed=11)
        added = store.add(str(uuid.uuid4()), io.BytesIO(data), None)
        url = added.url
        try:
            assert added.size == len(data)
            assert store.get_size(url) == len(data)
            assert read_all(store.get(url)[0]) == data
            offset = self.large_size // 2 + 3
            assert read_all(store.get(url, offset=offset, length=MiB)[0]) == \
                data[offset:offset + MiB]
        finally:
            store.delete(url)
        assert self.leftovers(store, url) == []

    def test_add_returns_url_size_and_hashes(self, store):
        self._need_writable()
        data = payload(MiB + 3, seed=5)
        sha = hashlib.sha256()
        added = store.add(str(uuid.uuid4()), io.BytesIO(data), len(data), hashers=[sha])
        try:
            assert added.size == len(data)
            assert sha.hexdigest() == hashlib.sha256(data).hexdigest()
            assert isinstance(added.metadata, dict)
            if store.backend_group:
                assert added.metadata["store"] == store.backend_group
        finally:
            store.delete(added.url)

    def test_delete_then_not_found(self, store):
        self._need_writable()
        url, _ = self._put(store, payload(1000))
        store.delete(url)
        with pytest.raises(exceptions.NotFound):
            store.get_size(url)
        with pytest.raises(exceptions.NotFound):
            read_all(store.get(url)[0])
        with pytest.raises(exceptions.NotFound):
            store.delete(url)
        assert self.leftovers(store, url) == []

    def test_duplicate_rules(self, store):
        self._need_writable()
        name = str(uuid.uuid4())
        first, second = payload(1000, seed=1), payload(2000, seed=2)
        url = store.add(name, io.BytesIO(first), len(first)).url
        try:
            if self.duplicate == "raise":
                with pytest.raises(exceptions.Duplicate):
                    store.add(name, io.BytesIO(second), len(second))
                assert read_all(store.get(url)[0]) == first
            else:
                url2 = store.add(name, io.BytesIO(second), len(second)).url
                assert url2 == url
                assert read_all(store.get(url)[0]) == second
        finally:
            store.delete(url)

    def test_size_mismatch_leaves_nothing(self, store):
        self._need_writable()
        data = payload(5000)
        with pytest.raises(exceptions.SizeMismatch):
            store.add(str(uuid.uuid4()), io.BytesIO(data), len(data) + 10)

    def test_failed_stream_leaves_nothing(self, store):
        """The client disconnects midway (past a segment if the store has them)."""
        self._need_writable()
        size = (self.large_size or 2 * MiB) - MiB // 2
        name = str(uuid.uuid4())
        writer = store.begin_add(name, None)
        url = writer.location
        writer.abort()
        with pytest.raises(OSError):
            store.add(name, FailingStream(payload(size)), None)
        assert self.leftovers(store, url) == []

    def test_writer_abort_removes_partial_data(self, store):
        self._need_writable()
        size = self.large_size or 2 * MiB
        writer = store.begin_add(str(uuid.uuid4()), size)
        assert isinstance(writer.location, str) and store.owns(writer.location)
        data = payload(size)
        for start in range(0, size - MiB, MiB):
            writer.write(data[start:start + MiB])
        writer.abort()
        assert self.leftovers(store, writer.location) == []
        with pytest.raises(exceptions.NotFound):
            store.get_size(writer.location)

    def test_storage_full(self, store):
        self._need_writable()
        size = self.large_size or 2 * MiB
        name = str(uuid.uuid4())
        with self.full_store(store, room=size // 2) as full:
            with pytest.raises(exceptions.StorageFull):
                full.add(name, io.BytesIO(payload(size)), size)
            url = full.begin_add(name, None).location
            assert self.leftovers(full, url) == []

    # --- failures --------------------------------------------------------------

    def test_backend_unavailable_is_prompt(self, store):
        url, _ = self._put(store, payload(100))
        try:
            down = self.unavailable_store(store)
            down_url = self.url_for(down, url)
            calls = [lambda: down.get_size(down_url), lambda: read_all(down.get(down_url)[0])]
            if not self.read_only:
                calls.append(lambda: down.add(str(uuid.uuid4()), io.BytesIO(b"abc"), 3))
                calls.append(lambda: down.delete(down_url))
            for call in calls:
                started = time.monotonic()
                with pytest.raises(exceptions.BackendUnavailable):
                    call()
                assert time.monotonic() - started < self.outage_seconds
        finally:
            self._remove(store, url)

    def test_wrong_credentials(self, store):
        url, _ = self._put(store, payload(100))
        try:
            bad = self.bad_auth_store(store)
            with pytest.raises(exceptions.AuthorizationFailure):
                bad.get_size(self.url_for(bad, url))
            if not self.read_only:
                with pytest.raises(exceptions.AuthorizationFailure):
                    bad.add(str(uuid.uuid4()), io.BytesIO(b"abc"), 3)
        finally:
            self._remove(store, url)

    def test_backend_restart(self, store):
        """Only for private backends: an outage raises BackendUnavailable, then heals."""
        url, _ = self._put(store, payload(100))
        try:
            self.stop_backend()
            try:
                with pytest.raises(exceptions.BackendUnavailable):
                    store.get_size(url)
            finally:
                self.start_backend()
            assert store.get_size(url) == 100
        finally:
            self._remove(store, url)


def free_port():
    """Return a loopback TCP port nobody listens on (for ``unavailable_store``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


