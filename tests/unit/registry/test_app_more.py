"""Tags, members, list queries, error mapping and context of the registry app."""

import falcon
import falcon.testing
import pytest
from glance_db import exceptions as db_exc
from oslo_config import cfg
from oslo_policy import opts as policy_opts
from sqlalchemy import exc as sa_exc

from glance_registry import context
from glance_registry import policy as registry_policy
from tests.unit.registry.conftest import ADMIN, USER
from tests.unit.registry.fakes import make_image

IMAGE_ID = '11111111-2222-3333-4444-555555555555'


@pytest.fixture
def image(repo):
    img = make_image(id=IMAGE_ID, owner='p1')
    repo.images[IMAGE_ID] = img
    return img


@pytest.mark.parametrize('tag', ['plain', 'with space', 'a/b', 'café', '100%', 'q?x'])
def test_tag_add_and_delete(client, repo, image, tag):
    from urllib.parse import quote

    path = '/images/%s/tags/%s' % (IMAGE_ID, quote(tag, safe=''))
    resp = client.simulate_put(path)
    assert resp.status_code == 204
    assert resp.text == ''
    assert image['tags'] == [tag]
    assert client.simulate_delete(path).status_code == 204
    assert image['tags'] == []
    resp = client.simulate_delete(path)
    assert resp.status_code == 404
    assert resp.json['error']['code'] == 'TagNotFound'


def test_tag_too_long_is_400(client, repo, image):
    resp = client.simulate_put('/images/%s/tags/%s' % (IMAGE_ID, 'x' * 256))
    assert resp.status_code == 400
    assert repo.calls == []


def test_members_crud(client, repo, image):
    base = '/images/%s/members' % IMAGE_ID
    resp = client.simulate_post(base, json={'member': 'p2', 'can_share': True})
    assert resp.status_code == 201
    assert resp.json['member']['member'] == 'p2'
    assert resp.json['member']['status'] == 'pending'
    assert repo.calls[-1] == ('member_create', (IMAGE_ID, 'p2'), {'can_share': True})
    assert client.simulate_post(base, json={'member': 'p3'}).status_code == 201
    assert repo.calls[-1][2] == {'can_share': False}
    assert client.simulate_post(base, json={'member': 'p2'}).json['error']['code'] == \
        'Duplicate'
    assert [m['member'] for m in client.simulate_get(base).json['members']] == ['p2', 'p3']
    narrowed = client.simulate_get(base, params={'member': 'p3'}).json['members']
    assert [m['member'] for m in narrowed] == ['p3']
    assert client.simulate_get(base + '/p2').json['member']['can_share'] is True
    resp = client.simulate_put(base + '/p2', json={'status': 'accepted'})
    assert resp.status_code == 403   # only the member itself sets its status
    assert resp.json['error']['code'] == 'Forbidden'
    resp = client.simulate_put(base + '/p2', json={'status': 'accepted'},
                               headers={**USER, 'X-Project-Id': 'p2'})
    assert resp.status_code == 200
    assert resp.json['member']['status'] == 'accepted'
    resp = client.simulate_delete(base + '/p2')
    assert resp.status_code == 204
    resp = client.simulate_get(base + '/p2')
    assert resp.status_code == 404
    assert resp.json['error']['code'] == 'MemberNotFound'


@pytest.mark.parametrize('method,path,body', [
    ('POST', '/members', {}), ('POST', '/members', {'member': 1}),
    ('POST', '/members', {'member': 'p', 'can_share': 'yes'}),
    ('PUT', '/members/p2', {'status': 'maybe'}), ('PUT', '/members/p2', {}),
])
def test_member_bad_body_is_400(client, repo, image, method, path, body):
    resp = client.simulate_request(method, '/images/%s%s' % (IMAGE_ID, path), json=body)
    assert resp.status_code == 400
    assert resp.json['error']['code'] == 'BadRequest'
    assert repo.calls == []


