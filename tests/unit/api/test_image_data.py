"""PUT /v2/images/{id}/file: statuses, messages, hashes and cleanup (glance-api.md §4.1)."""

import hashlib
import io

import pytest

from glance_api import exceptions
from glance_api.rules import policy
from glance_api.data import uploads
from glance_api.web.context import RequestContext
from stores.base import AddResult
from tests.unit.api.test_image_data_fakes import (
    ADMIN_HEADERS, MEMBER_HEADERS, OCTET, OWNER, FakeRegistry, FakeStores, MemoryStore,
    digests, make_client, make_conf, message, new_image)


@pytest.fixture
def env():
    conf = make_conf()
    image = new_image()
    registry = FakeRegistry(image)
    store = MemoryStore(conf)
    stores = FakeStores({'mem': store}, 'mem')
    return conf, registry, store, stores, image['id']


def put(client, image_id, body, headers=None):
    return client.simulate_put('/v2/images/%s/file' % image_id, body=body,
                               headers={**MEMBER_HEADERS, **OCTET, **(headers or {})})


def assert_rolled_back(registry, store, image_id):
    image = registry.images[image_id]
    assert image['status'] == 'queued'
    assert image['size'] is None and image['checksum'] is None and image['locations'] == []
    assert store.objects == {} and store.partial == {}


def test_upload_activates_with_hashes_and_location(env):
    conf, registry, store, stores, image_id = env
    data = b'0123456789' * 7
    resp = put(make_client(conf, registry, stores), image_id, data)
    assert resp.status_code == 204 and resp.text == ''
    image = registry.images[image_id]
    md5, sha = digests(data)
    assert (image['status'], image['size'], image['checksum']) == ('active', 70, md5)
    assert (image['os_hash_algo'], image['os_hash_value']) == ('sha512', sha)
    # A raw disk in a bare container: Glance 33 records the byte count as virtual size.
    assert image['virtual_size'] == 70
    url = 'mem://mem/%s' % image_id
    assert image['locations'] == [{'url': url, 'metadata': {}, 'status': 'active'}]
    assert store.objects == {url: data}


def test_zero_byte_upload_activates(env):
    conf, registry, store, stores, image_id = env
    resp = put(make_client(conf, registry, stores), image_id, b'')
    assert resp.status_code == 204
    image = registry.images[image_id]
    assert (image['status'], image['size']) == ('active', 0)
    assert image['checksum'] == 'd41d8cd98f00b204e9800998ecf8427e'
    assert image['os_hash_value'] == hashlib.sha512(b'').hexdigest()


def test_hashing_algorithm_option_and_existing_algo(env):
    conf, registry, store, stores, image_id = env
    conf.set_override('hashing_algorithm', 'sha256')
    put(make_client(conf, registry, stores), image_id, b'abc')
    image = registry.images[image_id]
    assert image['os_hash_algo'] == 'sha256'
    assert image['os_hash_value'] == hashlib.sha256(b'abc').hexdigest()
    other = new_image(os_hash_algo='sha384')
    registry.images[other['id']] = other
    put(make_client(conf, registry, stores), other['id'], b'abc')
    assert registry.images[other['id']]['os_hash_value'] == hashlib.sha384(b'abc').hexdigest()


@pytest.mark.parametrize('content_type,shown', [
    (None, 'None'), ('application/json', 'application/json'), ('text/plain', 'text/plain')])
def test_wrong_content_type_is_415(env, content_type, shown):
    conf, registry, store, stores, image_id = env
    headers = {**MEMBER_HEADERS}
    if content_type:
        headers['Content-Type'] = content_type
    resp = make_client(conf, registry, stores).simulate_put(
        '/v2/images/%s/file' % image_id, body=b'x', headers=headers)
    assert resp.status_code == 415
    assert message(resp).endswith('Invalid content type %s' % shown)
    assert registry.images[image_id]['status'] == 'queued'


def test_content_type_parameters_are_ignored(env):
    conf, registry, store, stores, image_id = env
    resp = put(make_client(conf, registry, stores), image_id, b'x',
               {'Content-Type': 'application/octet-stream; charset=binary'})
    assert resp.status_code == 204


