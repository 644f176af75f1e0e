"""Versions document, version negotiation, healthcheck (docs/glance-api.md §1, §16)."""

import pytest

from tests.unit.api.conftest import P1, Env

NO_CACHE = ['v2.15', 'v2.9', 'v2.17', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1',
            'v2.0', 'v1.1', 'v1.0']
FULL = ['v2.18', 'v2.17', 'v2.16', 'v2.15', 'v2.14', 'v2.13', 'v2.12', 'v2.11', 'v2.10',
        'v2.9', 'v2.8', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0',
        'v1.1', 'v1.0']


def _ids(resp):
    return [v['id'] for v in resp.json['versions']]


def test_root_is_300_with_default_list(env):
    resp = env.client.simulate_get('/')
    assert resp.status_code == 300
    assert resp.headers['content-type'] == 'application/json'
    assert _ids(resp) == NO_CACHE
    current = [v['id'] for v in resp.json['versions'] if v['status'] == 'CURRENT']
    assert current == ['v2.17']
    assert resp.json['versions'][0]['links'] == [
        {'rel': 'self', 'href': 'http://falconframework.org/v2/'}]
    assert 'x-openstack-request-id' not in resp.headers


def test_versions_is_200(env):
    assert env.client.simulate_get('/versions').status_code == 200
    assert env.client.simulate_get('/versions/anything').status_code == 200


def test_cache_and_multistore_list():
    env = Env(image_cache_dir='/tmp/cache', enabled_backends={'fast': 'file', 'cheap': 'file'})
    resp = env.client.simulate_get('/')
    assert _ids(resp) == FULL
    assert resp.json['versions'][0]['status'] == 'CURRENT'
    assert all(v['status'] == 'SUPPORTED' for v in resp.json['versions'][1:-2])
    assert [(v['status'], v['links'][0]['href']) for v in resp.json['versions'][-2:]] == [
        ('DEPRECATED', 'http://falconframework.org/v1/')] * 2


def test_without_v1_the_list_is_glance_33s():
    env = Env(enable_v1_api=False)
    assert _ids(env.client.simulate_get('/')) == NO_CACHE[:-2]
    for path in ('/v1/images', '/v1.0/images', '/v1.1/images'):
        assert env.client.simulate_get(path, headers=P1).status_code == 300
    headers = dict(P1, Accept='application/vnd.openstack.images-v1')
    assert env.client.simulate_get('/images', headers=headers).status_code == 300


@pytest.mark.parametrize('prefix', ['/v1', '/v1.0', '/v1.1'])
def test_v1_prefixes_route_to_v1(env, prefix):
    resp = env.client.simulate_get(prefix + '/images', headers=P1)
    assert resp.status_code == 200
    assert resp.json == {'images': []}


def test_public_endpoint_is_used():
    env = Env(public_endpoint='https://img.example.com/image/')
    resp = env.client.simulate_get('/')
    assert resp.json['versions'][0]['links'][0]['href'] == 'https://img.example.com/image/v2/'


@pytest.mark.parametrize('path', ['/v3/images', '/images', '/v2.19/images', '/v3/x', '/v2.8/images',
                                  '/v2.18/images'])
def test_unknown_version_prefix_gives_300(env, path):
    assert env.client.simulate_get(path, headers=P1).status_code == 300


@pytest.mark.parametrize('prefix', ['/v2', '/v2.0', '/v2.1', '/v2.9', '/v2.15', '/v2.17'])
def test_accepted_prefixes_route_to_v2(env, prefix):
    resp = env.client.simulate_get(prefix + '/images', headers=P1)
    assert resp.status_code == 200
    assert resp.json['images'] == []


def test_cache_versions_accepted_only_with_cache():
    env = Env(image_cache_dir='/tmp/cache')
    assert env.client.simulate_get('/v2.18/images', headers=P1).status_code == 200


def test_accept_header_versioning(env):
    headers = dict(P1, Accept='application/vnd.openstack.images-v2.1')
    assert env.client.simulate_get('/images', headers=headers).status_code == 200
    headers['Accept'] = 'application/vnd.openstack.images-v9'
    assert env.client.simulate_get('/images', headers=headers).status_code == 300


def test_v2_redirects_and_v2_slash_is_404(env):
    resp = env.client.simulate_get('/v2', headers=P1)
    assert resp.status_code == 302
    assert resp.headers['location'] == 'http://falconframework.org/v2/'
    assert env.client.simulate_get('/v2/', headers=P1).status_code == 404


def test_healthcheck(env, tmp_path):
    resp = env.client.simulate_get('/healthcheck')
    assert (resp.status_code, resp.text) == (200, 'OK')
    assert 'x-openstack-request-id' not in resp.headers
    resp = env.client.simulate_get('/healthcheck', headers={'Accept': 'application/json'})
    assert resp.json == {'detailed': False, 'reasons': ['OK']}
    assert env.client.simulate_head('/healthcheck').status_code == 204