def test_member_of_missing_image_is_404(client):
    resp = client.simulate_get('/images/nope/members')
    assert resp.status_code == 404
    assert resp.json['error']['code'] == 'ImageNotFound'


def test_search_passes_full_query(client, repo, image):
    query = {'filters': [['status', 'in', ['queued', 'active']], ['size', 'gte', 5]],
             'tags': ['a'], 'visibility': 'shared', 'member_status': 'all',
             'os_hidden': False, 'marker': None, 'limit': 20,
             'sort': [['name', 'asc'], ['created_at', 'desc'], ['id', 'desc']]}
    resp = client.simulate_post('/images/search', json=query)
    assert resp.status_code == 200
    assert resp.json == {'images': [image]}
    assert repo.calls[-1] == ('image_list', (), {'project_id': 'p1', 'is_admin': False,
                                                 **query})


def test_search_fills_defaults_for_admin(client, repo):
    resp = client.simulate_post('/images/search', json={}, headers=ADMIN)
    assert resp.status_code == 200
    assert resp.json == {'images': []}
    kwargs = repo.calls[-1][2]
    assert kwargs['is_admin'] is True and kwargs['project_id'] == 'admin-project'
    assert kwargs['member_status'] == 'accepted' and kwargs['os_hidden'] is None
    assert kwargs['limit'] == 25 and kwargs['filters'] == []


@pytest.mark.parametrize('query', [
    [], 'x', {'limit': -1}, {'limit': '20'}, {'limit': True}, {'limit': 1.5},
    {'filters': [['name', 'like', 'x']]}, {'filters': [['name', 'eq']]},
    {'filters': ['name']}, {'filters': [['name', 'eq', {'a': 1}]]},
    {'filters': [['name', 'in', [[1]]]]}, {'filters': [[None, 'eq', 1]]},
    {'tags': 'a'}, {'tags': [1]}, {'visibility': 'everyone'}, {'member_status': 'x'},
    {'os_hidden': 'false'}, {'marker': 5}, {'sort': [['name', 'up']]}, {'sort': [['name']]},
    {'sort': 'name'}, {'bogus': 1}, {'filters': [['size', 'gte', 2 ** 63]]},
    {'filters': [['size', 'in', [1, -2 ** 64]]]},
])
def test_search_bad_shape_is_400(client, repo, query):
    resp = client.simulate_post('/images/search', json=query)
    assert resp.status_code == 400
    assert resp.json['error']['code'] == 'BadRequest'
    assert repo.calls == []


@pytest.mark.parametrize('query', [{'filters': [['', 'eq', 'x']]},
                                   {'filters': [['p' * 300, 'eq', 'x']]}, {'tags': ['t' * 300]}])
def test_search_for_what_no_image_can_hold_reaches_the_repo(client, repo, query):
    # NOTE: GET /v2/images?=x is a filter on the property '' in Glance: no image, no error.
    resp = client.simulate_post('/images/search', json=query)
    assert (resp.status_code, resp.json) == (200, {'images': []})
    assert repo.calls[-1][0] == 'image_list'


def test_search_malformed_json_is_400(client, repo):
    resp = client.simulate_post('/images/search', body=b'{"limit": ')
    assert resp.status_code == 400
    assert 'Malformed JSON' in resp.json['error']['message']


def test_search_unknown_marker_is_400(client):
    resp = client.simulate_post('/images/search', json={'marker': 'nope'})
    assert resp.status_code == 400
    assert resp.json['error']['code'] == 'MarkerNotFound'


@pytest.mark.parametrize('exc,status', [
    (db_exc.ImageNotFound('m'), 404), (db_exc.MemberNotFound('m'), 404),
    (db_exc.TagNotFound('m'), 404), (db_exc.MarkerNotFound('m'), 400),
    (db_exc.InvalidFilter('m'), 400), (db_exc.InvalidSortKey('m'), 400),
    (db_exc.Duplicate('m'), 409), (db_exc.Conflict('m'), 409),
])
def test_db_errors_map_to_status_and_code(client, repo, exc, status):
    repo.fail_with = exc
    resp = client.simulate_post('/images/search', json={})
    assert resp.status_code == status
    assert resp.json == {'error': {'code': type(exc).__name__, 'message': 'm'}}


