"""Unit tests of glance_api.cache.image_cache: one fill per image, zero-copy hits, prune,
clean."""

import hashlib
import os
import threading
import time
import types

import pytest

from glance_api.cache import image_cache
from glance_api.cache import index as cache_index
from glance_api.data import downloads

MiB = 1024 * 1024


class CountingStore:
    """A store serving ``data`` in chunks, counting every byte it hands out."""

    def __init__(self, data, chunk=256 * 1024, delay=0.0, fail_at=None):
        self.data = data
        self.chunk = chunk
        self.delay = delay
        self.fail_at = fail_at   # fail the first get() after this many bytes
        self.bytes_read = 0
        self.gets = 0
        self._lock = threading.Lock()

    def for_location(self, url, metadata=None):
        return self

    def get(self, url, offset=0, length=None):
        with self._lock:
            self.gets += 1
            fail_at, self.fail_at = self.fail_at, None
        end = len(self.data) if length is None else offset + length

        def chunks():
            pos = offset
            while pos < end:
                if fail_at is not None and pos - offset >= fail_at:
                    raise OSError('store connection reset')
                piece = self.data[pos:min(pos + self.chunk, end)]
                with self._lock:
                    self.bytes_read += len(piece)
                pos += len(piece)
                if self.delay:
                    time.sleep(self.delay)
                yield piece
        return chunks(), len(self.data)


def _image(data, image_id='11111111-2222-3333-4444-555555555555', **extra):
    image = {'id': image_id, 'status': 'active', 'size': len(data),
             'checksum': hashlib.md5(data, usedforsecurity=False).hexdigest(),
             'os_hash_algo': 'sha512', 'os_hash_value': hashlib.sha512(data).hexdigest(),
             'locations': [{'url': 'file:///x', 'metadata': {}, 'status': 'active'}]}
    image.update(extra)
    return image


def _cache(tmp_path, store, max_size=10 * MiB, stall_time=86400):
    conf = types.SimpleNamespace(image_cache_dir=str(tmp_path / 'cache'),
                                 image_cache_max_size=max_size,
                                 image_cache_stall_time=stall_time)
    os.makedirs(conf.image_cache_dir, exist_ok=True)
    index = cache_index.LocalIndex(str(tmp_path / 'cache' / 'cache.db'))
    return image_cache.ImageCache(conf, index, store)


def _read(body):
    if hasattr(body, 'read'):
        out = bytearray()
        while True:
            piece = body.read(MiB)
            if not piece:
                body.close()
                return bytes(out)
            out += piece
    try:
        return b''.join(body)
    finally:
        body.close()


def _wait_cached(cache, image_id, timeout=10):
    def recorded():
        return any(e['image_id'] == image_id for e in cache.get_cached_images(None))

    deadline = time.monotonic() + timeout
    while not recorded() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cache.is_cached(image_id) and recorded()


def test_ten_concurrent_first_downloads_read_the_store_once(tmp_path):
    data = os.urandom(8 * MiB + 123)
    store = CountingStore(data, delay=0.002)
    cache = _cache(tmp_path, store)
    image = _image(data)
    digests, errors = [], []
    barrier = threading.Barrier(10)

    def download():
        try:
            barrier.wait()
            body = cache.open(None, image, 0, len(data))
            digests.append(hashlib.sha256(_read(body)).hexdigest())
        except Exception as e:   # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=download) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert digests == [hashlib.sha256(data).hexdigest()] * 10
    assert store.bytes_read == len(data)
    assert store.gets == 1
    assert _wait_cached(cache, image['id'])
    assert [e['image_id'] for e in cache.get_cached_images(None)] == [image['id']]


def test_cached_image_served_zero_copy_with_ranges(tmp_path):
    data = os.urandom(3 * MiB)
    store = CountingStore(data)
    cache = _cache(tmp_path, store)
    image = _image(data)
    assert cache.open(None, image, 10, 100) is None   # ranges of uncached images: the store
    assert _read(cache.open(None, image, 0, len(data))) == data
    assert _wait_cached(cache, image['id'])
    read_before = store.bytes_read
    body = cache.open(None, image, 1000, 5000)
    assert isinstance(body, downloads.FileSlice)
    assert body.fileno() >= 0
    assert _read(body) == data[1000:6000]
    assert _read(cache.open(None, image, 0, len(data))) == data
    assert store.bytes_read == read_before
    assert cache.get_cached_images(None)[0]['hits'] == 2


