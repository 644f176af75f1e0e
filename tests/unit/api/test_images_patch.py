"""PATCH /v2/images/{id}: both media types and every rule of docs/glance-api.md §3.6."""

import pytest

from tests.unit.api.conftest import ADMIN, P1, P2, PATCH20, PATCH21, Env, json_headers
from tests.unit.api.fakes import FakeStore, FakeStores

JH = json_headers(P1)


def _msg(env, resp):
    return env.message(resp)


@pytest.fixture
def image(env):
    return env.create(name='img', foo='bar', disk_format='raw', container_format='bare')


def test_replace_add_remove(env, image):
    resp = env.patch(image['id'], [
        {'op': 'replace', 'path': '/name', 'value': 'new'},
        {'op': 'add', 'path': '/x', 'value': 'y'},
        {'op': 'replace', 'path': '/foo', 'value': 'baz'},
        {'op': 'add', 'path': '/min_ram', 'value': 512},
        {'op': 'replace', 'path': '/tags', 'value': ['a', 'b', 'a']},
    ])
    assert resp.status_code == 200
    body = resp.json
    assert (body['name'], body['x'], body['foo'], body['min_ram'], body['tags']) == \
        ('new', 'y', 'baz', 512, ['a', 'b'])
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/x'}])
    assert 'x' not in resp.json and resp.json['foo'] == 'baz'
    assert env.client.simulate_get('/v2/images/' + image['id'], headers=P1).json['foo'] == 'baz'


def test_name_may_be_null_and_empty_patch(env, image):
    assert env.patch(image['id'], [{'op': 'replace', 'path': '/name', 'value': None}]) \
        .json['name'] is None
    before = len(env.registry.calls)
    assert env.patch(image['id'], []).status_code == 200
    assert len(env.registry.calls) == before


def test_media_type_415(env, image):
    resp = env.patch(image['id'], [], headers=JH, media='application/json')
    assert resp.status_code == 415
    allowed = ('application/openstack-images-v2.0-json-patch, '
               'application/openstack-images-v2.1-json-patch')
    assert resp.headers['accept-patch'] == allowed
    assert _msg(env, resp) == (
        'The request media type application/json is not supported by this server.\n'
        '<br /><br />\nImage PATCH expects Content-Type one of: ' + allowed)


def test_media_type_with_charset_accepted(env, image):
    resp = env.patch(image['id'], [], media=PATCH21 + '; charset=UTF-8')
    assert resp.status_code == 200


@pytest.mark.parametrize('ops,message', [
    ({}, 'Request body must be a JSON array of operation objects.'),
    (['x'], 'Operations must be JSON objects.'),
    ([{'path': '/name'}], 'Unable to find `op` in JSON Schema change. It must be one of the '
                          'following: add, remove, replace.'),
    ([{'op': 'move', 'path': '/name'}], 'Invalid operation: `move`. It must be one of the '
                                        'following: add, remove, replace.'),
    ([{'op': 'add', 'value': 1}], "Unable to find 'path' in JSON Schema change"),
    ([{'op': 'add', 'path': '/name'}], 'Operation "add" requires a member named "value".'),
    ([{'op': 'add', 'path': 'name', 'value': 'x'}], 'Pointer `name` does not start with "/".'),
    ([{'op': 'add', 'path': '/a//b', 'value': 'x'}], 'Pointer `/a//b` contains adjacent "/".'),
    ([{'op': 'add', 'path': '/a/', 'value': 'x'}], 'Pointer `/a/` end with "/".'),
    ([{'op': 'add', 'path': '/a~2', 'value': 'x'}], 'Pointer `/a~2` contains "~" not part'),
    ([{'op': 'add', 'path': '/a/b', 'value': 'x'}],
     "Invalid JSON pointer for this resource: '/a/b'"),
    ([{'op': 'add', 'path': '/tags/0', 'value': 'x'}],
     "Invalid JSON pointer for this resource: '/tags/0'"),
    ([{'op': 'replace', 'path': '/name', 'value': 'x' * 256}],
     "Provided object does not match schema 'image': "),
    ([{'op': 'replace', 'path': '/min_ram', 'value': -5}],
     "Invalid value '-5' for parameter 'min_ram': Cannot be a negative value"),
    ([{'op': 'replace', 'path': '/visibility', 'value': 'everyone'}],
     "Provided object does not match schema 'image': "),
])
def test_bad_requests(env, image, ops, message):
    resp = env.patch(image['id'], ops, headers=JH)
    assert resp.status_code == 400
    assert _msg(env, resp).startswith(message)


@pytest.mark.parametrize('root', ['created_at', 'updated_at', 'status', 'checksum', 'size',
                                  'virtual_size', 'direct_url', 'self', 'file', 'schema', 'id',
                                  'os_hash_algo', 'os_hash_value'])
