"""GET /v2/images/{id}/file and /v2/info/stores* (docs/glance-api.md §4.2, §6)."""

import hashlib
import os

import pytest

from glance_api.data import downloads
from tests.unit.api.test_image_data_fakes import (
    ADMIN_HEADERS, MEMBER_HEADERS, FakeRegistry, FakeStores, FileStoreStandIn, MemoryStore,
    make_client, make_conf, message, new_image)

DATA = bytes(range(256)) * 4 + b'tail'  # 1028 bytes, every offset distinguishable


def active_image(url, **values):
    return new_image(status='active', size=len(DATA), checksum=hashlib.md5(DATA).hexdigest(),
                     locations=[{'id': 1, 'url': url, 'metadata': {}, 'status': 'active'}],
                     **values)


@pytest.fixture(params=['mem', 'file'])
def env(request, tmp_path):
    """An active image in a chunked memory store, or in a file served zero-copy."""
    conf = make_conf()
    if request.param == 'mem':
        store = MemoryStore(conf)
        url = 'mem://mem/x'
        store.objects[url] = DATA
    else:
        store = FileStoreStandIn(conf, str(tmp_path))
        path = tmp_path / 'img'
        path.write_bytes(DATA)
        url = 'file://%s' % path
    image = active_image(url)
    registry = FakeRegistry(image)
    client = make_client(conf, registry, FakeStores({request.param: store}, request.param))
    return client, registry, store, image


def get(client, image_id, headers=None):
    return client.simulate_get('/v2/images/%s/file' % image_id,
                               headers={**MEMBER_HEADERS, **(headers or {})})


def test_download_whole_image(env):
    client, registry, store, image = env
    resp = get(client, image['id'])
    assert resp.status_code == 200 and resp.content == DATA
    assert resp.headers['content-type'] == 'application/octet-stream'
    assert resp.headers['content-length'] == str(len(DATA))
    assert resp.headers['content-md5'] == image['checksum']
    assert 'content-range' not in resp.headers


@pytest.mark.parametrize('header,start,end', [
    ('bytes=2-5', 2, 5), ('bytes=1000-', 1000, 1027), ('bytes=-4', 1024, 1027),
    ('bytes=0-99999', 0, 1027), ('bytes=1027-1027', 1027, 1027), ('bytes=-5000', 0, 1027)])
def test_single_range_is_206_byte_exact(env, header, start, end):
    client, registry, store, image = env
    resp = get(client, image['id'], {'Range': header})
    assert resp.status_code == 206
    assert resp.content == DATA[start:end + 1]
    assert resp.headers['content-range'] == 'bytes %d-%d/%d' % (start, end, len(DATA))
    assert resp.headers['content-length'] == str(end + 1 - start)


def test_legacy_content_range_request_header(env):
    client, registry, store, image = env
    resp = get(client, image['id'], {'Content-Range': 'bytes 3-9/1028'})
    assert resp.status_code == 206 and resp.content == DATA[3:10]
    assert resp.headers['content-range'] == 'bytes 3-9/1028'


def test_multiple_ranges_is_400(env):
    client, registry, store, image = env
    resp = get(client, image['id'], {'Range': 'bytes=0-1,3-4'})
    assert resp.status_code == 400
    assert message(resp).startswith(
        'Requests with multiple ranges are not supported in Glance. You may make multiple '
        'single-range requests instead.')


@pytest.mark.parametrize('header,text', [
    ('bytes=1028-', 'Invalid start position in Range header. Start position MUST be in the '
                    'inclusive range [0, 1027].'),
    ('bytes=5-2', 'Invalid Range header.'), ('pages=1-2', 'Invalid Range header.'),
    ('bytes=-', 'Invalid Range header.')])
def test_unsatisfiable_range_is_416(env, header, text):
    client, registry, store, image = env
    resp = get(client, image['id'], {'Range': header})
    assert resp.status_code == 416
    assert text in message(resp)


def test_no_locations_is_204(env):
    client, registry, store, image = env
    queued = new_image()
    registry.images[queued['id']] = queued
    resp = get(client, queued['id'])
    assert resp.status_code == 204 and resp.content == b''
    assert 'Content-Type' not in resp.headers   # unlike Glance's other empty answers


def test_deactivated_is_403_for_users_200_for_admin(env):
    client, registry, store, image = env
    registry.images[image['id']]['status'] = 'deactivated'
    resp = get(client, image['id'])
    assert resp.status_code == 403
    assert message(resp).startswith('The requested image has been deactivated. Image data '
                                    'download is forbidden.')
    resp = get(client, image['id'], ADMIN_HEADERS)
    assert resp.status_code == 200 and resp.content == DATA


def test_invisible_is_404_and_reader_only_is_403(env):
    client, registry, store, image = env
    assert get(client, image['id'], {'X-Project-Id': 'p2'}).status_code == 404
    resp = get(client, image['id'], {'X-Roles': 'reader'})
    assert resp.status_code == 403
    assert 'download_image' in message(resp)


def test_body_on_get_is_400(env):
    client, registry, store, image = env
    resp = client.simulate_get('/v2/images/%s/file' % image['id'], body=b'x',
                               headers=MEMBER_HEADERS)
    assert resp.status_code == 400
    assert message(resp).startswith('A body is not expected with this request.')