@pytest.mark.parametrize('value', ['abc', '-1', '1.5', ''])
def test_bad_size_header_is_400(env, value):
    conf, registry, store, stores, image_id = env
    resp = put(make_client(conf, registry, stores), image_id, b'xyz',
               {'x-openstack-image-size': value})
    assert resp.status_code == 400
    assert message(resp).startswith('Invalid or missing image size in request headers.')


@pytest.mark.parametrize('declared,body,expected,got', [('5', b'abc', 5, 3), ('2', b'abc', 2, 3)])
def test_size_mismatch_is_400_and_rolls_back(env, declared, body, expected, got):
    conf, registry, store, stores, image_id = env
    resp = put(make_client(conf, registry, stores), image_id, body,
               {'x-openstack-image-size': declared})
    assert resp.status_code == 400
    assert message(resp).startswith(
        'Size mismatch: expected %d bytes, got %d bytes' % (expected, got))
    assert_rolled_back(registry, store, image_id)


def test_not_queued_is_409(env):
    conf, registry, store, stores, image_id = env
    registry.images[image_id]['status'] = 'active'
    resp = put(make_client(conf, registry, stores), image_id, b'abc')
    assert resp.status_code == 409
    assert message(resp).startswith('Image status transition from active to saving is not '
                                    'allowed')
    assert registry.images[image_id]['status'] == 'active'


@pytest.mark.parametrize('missing,text', [
    (('disk_format', 'container_format'),
     'Properties disk_format, container_format must be set prior to saving data.'),
    (('container_format',), 'Property container_format must be set prior to saving data.')])
def test_formats_required_is_400(env, missing, text):
    conf, registry, store, stores, image_id = env
    for key in missing:
        registry.images[image_id][key] = None
    resp = put(make_client(conf, registry, stores), image_id, b'abc')
    assert resp.status_code == 400
    assert message(resp).startswith(text)
    assert registry.images[image_id]['status'] == 'queued'


def test_invisible_image_is_404_and_reader_is_403(env):
    conf, registry, store, stores, image_id = env
    client = make_client(conf, registry, stores)
    resp = put(client, image_id, b'abc', {'X-Project-Id': 'someone-else'})
    assert resp.status_code == 404
    resp = put(client, image_id, b'abc', {'X-Roles': 'reader'})
    assert resp.status_code == 403
    assert message(resp).startswith('You are not authorized to complete upload_image action.')
    assert registry.images[image_id]['status'] == 'queued'


def test_declared_size_over_cap_is_413(env):
    conf, registry, store, stores, image_id = env
    conf.set_override('image_size_cap', 10)
    resp = put(make_client(conf, registry, stores), image_id, b'x' * 11)
    assert resp.status_code == 413
    assert message(resp).startswith('The incoming image is too large: ')
    assert_rolled_back(registry, store, image_id)


def test_streamed_size_over_cap_is_413_and_rolls_back(env):
    conf, registry, store, stores, image_id = env
    conf.set_override('image_size_cap', 10)
    ctx = RequestContext(project_id=OWNER, roles=['member', 'reader'])
    with pytest.raises(exceptions.LimitExceeded, match='The incoming image is too large'):
        uploads.upload(conf, registry, stores, ctx, image_id, io.BytesIO(b'x' * 11), None,
                       None, None, enforcer=policy.Enforcer(conf))
    assert_rolled_back(registry, store, image_id)


class BrokenStream:
    """A request body whose client goes away after ``good`` bytes."""

    def __init__(self, good):
        self.left = good

    def read(self, size=-1):
        if self.left <= 0:
            raise OSError('client disconnected')
        n = min(self.left, size if size and size > 0 else self.left)
        self.left -= n
        return b'y' * n


def _upload(conf, registry, stores, image_id, stream, size=None):
    ctx = RequestContext(project_id=OWNER, roles=['member', 'reader'])
    return uploads.upload(conf, registry, stores, ctx, image_id, stream, size, None, None,
                          enforcer=policy.Enforcer(conf))


def test_client_disconnect_mid_stream_leaves_no_bytes_and_queued(env):
    conf, registry, store, stores, image_id = env
    with pytest.raises(exceptions.BadRequest) as err:
        _upload(conf, registry, stores, image_id, BrokenStream(10), size=100)
    assert isinstance(err.value.__cause__, OSError)
    assert_rolled_back(registry, store, image_id)


