"""Show (§3.5), delete (§3.7), deactivate/reactivate (§3.8), tags (§3.9), image view (§3.2)."""

import pytest

from glance_api.app import create_app
from stores import exceptions as store_exc
from tests.unit.api.conftest import ADMIN, P1, P2, Env, json_headers
from tests.unit.api.fakes import FakeStore, FakeStores

JH = json_headers(P1)
MISSING = '00000000-0000-0000-0000-000000000000'


def _get(env, image_id, headers=JH):
    return env.client.simulate_get('/v2/images/' + image_id, headers=headers)


def test_show_and_visibility(env):
    image = env.create(name='a')
    assert _get(env, image['id']).json == image
    resp = _get(env, image['id'], json_headers(P2))
    assert resp.status_code == 404
    assert env.message(resp).startswith('No image found with ID %s' % image['id'])
    env.registry.member_create(None, image['id'], 'p2')
    assert _get(env, image['id'], json_headers(P2)).status_code == 200
    assert _get(env, 'x' * 40).status_code == 404


def test_view_null_props_and_hidden(env):
    image = env.create()
    props = env.registry.images[image['id']]['properties']
    props.update({'nul': None, 'os_glance_stage_host': 'h', 'os_glance_import_task': 't'})
    body = _get(env, image['id']).json
    assert body['nul'] == '' and body['os_glance_import_task'] == 't'
    assert 'os_glance_stage_host' not in body


def test_view_locations_direct_url_stores():
    env = Env(show_multiple_locations=True, show_image_direct_url=True,
              enabled_backends={'fast': 'file', 'cheap': 'file'})
    image = env.create()
    env.registry.images[image['id']]['locations'] = [
        {'id': 1, 'url': 'file:///a', 'metadata': {'store': 'fast'}, 'status': 'active'},
        {'id': 2, 'url': 'file:///b', 'metadata': {'store': 'cheap'}, 'status': 'active'},
        {'id': 3, 'url': 'file:///c', 'metadata': {}, 'status': 'deleted'}]
    body = _get(env, image['id']).json
    assert body['locations'] == [{'url': 'file:///a', 'metadata': {'store': 'fast'}},
                                 {'url': 'file:///b', 'metadata': {'store': 'cheap'}}]
    assert body['direct_url'] == 'file:///a'
    assert body['stores'] == 'fast,cheap'


def test_delete(env):
    image = env.create()
    resp = env.client.simulate_delete('/v2/images/' + image['id'], headers=P1)
    assert resp.status_code == 204 and resp.text == ''
    assert env.registry.images[image['id']]['deleted']
    resp = env.client.simulate_delete('/v2/images/' + image['id'], headers=JH)
    assert resp.status_code == 404
    assert env.message(resp).startswith('Failed to find image %s to delete' % image['id'])


def test_delete_protected_and_policy(env):
    image = env.create(protected=True)
    resp = env.client.simulate_delete('/v2/images/' + image['id'], headers=JH)
    assert resp.status_code == 403
    assert env.message(resp).startswith(
        'Image %s is protected and cannot be deleted.' % image['id'])
    public = env.create(headers=ADMIN, visibility='public')
    resp = env.client.simulate_delete('/v2/images/' + public['id'], headers=JH)
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete delete_image')
    private = env.create(visibility='private')
    resp = env.client.simulate_delete('/v2/images/' + private['id'], headers=json_headers(P2))
    assert resp.status_code == 404


def _with_data(env, store):
    env.stores = FakeStores(store)
    env.client.app = create_app(env.conf, registry=env.registry, stores=env.stores)
    image = env.create()
    env.registry.images[image['id']].update(status='active', locations=[
        {'id': 1, 'url': 'file:///x', 'metadata': {}, 'status': 'active'}])
    return image


def test_delete_removes_bytes(env):
    store = FakeStore()
    image = _with_data(env, store)
    assert env.client.simulate_delete('/v2/images/' + image['id'], headers=P1).status_code \
        == 204
    assert store.deleted == ['file:///x']
    assert env.registry.images[image['id']]['status'] == 'deleted'


def test_delete_store_not_found_keeps_going(env):
    image = _with_data(env, FakeStore(fail=store_exc.NotFound()))
    assert env.client.simulate_delete('/v2/images/' + image['id'], headers=P1).status_code \
        == 204
    assert env.registry.images[image['id']]['deleted']