def test_missing_first_location_falls_back_to_next(env):
    client, registry, store, image = env
    good = registry.images[image['id']]['locations'][0]
    bad = dict(good, id=0, url=good['url'] + '-missing')
    registry.images[image['id']]['locations'] = [bad, good]
    resp = get(client, image['id'], {'Range': 'bytes=10-19'})
    assert resp.status_code == 206 and resp.content == DATA[10:20]


def test_data_missing_everywhere_is_204(env):
    client, registry, store, image = env
    loc = registry.images[image['id']]['locations'][0]
    loc['url'] += '-missing'
    assert get(client, image['id']).status_code == 204


def test_short_store_read_drops_the_connection():
    conf = make_conf()
    store = MemoryStore(conf)
    store.objects['mem://mem/x'] = DATA
    store.short_by = 10
    image = active_image('mem://mem/x')
    client = make_client(conf, FakeRegistry(image), FakeStores({'mem': store}, 'mem'))
    with pytest.raises(OSError, match='ended 10 bytes early'):
        get(client, image['id'])


def test_file_slice_positions_descriptor_for_sendfile(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(DATA)
    body = downloads.FileSlice(open(path, 'rb'), 100, 50)
    try:
        # gunicorn's sendfile path sends Content-Length bytes from the current offset.
        assert os.lseek(body.fileno(), 0, os.SEEK_CUR) == 100
        assert body.read(30) + body.read(1000) + body.read(5) == DATA[100:150]
    finally:
        body.close()


def test_counted_chunks_coalesces_small_chunks():
    chunks = [b'a' * 1000] * 3000
    out = list(downloads.counted_chunks(iter(chunks), 2_999_000))
    assert b''.join(out) == b'a' * 2_999_000
    assert all(len(piece) >= downloads.MIN_CHUNK for piece in out[:-1])


def info_client(enabled_backends=None):
    conf = make_conf(enabled_backends=enabled_backends) if enabled_backends else make_conf()
    multi = bool(enabled_backends)
    stores = FakeStores({'fast': MemoryStore(conf, 'fast' if multi else None),
                         'cheap': MemoryStore(conf, 'cheap' if multi else None)}, 'fast')
    return make_client(conf, FakeRegistry(), stores)


def test_info_stores_needs_multi_store():
    resp = info_client().simulate_get('/v2/info/stores', headers=MEMBER_HEADERS)
    assert resp.status_code == 404
    assert message(resp).startswith('Multi backend is not supported at this site.')


def test_info_stores_lists_stores():
    client = info_client({'fast': 'mem', 'cheap': 'mem'})
    resp = client.simulate_get('/v2/info/stores', headers=MEMBER_HEADERS)
    assert resp.status_code == 200
    assert resp.json == {'stores': [{'id': 'fast', 'default': 'true'}, {'id': 'cheap'}]}


def test_info_stores_detail_is_admin_or_service_only():
    client = info_client({'fast': 'mem', 'cheap': 'mem'})
    resp = client.simulate_get('/v2/info/stores/detail', headers=MEMBER_HEADERS)
    assert resp.status_code == 403
    assert message(resp).startswith(
        'You are not authorized to complete stores_info_detail action.')
    for roles in ('admin', 'service'):
        resp = client.simulate_get('/v2/info/stores/detail',
                                   headers={**MEMBER_HEADERS, 'X-Roles': roles})
        assert resp.status_code == 200
        assert resp.json['stores'][0] == {'id': 'fast', 'default': 'true', 'type': 'mem',
                                          'weight': 0, 'properties': {}}


def test_zero_byte_image_downloads_empty_and_rejects_ranges():
    conf = make_conf()
    store = MemoryStore(conf)
    store.objects['mem://mem/e'] = b''
    image = active_image('mem://mem/e')
    image.update(size=0, checksum=hashlib.md5(b'').hexdigest())
    client = make_client(conf, FakeRegistry(image), FakeStores({'mem': store}, 'mem'))
    resp = get(client, image['id'])
    assert resp.status_code == 200 and resp.content == b''
    assert resp.headers['content-length'] == '0'
    resp = get(client, image['id'], {'Range': 'bytes=0-'})
    assert resp.status_code == 416
    assert 'inclusive range [0, -1].' in message(resp)


def _two_location_client(broken):
    conf = make_conf()
    store = MemoryStore(conf)
    store.objects['mem://mem/a'] = store.objects['mem://mem/b'] = DATA
    store.broken = set(broken)
    image = active_image('mem://mem/a')
    image['locations'].append({'id': 2, 'url': 'mem://mem/b', 'metadata': {},
                               'status': 'active'})
    client = make_client(conf, FakeRegistry(image), FakeStores({'mem': store}, 'mem'))
    return client, store, image


def test_first_read_failure_falls_back_before_headers_are_sent():
    client, store, image = _two_location_client({'mem://mem/a'})
    resp = get(client, image['id'], {'Range': 'bytes=5-9'})
    assert resp.status_code == 206 and resp.content == DATA[5:10]
    assert store.closed == 2  # the broken iterator and the served one


def test_backend_unavailable_everywhere_is_503():
    client, store, image = _two_location_client({'mem://mem/a', 'mem://mem/b'})
    resp = get(client, image['id'])
    assert resp.status_code == 503
