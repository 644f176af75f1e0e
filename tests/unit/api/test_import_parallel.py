"""import_flows: ``[image_import_opts] max_parallel_stores`` writes the staged data to
several stores at once, with the serial path's results and ``all_stores_must_succeed``
rules; the proxy decision of imports (which node holds staged data)."""
import hashlib
import os
import threading
import time
import types

import pytest

from glance_api.data import signatures
from glance_api.imports import flows as import_flows
from glance_api.imports import resources as imports
from glance_api.imports import staging
from glance_api.web.context import RequestContext
from stores.base import AddResult
from tests.unit.api.conftest import make_conf
from tests.unit.api.fakes import FakeRegistry

DATA = os.urandom(256 * 1024 + 3)
CHUNK = 16 * 1024


class Clock:
    """Counts the store writes in flight at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def enter(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1


class TimedStore:
    """A store that keeps the bytes it was given and when it read them, chunk by chunk
    with a pause, so writes in flight at once are seen overlapping."""

    def __init__(self, name, clock, fail_after=None):
        self.name, self.clock, self.fail_after = name, clock, fail_after
        self.objects, self.deleted, self.spans = {}, [], []

    def add(self, image_id, reader, size):
        start = time.monotonic()
        self.clock.enter()
        try:
            got = bytearray()
            while True:
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                got += chunk
                if self.fail_after is not None and len(got) >= self.fail_after:
                    raise OSError('disk on fire')
                time.sleep(0.01)
        finally:
            self.clock.leave()
            self.spans.append((start, time.monotonic()))
        url = 'fake://%s/%s' % (self.name, image_id)
        self.objects[url] = bytes(got)
        return AddResult(url, len(got), {'store': self.name})

    def delete(self, url):
        self.deleted.append(url)
        self.objects.pop(url, None)


class Stores:
    def __init__(self, stores):
        self.stores = stores
        self.default = stores[0]

    def for_store(self, name):
        return next(s for s in self.stores if s.name == name)


def _job(tmp_path, parallel, must_succeed=True, fail=None, method='glance-direct'):
    conf = make_conf(**{'enabled_backends': {'a': 'file', 'b': 'file', 'c': 'file'},
                        'image_import_opts.max_parallel_stores': parallel})
    # NOTE: a single-store conf gives the staging area a directory of the test's own.
    staged = staging.Staging(make_conf(node_staging_uri='file://%s/staging' % tmp_path))
    clock = Clock()
    stores = Stores([TimedStore(n, clock, fail_after=CHUNK * 3 if n == fail else None)
                     for n in 'abc'])
    registry = FakeRegistry()
    ctx = RequestContext(roles=['admin'], is_admin=True)
    image = registry.image_create(ctx, {
        'status': 'uploading', 'disk_format': 'raw', 'container_format': 'bare',
        'size': len(DATA), 'properties': {import_flows.LOCK: 't1'}})
    api = types.SimpleNamespace(conf=conf, registry=registry, stores=stores,
                                staging=staged, signatures=signatures.Signatures(conf))
    (tmp_path / 'staging').mkdir(parents=True)
    (tmp_path / 'staging' / image['id']).write_bytes(DATA)
    task = {'id': 't1', 'type': 'api_image_import',
            'input': {'image_id': image['id'], 'backend': ['a', 'b', 'c'],
                      'import_req': {'method': {'name': method},
                                     'all_stores_must_succeed': must_succeed}}}
    job = import_flows.ImportJob(api, ctx, task)
    return job, stores, clock


def _run(job):
    try:
        job.run()
    except Exception:
        job.revert()
        raise
    job.drop_lock()
    return job.api.registry.image_get(job.ctx, job.image_id)


def _overlap(stores):
    spans = [s.spans[0] for s in stores.stores]
    return max(start for start, _ in spans) < min(end for _, end in spans)


def test_parallel_writes_overlap_and_give_the_serial_result(tmp_path):
    results = {}
    for parallel in (1, 3):
        job, stores, clock = _job(tmp_path / str(parallel), parallel)
        image = _run(job)
        results[parallel] = (
            image['status'], image['size'], image['checksum'], image['os_hash_value'],
            sorted((loc['url'].split('/')[2], loc['status']) for loc in image['locations']),
            image['properties'].get(import_flows.IMPORTING),
            image['properties'].get(import_flows.FAILED),
            import_flows.LOCK in image['properties'],
            [obj == DATA for s in stores.stores for obj in s.objects.values()],
            job.staging.has(job.image_id))
        assert (clock.peak, _overlap(stores)) == ((1, False) if parallel == 1 else (3, True))
    assert results[1] == results[3]
    assert results[3] == (
        'active', len(DATA), hashlib.md5(DATA, usedforsecurity=False).hexdigest(),
        hashlib.sha512(DATA).hexdigest(), [('a', 'active'), ('b', 'active'), ('c', 'active')],
        '', '', False, [True, True, True], False)


def test_parallel_threads_are_bounded(tmp_path):
    job, stores, clock = _job(tmp_path, 2)
    assert _run(job)['status'] == 'active'
    assert clock.peak == 2
    assert all(s.objects for s in stores.stores)


def test_copy_image_stays_serial(tmp_path):
    job, _stores, _clock = _job(tmp_path, 3, method='copy-image')
    calls = []
    job._import_in_parallel = lambda *a: calls.append(a)
    job._import_one = lambda *a: calls.append('serial')
    job._store_done = lambda backend: None
    job._import_to_stores('path', {'size': 1})
    assert calls == ['serial'] * 3


@pytest.mark.parametrize('parallel', [1, 3])
def test_failing_store_rolls_back_when_all_must_succeed(tmp_path, parallel):
    job, stores, _clock = _job(tmp_path, parallel, fail='b')
    with pytest.raises(OSError, match='disk on fire'):
        _run(job)
    image = job.api.registry.image_get(job.ctx, job.image_id)
    assert (image['status'], image['locations'], image['checksum']) == ('queued', [], None)
    assert image['properties'][import_flows.IMPORTING] == ''
    assert import_flows.LOCK not in image['properties']
    assert all(not s.objects for s in stores.stores)
    if parallel == 3:
        # NOTE: the other writes were stopped (or their data deleted) after the failure.
        assert image['properties'][import_flows.FAILED] == 'a,b,c'
        # NOTE: the other two writes (17 chunks against b's 3) were stopped mid-stream,
        # not finished and then deleted.
        assert not stores.stores[0].deleted and not stores.stores[2].deleted
    else:
        assert image['properties'][import_flows.FAILED] == 'b,c'
        assert stores.stores[0].deleted and not stores.stores[2].spans


@pytest.mark.parametrize('parallel', [1, 3])
def test_failing_store_is_recorded_when_any_may_succeed(tmp_path, parallel):
    job, stores, _clock = _job(tmp_path, parallel, must_succeed=False, fail='b')
    image = _run(job)
    assert image['status'] == 'active'
    assert image['checksum'] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert sorted(loc['url'].split('/')[2] for loc in image['locations']) == ['a', 'c']
    assert image['properties'][import_flows.FAILED] == 'b'
    assert image['properties'][import_flows.IMPORTING] == ''
    assert not stores.stores[1].objects


@pytest.mark.parametrize('props, expected', [
    ({}, None),
    ({'os_glance_stage_host': 'http://a'}, None),
    ({'os_glance_stage_host': 'http://b'}, 'http://b'),
    ({'os_glance_stage_host': 'http://a', 'os_glance_hash_op_host': 'http://c'}, 'http://c'),
])
def test_proxy_host(props, expected):
    conf = make_conf(worker_self_reference_url='http://a')
    assert imports.proxy_host(conf, {'properties': props}) == expected


def test_proxy_host_falls_back_to_public_endpoint():
    conf = make_conf(public_endpoint='http://a')
    assert imports.proxy_host(conf, {'properties': {'os_glance_stage_host': 'http://a'}}) \
        is None