@pytest.mark.parametrize('error,status', [(store_exc.InUseByStore(), 409),
                                          (store_exc.BackendUnavailable(), 503)])
def test_delete_store_error_keeps_image_active(env, error, status):
    image = _with_data(env, FakeStore(fail=error))
    resp = env.client.simulate_delete('/v2/images/' + image['id'], headers=P1)
    assert resp.status_code == status
    row = env.registry.images[image['id']]
    assert row['status'] == 'active' and not row['deleted']


def test_delete_store_timeout_answers_glance_503(env):
    image = _with_data(env, FakeStore(fail=store_exc.OperationTimeout(timeout=30)))
    resp = env.client.simulate_delete('/v2/images/' + image['id'],
                                      headers=dict(P1, Accept='application/json'))
    assert resp.status_code == 503
    assert env.message(resp).startswith(
        'Image %s could not be deleted because the filesystem store operation timed out: '
        'Operation timed out after 30s. Check storage health and connectivity.'
        % image['id'])
    row = env.registry.images[image['id']]
    assert row['status'] == 'active' and not row['deleted']


def _action(env, image_id, action, headers=JH):
    return env.client.simulate_post('/v2/images/%s/actions/%s' % (image_id, action),
                                    headers=headers)


def test_deactivate_reactivate(env):
    image = env.create()
    resp = _action(env, image['id'], 'deactivate')
    assert resp.status_code == 403
    assert env.message(resp).startswith("Not allowed to deactivate image in status 'queued'")
    env.registry.images[image['id']]['status'] = 'active'
    assert _action(env, image['id'], 'reactivate').status_code == 204
    assert _action(env, image['id'], 'deactivate').status_code == 204
    assert env.registry.images[image['id']]['status'] == 'deactivated'
    assert _action(env, image['id'], 'deactivate').status_code == 204
    assert _action(env, image['id'], 'reactivate').status_code == 204
    assert env.registry.images[image['id']]['status'] == 'active'
    assert _action(env, MISSING, 'deactivate').status_code == 404
    assert _action(env, image['id'], 'explode').status_code == 404


def test_deactivate_policy(env):
    image = env.create(visibility='public', headers=ADMIN)
    env.registry.images[image['id']]['status'] = 'active'
    resp = _action(env, image['id'], 'deactivate', json_headers(P2))
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete deactivate action.')


def _tag(env, method, image_id, tag, headers=JH):
    return env.client.simulate_request(method, '/v2/images/%s/tags/%s' % (image_id, tag),
                                       headers=headers)


def test_tags(env):
    image = env.create()
    assert _tag(env, 'PUT', image['id'], 't1').status_code == 204
    assert _tag(env, 'PUT', image['id'], 't1').status_code == 204
    assert _get(env, image['id']).json['tags'] == ['t1']
    assert _tag(env, 'DELETE', image['id'], 't1').status_code == 204
    resp = _tag(env, 'DELETE', image['id'], 't1')
    assert resp.status_code == 404
    assert env.message(resp).startswith('The resource could not be found.')
    resp = _tag(env, 'PUT', MISSING, 't')
    assert resp.status_code == 404
    assert env.message(resp).startswith('Image %s not found.' % MISSING)
    assert _tag(env, 'PUT', image['id'], 'x' * 256).status_code == 400


def test_tag_quota():
    env = Env(image_tag_quota=1)
    image = env.create(tags=['a'])
    resp = _tag(env, 'PUT', image['id'], 'b')
    assert resp.status_code == 413
    assert env.message(resp).startswith('Image tag limit exceeded for image %s: ' % image['id'])
    assert _tag(env, 'PUT', image['id'], 'a').status_code == 204


def test_image_tasks(env):
    image = env.create()
    resp = env.client.simulate_get('/v2/images/%s/tasks' % image['id'], headers=P1)
    assert resp.json == {'tasks': []}
    resp = env.client.simulate_get('/v2/images/%s/tasks' % MISSING, headers=P1)
    assert resp.status_code == 404


def test_delayed_delete_keeps_bytes():
    env = Env(delayed_delete=True)
    store = FakeStore()
    image = _with_data(env, store)
    assert env.client.simulate_delete('/v2/images/' + image['id'], headers=P1).status_code \
        == 204
    assert store.deleted == []
    row = env.registry.images[image['id']]
    assert row['deleted'] and row['status'] == 'pending_delete'
