"""POST /v2/images: representation and every error row of docs/glance-api.md §3.3."""

import pytest

from tests.unit.api.conftest import ADMIN, P1, READER, Env, json_headers

UUID = '11111111-2222-3333-4444-555555555555'


def _post(env, body, headers=P1):
    return env.client.simulate_post('/v2/images', json=body, headers=json_headers(headers))


def test_create_representation_and_headers(env):
    resp = _post(env, {'name': 'img1', 'disk_format': 'raw', 'container_format': 'bare',
                       'foo': 'bar', 'tags': ['t1', 't2', 't1'], 'id': UUID})
    assert resp.status_code == 201
    body = resp.json
    assert body['id'] == UUID and body['foo'] == 'bar' and body['owner'] == 'p1'
    assert body['tags'] == ['t1', 't2']
    for key in ('size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value'):
        assert body[key] is None
    assert (body['status'], body['visibility'], body['protected'], body['os_hidden'],
            body['min_ram'], body['min_disk']) == ('queued', 'shared', False, False, 0, 0)
    assert body['self'] == '/v2/images/' + UUID
    assert body['file'] == '/v2/images/%s/file' % UUID
    assert body['schema'] == '/v2/schemas/image'
    assert body['created_at'].endswith('Z') and len(body['created_at']) == 20
    assert 'locations' not in body and 'direct_url' not in body and 'stores' not in body
    assert resp.headers['location'] == 'http://falconframework.org/v2/images/' + UUID
    assert resp.headers['openstack-image-import-methods'] == \
        'glance-direct,web-download,copy-image'
    assert 'openstack-image-store-ids' not in resp.headers


def test_store_ids_header_with_backends():
    env = Env(enabled_backends={'fast': 'file', 'cheap': 'file'}, enabled_import_methods=[])
    resp = _post(env, {})
    assert resp.headers['openstack-image-store-ids'] == 'fast,cheap'
    assert 'openstack-image-import-methods' not in resp.headers


@pytest.mark.parametrize('key', ['self', 'file', 'schema', 'direct_url', 'stores'])
def test_disallowed_read_only(env, key):
    resp = _post(env, {key: 'x'})
    assert resp.status_code == 403
    assert env.message(resp) == "Attribute '%s' is read-only.<br /><br />\n\n\n" % key


@pytest.mark.parametrize('key,value', [
    ('status', 'active'), ('checksum', 'abc'), ('size', 5), ('virtual_size', 5),
    ('created_at', 'x'), ('updated_at', 'x')])
def test_read_only_base(env, key, value):
    resp = _post(env, {key: value})
    assert resp.status_code == 403
    assert env.message(resp).startswith("Attribute '%s' is read-only." % key)


@pytest.mark.parametrize('body', [
    {'id': 'not-a-uuid'}, {'name': 'x' * 256}, {'visibility': 'nope'},
    {'disk_format': 'floppy'}, {'container_format': 'box'}, {'min_ram': 'big'},
    {'protected': 'yes'}, {'foo': 5}, {'foo': None}, {'tags': ['x' * 256]}, {'tags': 'a'},
])
def test_schema_failures(env, body):
    resp = _post(env, body)
    assert resp.status_code == 400
    assert env.message(resp).startswith("Provided object does not match schema 'image': ")


def test_locations_reserved(env):
    resp = _post(env, {'locations': []})
    assert resp.status_code == 403
    assert env.message(resp).startswith("Attribute 'locations' is reserved.")


@pytest.mark.parametrize('key', ['deleted', 'deleted_at', 'location', 'os_glance_x'])
def test_reserved_extra_detail_form(env, key):
    resp = _post(env, {key: 'x'})
    assert resp.status_code == 403
    assert env.message(resp) == ("Access was denied to this resource.<br /><br />\n"
                                 "Attribute '%s' is reserved.\n\n" % key)


def test_long_property_name(env):
    resp = _post(env, {'k' * 256: 'v'})
    assert resp.status_code == 400
    assert env.message(resp).startswith(
        'Custom property should not be greater than 255 characters.')


@pytest.mark.parametrize('key', ['min_ram', 'min_disk'])
def test_negative_min(env, key):
    resp = _post(env, {key: -5})
    assert resp.status_code == 400
    assert env.message(resp).startswith(
        "Invalid value '-5' for parameter '%s': Cannot be a negative value" % key)


def test_owner_mismatch(env):
    resp = _post(env, {'owner': 'p2'})
    assert resp.status_code == 403
    assert "You are not permitted to create images owned by 'p2'" in env.message(resp)


def test_admin_may_set_owner(env):
    assert _post(env, {'owner': 'p2'}, headers=ADMIN).json['owner'] == 'p2'


def test_publicize_needs_admin(env):
    resp = _post(env, {'visibility': 'public'})
    assert resp.status_code == 403
    assert env.message(resp).startswith(
        'You are not authorized to complete publicize_image action.')
    assert _post(env, {'visibility': 'public'}, headers=ADMIN).status_code == 201
    assert _post(env, {'visibility': 'community'}).status_code == 201
    assert _post(env, {'visibility': 'private'}).status_code == 201


def test_duplicate_id(env):
    assert _post(env, {'id': UUID}).status_code == 201
    resp = _post(env, {'id': UUID})
    assert resp.status_code == 409
    assert env.message(resp).startswith('Image ID %s already exists!' % UUID)


def test_property_and_tag_quota():
    env = Env(image_property_quota=3, image_tag_quota=2)
    resp = _post(env, {'a': '1', 'b': '2', 'c': '3', 'd': '4'})
    assert resp.status_code == 413
    assert env.message(resp).startswith(
        'The limit has been exceeded on the number of allowed image properties. '
        'Attempted: 4, Maximum: 3')
    resp = _post(env, {'tags': ['a', 'b', 'c']})
    assert resp.status_code == 413
    assert 'Attempted: 3, Maximum: 2' in env.message(resp)


def test_reader_cannot_create(env):
    resp = _post(env, {}, headers=READER)
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete add_image action.')


def test_list_body_is_4xx(env):
    assert _post(env, []).status_code == 400


def test_non_ascii_kept(env):
    resp = _post(env, {'name': 'ĳmage'})
    assert 'ĳmage'.encode() in resp.content


def test_os_hash_on_create_is_ignored(env):
    """Real Glance 33 answers 201 and shows the null attribute (observed)."""
    resp = _post(env, {'os_hash_algo': 'x', 'os_hash_value': 'y'})
    assert resp.status_code == 201
    assert resp.json['os_hash_algo'] is None and resp.json['os_hash_value'] is None
