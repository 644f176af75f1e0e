"""Image members (docs/glance-api.md §7)."""

import pytest

from tests.unit.api.conftest import ADMIN, P1, P2, P3, Env, json_headers

JH1, JH2, JH3 = json_headers(P1), json_headers(P2), json_headers(P3)


def _url(image_id, member=None):
    url = '/v2/images/%s/members' % image_id
    return url + '/' + member if member else url


def _add(env, image_id, member='p2', headers=JH1):
    return env.client.simulate_post(_url(image_id), json={'member': member}, headers=headers)


@pytest.fixture
def image(env):
    return env.create()


def test_member_lifecycle(env, image):
    resp = _add(env, image['id'])
    assert resp.status_code == 200
    body = resp.json
    assert (body['member_id'], body['image_id'], body['status'], body['schema']) == \
        ('p2', image['id'], 'pending', '/v2/schemas/member')
    assert body['created_at'].endswith('Z') and body['updated_at'] == body['created_at']
    resp = env.client.simulate_get(_url(image['id']), headers=JH1)
    assert resp.json['schema'] == '/v2/schemas/members'
    assert [m['member_id'] for m in resp.json['members']] == ['p2']
    resp = env.client.simulate_get(_url(image['id'], 'p2'), headers=JH2)
    assert resp.json['status'] == 'pending'
    resp = env.client.simulate_put(_url(image['id'], 'p2'), json={'status': 'accepted'},
                                   headers=JH2)
    assert resp.status_code == 200 and resp.json['status'] == 'accepted'
    resp = env.client.simulate_delete(_url(image['id'], 'p2'), headers=JH1)
    assert resp.status_code == 204
    assert env.client.simulate_get(_url(image['id']), headers=JH1).json['members'] == []
    assert _add(env, image['id']).status_code == 200


def test_non_shared_image(env):
    image = env.create(visibility='private')
    resp = _add(env, image['id'])
    assert resp.status_code == 403
    assert env.message(resp).startswith('Not allowed to create members for image %s.'
                                        % image['id'])
    resp = env.client.simulate_get(_url(image['id']), headers=JH1)
    assert resp.status_code == 403
    assert env.message(resp).startswith('Not allowed to list members for image %s: Only '
                                        'shared images have members.' % image['id'])
    resp = env.client.simulate_get(_url(image['id'], 'p2'), headers=JH1)
    assert resp.status_code == 404


@pytest.mark.parametrize('body,message', [
    ({}, 'Member to be added not specified'),
    ({'member': ''}, "Member can't be empty"),
    ([], 'Expected a member in the form: {"member": "image_id"}'),
    ({'member': 5}, 'Expected a member in the form'),
])
def test_create_body_errors(env, image, body, message):
    resp = env.client.simulate_post(_url(image['id']), json=body, headers=JH1)
    assert resp.status_code == 400
    assert env.message(resp).startswith(message)


def test_duplicate_and_quota():
    env = Env(image_member_quota=1)
    image = env.create()
    assert _add(env, image['id']).status_code == 200
    resp = _add(env, image['id'])
    assert resp.status_code == 413
    assert env.message(resp).startswith('Image member limit exceeded for image %s: '
                                        % image['id'])
    env = Env()
    image = env.create()
    _add(env, image['id'])
    resp = _add(env, image['id'])
    assert resp.status_code == 409
    assert env.message(resp).startswith('Member p2 is duplicated for image %s' % image['id'])


def test_owner_cannot_accept_and_bad_status(env, image):
    _add(env, image['id'])
    resp = env.client.simulate_put(_url(image['id'], 'p2'), json={'status': 'accepted'},
                                   headers=JH1)
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete modify_member')
    resp = env.client.simulate_put(_url(image['id'], 'p2'), json={'status': 'maybe'},
                                   headers=JH2)
    assert resp.status_code == 400
    assert env.message(resp).startswith(
        'Incorrect request: Status must be "pending", "accepted" or "rejected".')
    resp = env.client.simulate_put(_url(image['id'], 'p2'), json={}, headers=JH2)
    assert resp.status_code == 400 and env.message(resp).startswith('Status not specified')
    resp = env.client.simulate_put(_url(image['id'], 'p2'), json={'status': 'rejected'},
                                   headers=json_headers(ADMIN))
    assert resp.status_code == 200


def test_member_cannot_delete_or_add(env, image):
    _add(env, image['id'])
    resp = env.client.simulate_delete(_url(image['id'], 'p2'), headers=JH2)
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete delete_member')
    resp = _add(env, image['id'], 'p3', headers=JH2)
    assert resp.status_code == 403


def test_member_sees_only_itself_and_outsiders_get_404(env, image):
    _add(env, image['id'], 'p2')
    _add(env, image['id'], 'p3')
    resp = env.client.simulate_get(_url(image['id']), headers=JH2)
    assert [m['member_id'] for m in resp.json['members']] == ['p2']
    assert env.client.simulate_get(_url(image['id'], 'p3'), headers=JH2).status_code == 404
    outsider = json_headers(dict(P1, **{'X-Project-Id': 'p9'}))
    assert env.client.simulate_get(_url(image['id']), headers=outsider).status_code == 404
    resp = env.client.simulate_get(_url(image['id'], 'p4'), headers=JH1)
    assert resp.status_code == 404
    assert env.message(resp).startswith('p4 not found in the member list of the image %s.'
                                        % image['id'])


def test_missing_image(env):
    resp = _add(env, '00000000-0000-0000-0000-000000000000')
    assert resp.status_code == 404
    assert env.message(resp).startswith(
        'Image 00000000-0000-0000-0000-000000000000 not found.')
    assert env.client.simulate_get(_url('nope'), headers=JH3).status_code == 404