@pytest.mark.parametrize('exc,status,code', [
    (sa_exc.OperationalError('SELECT', {}, Exception('gone')), 503, 'RegistryUnavailable'),
    (sa_exc.DataError('INSERT', {}, Exception('too long')), 400, 'BadRequest'),
    (sa_exc.IntegrityError('INSERT', {}, Exception('null')), 400, 'BadRequest'),
    (RuntimeError('boom'), 500, 'InternalError'),
])
def test_unnamed_errors_never_leak(client, repo, exc, status, code):
    repo.fail_with = exc
    resp = client.simulate_get('/images/%s' % IMAGE_ID)
    assert resp.status_code == status
    assert resp.json['error']['code'] == code
    assert 'boom' not in resp.text and 'SELECT' not in resp.text


def test_unknown_route_and_method(client):
    resp = client.simulate_get('/nothing')
    assert resp.status_code == 404
    assert resp.json['error']['code'] == 'NotFound'
    resp = client.simulate_put('/images')
    assert resp.status_code == 405
    assert resp.json['error']['code'] == 'MethodNotAllowed'
    assert 'POST' in resp.headers['allow']


def test_request_id_is_echoed_or_made(client):
    resp = client.simulate_get('/healthcheck', headers={'X-Openstack-Request-Id': 'req-abc'})
    assert resp.headers['x-openstack-request-id'] == 'req-abc'
    made = client.simulate_get('/healthcheck').headers['x-openstack-request-id']
    assert made.startswith('req-') and len(made) == 40


def _ctx_app(keystone, policy_file=None):
    seen = {}

    class Probe:
        def on_get(self, req, resp):
            seen['ctx'] = req.context.ctx

    admin_check = None
    if keystone:
        conf = cfg.ConfigOpts()
        policy_opts.set_defaults(conf)
        conf([], project='glance', default_config_files=[], default_config_dirs=[])
        if policy_file:
            conf.set_override('policy_file', policy_file, group='oslo_policy')
        admin_check = registry_policy.AdminCheck(conf).check
    app = falcon.App(middleware=[context.ContextMiddleware(admin_check=admin_check)])
    app.add_route('/', Probe())
    return app, seen


@pytest.mark.parametrize('keystone,headers,admin', [
    (False, {'X-Is-Admin': 'True', 'X-Roles': 'member'}, True),
    (False, {'X-Is-Admin': 'False', 'X-Roles': 'admin'}, False),
    (False, {}, False),
    (True, {'X-Is-Admin': 'True', 'X-Roles': 'member'}, False),
    (True, {'X-Roles': 'Reader, ADMIN'}, True),
])
def test_context_from_headers(keystone, headers, admin):
    app, seen = _ctx_app(keystone)
    falcon.testing.simulate_get(app, '/', headers={'X-Project-Id': 'p', 'X-User-Id': 'u',
                                                   **headers})
    ctx = seen['ctx']
    assert ctx.is_admin is admin
    assert (ctx.project_id, ctx.user_id) == ('p', 'u')
    assert ctx.roles == [r.strip().lower() for r in headers.get('X-Roles', '').split(',')
                         if r.strip()]


def test_context_is_admin_rule_overridden_in_policy_file(tmp_path):
    # NOTE: as Glance's registry, admin is the context_is_admin rule, which policy.yaml
    # may change; the api applies the same rule, so both agree on who is admin.
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"context_is_admin": "role:cloud_admin"\n')
    app, seen = _ctx_app(True, str(policy_file))
    for roles, admin in (('admin,member', False), ('Cloud_Admin', True)):
        falcon.testing.simulate_get(app, '/', headers={'X-Project-Id': 'p', 'X-Roles': roles})
        assert seen['ctx'].is_admin is admin