def test_short_content_length_body_is_size_mismatch(env):
    conf, registry, store, stores, image_id = env
    with pytest.raises(exceptions.BadRequest, match='expected 9 bytes, got 7 bytes'):
        _upload(conf, registry, stores, image_id, io.BytesIO(b'z' * 7), size=9)
    assert_rolled_back(registry, store, image_id)


def test_store_error_is_mapped_and_rolls_back(env):
    conf, registry, store, stores, image_id = env
    store.fail_after = 8
    resp = put(make_client(conf, registry, stores), image_id, b'q' * 20)
    assert resp.status_code == 413
    assert_rolled_back(registry, store, image_id)


def test_image_deleted_during_upload_is_410_and_data_deleted(env):
    conf, registry, store, stores, image_id = env

    def delete_first(iid, values, from_state):
        if from_state == 'saving' and values.get('status') == 'active':
            del registry.images[iid]
    registry.before_update = delete_first
    resp = put(make_client(conf, registry, stores), image_id, b'abc')
    assert resp.status_code == 410
    assert message(resp).startswith(
        'Image %s could not be found after upload. The image may have been deleted during '
        'the upload.' % image_id)
    assert store.objects == {} and store.partial == {}


def test_lost_final_cas_deletes_data_and_requeues(env):
    conf, registry, store, stores, image_id = env
    from glance_registry import exceptions as reg_exc

    def lose_once(iid, values, from_state):
        if values.get('status') == 'active':
            registry.before_update = None
            raise reg_exc.Conflict('lost the race')
    registry.before_update = lose_once
    resp = put(make_client(conf, registry, stores), image_id, b'abc')
    assert resp.status_code == 409
    assert_rolled_back(registry, store, image_id)


def test_lost_first_cas_is_409_with_current_status(env):
    conf, registry, store, stores, image_id = env

    def someone_else_started(iid, values, from_state):
        if from_state == 'queued':
            registry.images[iid]['status'] = 'saving'
    registry.before_update = someone_else_started
    resp = put(make_client(conf, registry, stores), image_id, b'abc')
    assert resp.status_code == 409
    assert message(resp).startswith('Image status transition from saving to saving')
    assert store.objects == {}


def test_multi_store_header_selects_store_and_unknown_is_400():
    conf = make_conf(enabled_backends={'fast': 'mem', 'cheap': 'mem'})
    image = new_image()
    registry = FakeRegistry(image)
    fast, cheap = MemoryStore(conf, 'fast'), MemoryStore(conf, 'cheap')
    stores = FakeStores({'fast': fast, 'cheap': cheap}, 'fast')
    client = make_client(conf, registry, stores)
    resp = put(client, image['id'], b'abc', {'X-Image-Meta-Store': 'bogus'})
    assert resp.status_code == 400
    assert message(resp).startswith('Store for identifier bogus not found')
    assert registry.images[image['id']]['status'] == 'queued'
    resp = put(client, image['id'], b'abc', {'X-Image-Meta-Store': 'cheap'})
    assert resp.status_code == 204
    loc = registry.images[image['id']]['locations'][0]
    assert loc['metadata'] == {'store': 'cheap'} and cheap.objects and not fast.objects


def test_admin_may_upload_to_other_projects_image(env):
    conf, registry, store, stores, image_id = env
    resp = put(make_client(conf, registry, stores), image_id, b'abc', ADMIN_HEADERS)
    assert resp.status_code == 204
    assert registry.images[image_id]['status'] == 'active'


def test_driver_returning_wrong_count_cannot_activate(env):
    conf, registry, store, stores, image_id = env

    def lying_add(image_id, stream, size, hashers=(), on_begin=None):
        url = 'mem://mem/%s' % image_id
        store.objects[url] = stream.read(2)
        return AddResult(url, 2, {})
    store.add = lying_add
    resp = put(make_client(conf, registry, stores), image_id, b'abcd')
    assert resp.status_code == 400
    assert message(resp).startswith('Size mismatch: expected 4 bytes, got 2 bytes')
    assert_rolled_back(registry, store, image_id)