def test_read_only(env, image, root):
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/' + root, 'value': 'x'}],
                     headers=JH)
    assert resp.status_code == 403
    assert _msg(env, resp).startswith("Attribute '%s' is read-only." % root)


@pytest.mark.parametrize('root', ['location', 'deleted', 'deleted_at', 'os_glance_foo'])
def test_reserved(env, image, root):
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/' + root, 'value': 'x'}],
                     headers=JH)
    assert resp.status_code == 403
    assert _msg(env, resp).startswith("Attribute '%s' is reserved." % root)


def test_conflicts(env, image):
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/nope', 'value': 'x'}], JH)
    assert resp.status_code == 409 and 'Property nope does not exist.' in _msg(env, resp)
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/nope'}], JH)
    assert resp.status_code == 409 and 'Property nope does not exist.' in _msg(env, resp)


def test_remove_base_forbidden(env, image):
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/name'}], JH)
    assert resp.status_code == 403
    assert _msg(env, resp) == ('Access was denied to this resource.<br /><br />\n'
                               'Property name may not be removed.\n\n')


def test_v20_add_existing_conflicts_v21_overwrites(env, image):
    resp = env.patch(image['id'], [{'add': '/foo', 'value': 'x'}], JH, media=PATCH20)
    assert resp.status_code == 409 and 'Property foo already present.' in _msg(env, resp)
    resp = env.patch(image['id'], [{'add': '/name', 'value': 'x'}], JH, media=PATCH20)
    assert resp.status_code == 409
    resp = env.patch(image['id'], [{'replace': '/foo', 'value': 'x'}], JH, media=PATCH20)
    assert resp.json['foo'] == 'x'
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/foo', 'value': 'z'}], JH)
    assert resp.json['foo'] == 'z'
    resp = env.patch(image['id'], [{'add': '/a', 'remove': '/b'}], JH, media=PATCH20)
    assert resp.status_code == 400
    resp = env.patch(image['id'], [{'value': 1}], JH, media=PATCH20)
    assert resp.status_code == 400


def test_owner_admin_only(env, image):
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/owner', 'value': 'p2'}], JH)
    assert resp.status_code == 403
    assert _msg(env, resp) == ("Access was denied to this resource.<br /><br />\n"
                               "Owner can't be updated by non admin.\n\n")
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/owner', 'value': 'p2'}], ADMIN)
    assert resp.json['owner'] == 'p2'


def test_publicize_policy(env, image):
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/visibility', 'value': 'public'}],
                     JH)
    assert resp.status_code == 403
    assert _msg(env, resp).startswith(
        'You are not authorized to complete publicize_image action.')
    resp = env.patch(image['id'],
                     [{'op': 'replace', 'path': '/visibility', 'value': 'community'}], JH)
    assert resp.json['visibility'] == 'community'


def test_formats_only_while_queued(env, image):
    env.registry.images[image['id']]['status'] = 'active'
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/disk_format', 'value': 'qcow2'}],
                     JH)
    assert resp.status_code == 403
    assert _msg(env, resp).startswith(
        'Attribute disk_format can be only replaced for a queued image.')
    assert env.patch(image['id'], [{'op': 'replace', 'path': '/name', 'value': 'n'}],
                     JH).status_code == 200


def test_not_found_and_hidden(env, image):
    resp = env.patch('00000000-0000-0000-0000-000000000000',
                     [{'op': 'replace', 'path': '/name', 'value': 'x'}], JH)
    assert resp.status_code == 404
    private = env.create(visibility='private')
    resp = env.patch(private['id'], [{'op': 'replace', 'path': '/name', 'value': 'x'}],
                     json_headers(P2))
    assert resp.status_code == 404
    community = env.create(visibility='community')
    resp = env.patch(community['id'], [{'op': 'replace', 'path': '/name', 'value': 'x'}],
                     json_headers(P2))
    assert resp.status_code == 403
    assert _msg(env, resp).startswith('You are not authorized to complete modify_image action.')


def test_quotas():
    env = Env(image_property_quota=1, image_tag_quota=1)
    image = env.create(a='1')
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/b', 'value': '2'}], JH)
    assert resp.status_code == 413
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/tags', 'value': ['x', 'y']}],
                     JH)
    assert resp.status_code == 413


def test_locations_invisible_by_default(env, image):
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-',
                                    'value': {'url': 'http://a/b', 'metadata': {}}}], JH)
    assert resp.status_code == 403
    assert _msg(env, resp).startswith(
        "It's not allowed to add locations if locations are invisible.")
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/locations', 'value': []}], JH)
    assert resp.status_code == 403 and 'Cannot set locations to empty list.' in _msg(env, resp)
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/locations/0'}], JH)
    assert resp.status_code == 403