def test_checksum_mismatch_is_not_cached(tmp_path):
    data = os.urandom(MiB)
    cache = _cache(tmp_path, CountingStore(data))
    image = _image(data, checksum='0' * 32)
    assert _read(cache.open(None, image, 0, len(data))) == data
    deadline = time.monotonic() + 10
    invalid = os.path.join(cache.base_dir, 'invalid', image['id'])
    while not os.path.exists(invalid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists(invalid)
    assert not cache.is_cached(image['id'])
    assert cache.get_cached_images(None) == []


def test_failed_fill_followers_finish_from_the_store(tmp_path):
    data = os.urandom(4 * MiB)
    store = CountingStore(data, delay=0.001, fail_at=MiB)
    cache = _cache(tmp_path, store)
    image = _image(data)
    results = []

    def download():
        results.append(_read(cache.open(None, image, 0, len(data))))

    threads = [threading.Thread(target=download) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [data] * 3
    assert not cache.is_cached(image['id'])


def test_hung_fill_readers_finish_from_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(image_cache, 'STALL_FALLBACK', 0.3)
    data = os.urandom(2 * MiB)
    release = threading.Event()

    class HangingStore(CountingStore):
        def get(self, url, offset=0, length=None):
            chunks, size = super().get(url, offset, length)
            if offset:
                return chunks, size

            def hang_after_first():
                it = iter(chunks)
                yield next(it)
                release.wait(30)   # the first fill's store connection hangs
                yield from it
            return hang_after_first(), size

    store = HangingStore(data)
    cache = _cache(tmp_path, store)
    image = _image(data)
    started = time.monotonic()
    assert _read(cache.open(None, image, 0, len(data))) == data
    assert time.monotonic() - started < 10
    release.set()
    assert _wait_cached(cache, image['id'])   # the hung fill still completes later


def test_unknown_size_or_inactive_not_cacheable(tmp_path):
    data = os.urandom(1000)
    cache = _cache(tmp_path, CountingStore(data))
    assert cache.open(None, _image(data, size=None), 0, 1000) is None
    assert cache.open(None, _image(data, status='deactivated'), 0, 1000) is None


def test_prune_evicts_least_recently_used(tmp_path):
    cache = _cache(tmp_path, None, max_size=2 * MiB)
    images = []
    for n in range(3):
        data = os.urandom(MiB)
        image = _image(data, image_id='%036d' % n)
        cache.stores = CountingStore(data)
        assert cache.fill(None, image)
        images.append(image)
        time.sleep(0.01)
    cache.open(None, images[0], 0, MiB).close()   # a hit: 0 is now the most recent
    assert cache.get_cache_size() == 3 * MiB
    assert cache.prune(None) == (1, MiB)
    assert not cache.is_cached(images[1]['id'])
    assert cache.is_cached(images[0]['id']) and cache.is_cached(images[2]['id'])
    assert cache.prune(None) == (0, 0)


def test_clean_removes_invalid_and_stalled_only(tmp_path):
    cache = _cache(tmp_path, None, stall_time=60)
    for name in ('bad1', 'bad2'):
        open(cache.path(name, 'invalid'), 'wb').close()
    stale, fresh, busy = (cache.path(n, 'incomplete') for n in ('stale', 'fresh', 'busy'))
    for path in (stale, fresh, busy):
        open(path, 'wb').close()
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(busy, (old, old))
    with open(busy, 'rb') as held:
        import fcntl
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert cache.clean() == (2, 1)
    assert not os.path.exists(stale)
    assert os.path.exists(fresh) and os.path.exists(busy)
    assert os.listdir(os.path.join(cache.base_dir, 'invalid')) == []


def test_queue(tmp_path):
    data = os.urandom(1000)
    cache = _cache(tmp_path, CountingStore(data))
    image = _image(data)
    assert cache.queue_image(image['id']) is True
    assert cache.queue_image(image['id']) is False
    assert cache.queue_image('other') is True
    assert cache.get_queued_images() == sorted([image['id'], 'other'],
                                               key=lambda i: i != image['id'])
    assert cache.fill(None, image)
    assert cache.queue_image(image['id']) is False   # cached now
    assert cache.get_queued_images() == ['other']   # the fill took it off the queue
    assert cache.delete_all_queued_images() == 1
    assert cache.delete_all_cached_images(None) == 1
    assert cache.get_cached_images(None) == []


@pytest.mark.parametrize('flavor,on', [('keystone+caching', True), ('cachemanagement', True),
                                       ('keystone', False), (None, False)])
def test_caching_enabled(flavor, on):
    conf = types.SimpleNamespace(image_cache_dir='/x',
                                 paste_deploy=types.SimpleNamespace(flavor=flavor))
    assert image_cache.caching_enabled(conf) is on
