"""Unit tests of the cache management API (glance_api.cache.resources) over the fake registry."""

import pytest

from tests.unit.api.conftest import ADMIN, P1, Env


@pytest.fixture
def env(tmp_path):
    return Env(image_cache_dir=str(tmp_path / 'cache'), image_cache_driver='sqlite',
               **{'paste_deploy.flavor': 'cachemanagement'})


def test_policy_before_not_supported():
    env = Env()
    assert env.client.simulate_get('/v2/cache', headers=P1).status_code == 403
    resp = env.client.simulate_get('/v2/cache', headers=ADMIN)
    assert resp.status_code == 404
    assert 'Caching via API is not supported at this site.' in resp.text
    # Without a *cachemanagement flavor the legacy routes do not exist.
    assert env.client.simulate_get('/v2/cached_images', headers=ADMIN).status_code == 404


def test_legacy_routes(env):
    image_id = '3f2504e0-4f89-11d3-9a0c-0305e82c3301'
    client = env.client
    assert client.simulate_get('/v2/cached_images', headers=P1).status_code == 403
    resp = client.simulate_put('/v2/queued_images/%s' % image_id, headers=ADMIN)
    assert resp.status_code == 200 and resp.json is None
    assert client.simulate_get('/v2/queued_images', headers=ADMIN).json == {
        'queued_images': [image_id]}
    assert client.simulate_get('/v2/cache', headers=ADMIN).json == {
        'cached_images': [], 'queued_images': [image_id]}
    assert client.simulate_delete('/v2/queued_images', headers=ADMIN).json == {
        'num_deleted': 1}
    assert client.simulate_get('/v2/cached_images', headers=ADMIN).json == {
        'cached_images': []}
    assert client.simulate_delete('/v2/cached_images', headers=ADMIN).json == {
        'num_deleted': 0}
    assert client.simulate_put('/v2/queued_images', headers=ADMIN).status_code == 404


def test_queue_needs_active_image(env):
    image = env.create(name='q', disk_format='raw', container_format='bare')
    resp = env.client.simulate_put('/v2/cache/%s' % image['id'], headers=ADMIN)
    assert resp.status_code == 400
    assert 'Only images with status active can be targeted for queueing' in resp.text
    # An image only in the queue is still known to DELETE /v2/cache/{id}.
    env.client.simulate_put('/v2/queued_images/%s' % image['id'], headers=ADMIN)
    assert env.client.simulate_delete('/v2/cache/%s' % image['id'],
                                      headers=ADMIN).status_code == 204
    assert env.client.simulate_get('/v2/cache', headers=ADMIN).json['queued_images'] == []


def test_versions_advertise_cache(env):
    versions = env.client.simulate_get('/versions').json['versions']
    assert [v['id'] for v in versions[:5]] == ['v2.18', 'v2.17', 'v2.16', 'v2.15', 'v2.14']
    assert versions[0]['status'] == 'CURRENT'