def test_locations_with_show_multiple_locations():
    env = Env(show_multiple_locations=True, show_image_direct_url=True)
    env.stores = FakeStores(FakeStore(sizes={'http://10.0.0.1/a': 5, 'http://10.0.0.1/b': 7}))
    env.app = None
    from falcon.testing import TestClient

    from glance_api.app import create_app
    env.client = TestClient(create_app(env.conf, registry=env.registry, stores=env.stores))
    image = env.create(disk_format='raw', container_format='bare')
    assert image['locations'] == []
    loc = {'url': 'http://10.0.0.1/a', 'metadata': {}}
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': loc}], JH)
    assert resp.status_code == 200, resp.text
    assert resp.json['status'] == 'active' and resp.json['size'] == 5
    assert resp.json['locations'] == [loc] and resp.json['direct_url'] == 'http://10.0.0.1/a'
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/locations/0'}], JH)
    assert _msg(env, resp).startswith(
        'You are not authorized to complete delete_image_location action.')
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/locations/0'}],
                     json_headers(ADMIN))
    assert resp.status_code == 403 and 'Cannot remove last location' in _msg(env, resp)
    bad = {'url': 'file:///etc/passwd', 'metadata': {}}
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': bad}], JH)
    assert resp.status_code == 400 and _msg(env, resp).startswith('Invalid location')
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': loc}], JH)
    assert resp.status_code == 400


def _cinder_env():
    """Volumes v1 (project p1) and v2 (project p2), 1 GiB each, in a cinder-like store."""
    from falcon.testing import TestClient

    from glance_api.app import create_app
    env = Env(show_multiple_locations=True)
    urls = {'p1': 'cinder://11111111-1111-1111-1111-111111111111',
            'p2': 'cinder://22222222-2222-2222-2222-222222222222'}
    env.stores = FakeStores(FakeStore(sizes={u: 1024 ** 3 for u in urls.values()},
                                      projects={u: p for p, u in urls.items()}))
    env.client = TestClient(create_app(env.conf, registry=env.registry, stores=env.stores))
    return env, urls


def test_user_may_name_only_its_own_projects_volume():
    # SECURITY: the cinder store reads and deletes volumes as its service user, which sees
    # every project's: a user naming another project's volume would read it, and delete it
    # with the image.
    env, urls = _cinder_env()
    image = env.create(disk_format='raw', container_format='bare')
    foreign = {'url': urls['p2'], 'metadata': {}}
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': foreign}],
                     JH)
    assert resp.status_code == 400 and _msg(env, resp).startswith('Invalid location')
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/locations',
                                    'value': [foreign]}], JH)
    assert resp.status_code == 400
    assert env.registry.images[image['id']]['status'] == 'queued'
    own = {'url': urls['p1'], 'metadata': {}}
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': own}], JH)
    assert resp.status_code == 200, resp.text
    assert resp.json['status'] == 'active' and resp.json['locations'] == [own]


@pytest.mark.parametrize('roles', ['admin,member,reader', 'service,member,reader'])
def test_admin_and_services_may_name_any_projects_volume(roles):
    env, urls = _cinder_env()
    image = env.create(disk_format='raw', container_format='bare')
    loc = {'url': urls['p2'], 'metadata': {}}
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-', 'value': loc}],
                     json_headers(dict(P1, **{'X-Roles': roles})))
    assert resp.status_code == 200, resp.text
    assert resp.json['size'] == 1024 ** 3 and resp.json['locations'] == [loc]


@pytest.mark.parametrize('delayed', [False, True])
def test_removed_location_data_is_deleted_once_saved(delayed):
    # NOTE: as Glance, removing a location deletes its data; only after the image is saved
    # without it, and left to the scrubber with delayed_delete.
    env = Env(show_multiple_locations=True, delayed_delete=delayed)
    store = FakeStore(sizes={'http://10.0.0.1/a': 5, 'http://10.0.0.1/b': 5})
    env.stores = FakeStores(store)
    from falcon.testing import TestClient

    from glance_api.app import create_app
    env.client = TestClient(create_app(env.conf, registry=env.registry, stores=env.stores))
    image = env.create(disk_format='raw', container_format='bare')
    for url in ('http://10.0.0.1/a', 'http://10.0.0.1/b'):
        resp = env.patch(image['id'], [{'op': 'add', 'path': '/locations/-',
                                        'value': {'url': url, 'metadata': {}}}], JH)
        assert resp.status_code == 200, resp.text
    assert store.deleted == []
    resp = env.patch(image['id'], [{'op': 'remove', 'path': '/locations/0'}],
                     json_headers(ADMIN))
    assert resp.status_code == 200, resp.text
    assert [loc['url'] for loc in resp.json['locations']] == ['http://10.0.0.1/b']
    assert store.deleted == ([] if delayed else ['http://10.0.0.1/a'])
    # queued for the scrubber first; released once deleted
    assert [(r['url'], r['status']) for r in env.registry.reservations.values()] == [
        ('http://10.0.0.1/a', 'pending_delete' if delayed else 'deleted')]
