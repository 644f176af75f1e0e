"""One contract suite run against every store driver, each on its real backend."""

import dataclasses
import hashlib
import io
import os
import uuid

import pytest

from stores import exceptions
from stores.base import AddResult

DATA = os.urandom(3 * 1024 * 1024 + 17)  # spans several 1 MiB chunks, odd tail


class FileBackend:
    """Objects are put through the store itself."""

    writable = True

    def __init__(self, store, datadir):
        self.store = store
        self.datadir = datadir

    def put(self, image_id, data):
        added = self.store.add(image_id, io.BytesIO(data), len(data))
        assert added.size == len(data)
        return added.url

    def missing(self, image_id):
        return "file://%s/%s" % (self.datadir, image_id)


class HttpBackend:
    """Objects are files the local web server serves."""

    writable = False

    def __init__(self, store, base_url, docroot):
        self.store = store
        self.base_url = base_url
        self.docroot = docroot

    def put(self, image_id, data):
        with open(os.path.join(self.docroot, image_id), "wb") as f:
            f.write(data)
        return "%s/files/%s" % (self.base_url, image_id)

    def missing(self, image_id):
        return "%s/files/%s" % (self.base_url, image_id)


@pytest.fixture(params=["file", "http"])
def backend(request, datadir):
    """Yield each driver wrapped with a way to seed objects in its real backend."""
    if request.param == "file":
        return FileBackend(request.getfixturevalue("file_store"), datadir)
    base_url, docroot = request.getfixturevalue("http_server")
    return HttpBackend(request.getfixturevalue("http_store"), base_url, docroot)


def new_id():
    return str(uuid.uuid4())


def test_get_whole_object(backend):
    url = backend.put(new_id(), DATA)
    chunks, size = backend.store.get(url)
    body = b"".join(chunks)
    assert size == len(DATA)
    assert body == DATA


def test_get_yields_bounded_chunks(backend):
    url = backend.put(new_id(), DATA)
    chunks, _ = backend.store.get(url)
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= 1024 * 1024
    assert sum(sizes) == len(DATA)


@pytest.mark.parametrize("offset,length", [
    (0, 1), (1, None), (100, 1000), (1024 * 1024 - 3, 10), (len(DATA) - 5, None),
    (len(DATA) - 5, 100), (0, len(DATA)), (2 * 1024 * 1024 + 1, 1024 * 1024 + 7),
])
def test_get_range(backend, offset, length):
    url = backend.put(new_id(), DATA)
    chunks, size = backend.store.get(url, offset=offset, length=length)
    end = None if length is None else offset + length
    assert b"".join(chunks) == DATA[offset:end]
    assert size == len(DATA)


def test_get_offset_at_end_yields_nothing(backend):
    url = backend.put(new_id(), DATA)
    chunks, size = backend.store.get(url, offset=len(DATA))
    assert b"".join(chunks) == b""
    assert size == len(DATA)


def test_get_iterator_can_be_closed_early(backend):
    url = backend.put(new_id(), DATA)
    chunks, _ = backend.store.get(url)
    first = next(chunks)
    chunks.close()
    assert first == DATA[:len(first)]
    assert list(chunks) == []


def test_get_size(backend):
    url = backend.put(new_id(), DATA)
    assert backend.store.get_size(url) == len(DATA)


def test_empty_object(backend):
    url = backend.put(new_id(), b"")
    chunks, size = backend.store.get(url)
    assert (b"".join(chunks), size) == (b"", 0)
    assert backend.store.get_size(url) == 0


def test_get_missing_is_not_found(backend):
    url = backend.missing(new_id())
    with pytest.raises(exceptions.NotFound):
        backend.store.get(url)
    with pytest.raises(exceptions.NotFound):
        backend.store.get_size(url)


def test_delete(backend):
    url = backend.put(new_id(), DATA)
    if not backend.writable:
        with pytest.raises(exceptions.StoreDeleteNotSupported):
            backend.store.delete(url)
        assert backend.store.get_size(url) == len(DATA)
        return
    backend.store.delete(url)
    with pytest.raises(exceptions.NotFound):
        backend.store.get(url)
    with pytest.raises(exceptions.NotFound):
        backend.store.delete(url)


def test_add(backend):
    image_id = new_id()
    hashers = [hashlib.md5(), hashlib.sha512()]
    if not backend.writable:
        with pytest.raises(exceptions.StoreAddDisabled):
            backend.store.add(image_id, io.BytesIO(DATA), len(DATA), hashers)
        assert "write_access" not in backend.store.capabilities
        return
    added = backend.store.add(image_id, io.BytesIO(DATA), len(DATA), hashers)
    assert added == AddResult(backend.missing(image_id), len(DATA), {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        added.url = "elsewhere"
    url = added.url
    assert hashers[0].hexdigest() == hashlib.md5(DATA).hexdigest()
    assert hashers[1].hexdigest() == hashlib.sha512(DATA).hexdigest()
    assert b"".join(backend.store.get(url)[0]) == DATA


def test_wrong_scheme_is_bad_uri(backend):
    other = "http://127.0.0.1:1/x" if backend.writable else "file:///tmp/x"
    with pytest.raises(exceptions.BadStoreUri):
        backend.store.get(other)
    with pytest.raises(exceptions.BadStoreUri):
        backend.store.get_size("not a url")
