"""Routes, statuses and bodies of the registry app (internals §3) over a fake repo."""

import pytest

from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.fakes import make_image

IMAGE_ID = '11111111-2222-3333-4444-555555555555'


@pytest.fixture
def image(repo):
    img = make_image(id=IMAGE_ID, name='cirros', owner='p1', status='queued')
    repo.images[IMAGE_ID] = img
    return img


def test_healthcheck(client):
    resp = client.simulate_get('/healthcheck')
    assert resp.status_code == 200
    assert resp.text == 'OK'


def test_create_image_returns_201_and_image(client, repo):
    resp = client.simulate_post('/images', json={'image': {
        'name': 'x', 'owner': 'p1', 'properties': {'a': 'b'}, 'tags': ['t'],
        'locations': [{'url': 'file:///x', 'metadata': {}, 'status': 'active'}]}})
    assert resp.status_code == 201
    body = resp.json['image']
    assert body['name'] == 'x' and body['properties'] == {'a': 'b'}
    assert repo.images[body['id']]['tags'] == ['t']
    assert resp.headers['content-type'] == 'application/json'


def test_create_duplicate_is_409(client, image):
    resp = client.simulate_post('/images', json={'image': {'id': IMAGE_ID}})
    assert resp.status_code == 409
    assert resp.json['error']['code'] == 'Duplicate'
    assert IMAGE_ID in resp.json['error']['message']


@pytest.mark.parametrize('body', [
    b'{not json', b'', b'[]', b'{"image": 3}', b'{"image": {"size": "big"}}',
    b'{"image": {"bogus_column": 1}}', b'{"image": {"min_ram": -1}}', b'{"image": {"size": NaN}}',
    b'{"image": {"name": "' + b'n' * 256 + b'"}}', b'{"image": {"tags": [1]}}',
    b'{"image": {"properties": {"k": 1}}}', b'\xff\xfe', b'{"image": {"locations": [{}]}}',
    b'{"image": {"status": "flying"}}', b'{"image": {}, "extra": 1}',
])
def test_create_malformed_body_is_400(client, repo, body):
    resp = client.simulate_post('/images', body=body,
                                headers={'Content-Type': 'application/json'})
    assert resp.status_code == 400
    assert resp.json['error']['code'] == 'BadRequest'
    assert resp.json['error']['message']
    assert repo.calls == []


def test_get_image_passes_viewer(client, repo, image):
    resp = client.simulate_get('/images/%s' % IMAGE_ID)
    assert resp.status_code == 200
    assert resp.json == {'image': image}
    assert repo.calls[-1] == ('image_get', (IMAGE_ID,), {
        'project_id': 'p1', 'is_admin': False, 'include_deleted': False})


def test_get_missing_image_is_404(client):
    resp = client.simulate_get('/images/nope')
    assert resp.status_code == 404
    assert resp.json['error'] == {'code': 'ImageNotFound',
                                  'message': 'No image found with ID nope'}


def test_include_deleted_is_admin_only(client, repo, image):
    image['deleted'] = True
    resp = client.simulate_get('/images/%s' % IMAGE_ID, params={'include_deleted': 'true'})
    assert resp.status_code == 403
    assert resp.json['error']['code'] == 'Forbidden'
    resp = client.simulate_get('/images/%s' % IMAGE_ID, params={'include_deleted': 'true'},
                               headers=ADMIN)
    assert resp.status_code == 200
    assert resp.json['image']['deleted'] is True
    assert repo.calls[-1][2] == {'project_id': 'admin-project', 'is_admin': True,
                                 'include_deleted': True}


def test_include_deleted_bad_value_is_400(client, image):
    resp = client.simulate_get('/images/%s' % IMAGE_ID, params={'include_deleted': 'maybe'})
    assert resp.status_code == 400
    assert resp.json['error']['code'] == 'BadRequest'


def test_update_cas_and_purge(client, repo, image):
    image['properties'] = {'old': '1'}
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={
        'values': {'status': 'saving', 'properties': {'new': '2'}},
        'from_state': 'queued', 'purge_props': True})
    assert resp.status_code == 200
    assert resp.json['image']['status'] == 'saving'
    assert resp.json['image']['properties'] == {'new': '2'}
    assert repo.calls[-1][2] == {'from_state': 'queued', 'purge_props': True}


def test_update_lost_cas_is_409_conflict(client, image):
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={
        'values': {'status': 'active'}, 'from_state': 'saving'})
    assert resp.status_code == 409
    assert resp.json['error']['code'] == 'Conflict'
    assert 'queued' in resp.json['error']['message']


def test_update_defaults(client, repo, image):
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={'values': {'name': 'y'}})
    assert resp.status_code == 200
    assert repo.calls[-1] == ('image_update', (IMAGE_ID, {'name': 'y'}),
                              {'from_state': None, 'purge_props': False})


@pytest.mark.parametrize('body', [
    {}, {'values': []}, {'values': {}, 'from_state': 'nowhere'},
    {'values': {}, 'purge_props': 'yes'}, {'values': {'protected': 'no'}},
])
def test_update_bad_shape_is_400(client, repo, image, body):
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json=body)
    assert resp.status_code == 400
    assert repo.calls == []


def test_update_missing_is_404(client):
    resp = client.simulate_patch('/images/nope', json={'values': {'name': 'y'}})
    assert resp.status_code == 404
    assert resp.json['error']['code'] == 'ImageNotFound'


def test_destroy_returns_image_before(client, repo, image):
    resp = client.simulate_delete('/images/%s' % IMAGE_ID, params={'from_state': 'queued'})
    assert resp.status_code == 200
    assert resp.json['image']['status'] == 'queued'
    assert resp.json['image']['deleted'] is False
    assert repo.images[IMAGE_ID]['deleted'] is True
    assert repo.calls[-1] == ('image_destroy', (IMAGE_ID,), {'from_state': 'queued'})


def test_destroy_without_from_state(client, repo, image):
    assert client.simulate_delete('/images/%s' % IMAGE_ID).status_code == 200
    assert repo.calls[-1][2] == {'from_state': None}


def test_destroy_pending_delete(client, repo, image):
    resp = client.simulate_delete('/images/%s' % IMAGE_ID, params={'status': 'pending_delete'})
    assert resp.status_code == 200
    assert repo.images[IMAGE_ID]['status'] == 'pending_delete'
    assert repo.calls[-1][2] == {'from_state': None, 'status': 'pending_delete'}


def test_destroy_bad_status_is_400(client, repo, image):
    resp = client.simulate_delete('/images/%s' % IMAGE_ID, params={'status': 'active'})
    assert resp.status_code == 400
    assert repo.calls == []
