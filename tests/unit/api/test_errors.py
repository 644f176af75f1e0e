"""Error bodies by Accept, 404/405/501, body_reject, JSON body errors, request ids (§2)."""

import json

import pytest

from tests.unit.api.conftest import P1, json_headers

MISSING = '/v2/images/00000000-0000-0000-0000-000000000000'


def test_json_error_body(env):
    resp = env.client.simulate_get(MISSING, headers=json_headers(P1))
    assert resp.status_code == 404
    assert resp.headers['content-type'] == 'application/json'
    assert resp.json == {
        'message': 'No image found with ID 00000000-0000-0000-0000-000000000000'
                   '<br /><br />\n\n\n',
        'code': '404 Not Found', 'title': 'Not Found'}


@pytest.mark.parametrize('accept', [None, '*/*', 'text/html'])
def test_html_error_body_is_default(env, accept):
    headers = dict(P1)
    if accept:
        headers['Accept'] = accept
    resp = env.client.simulate_get(MISSING, headers=headers)
    assert resp.headers['content-type'] == 'text/html; charset=UTF-8'
    assert resp.text == (
        '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n'
        '  <h1>404 Not Found</h1>\n  No image found with ID '
        '00000000-0000-0000-0000-000000000000<br /><br />\n\n\n\n </body>\n</html>')


def test_plain_error_body(env):
    resp = env.client.simulate_get(MISSING, headers=dict(P1, Accept='text/plain'))
    assert resp.headers['content-type'] == 'text/plain; charset=UTF-8'
    assert resp.text == ('404 Not Found\n\nNo image found with ID '
                         '00000000-0000-0000-0000-000000000000\n\n   ')


def test_detail_form_message(env):
    image = env.create()
    resp = env.patch(image['id'], [{'op': 'replace', 'path': '/nope', 'value': 'x'}],
                     headers=json_headers(P1))
    assert resp.status_code == 409
    assert env.message(resp) == ('There was a conflict when trying to complete your request.'
                                 '<br /><br />\nProperty nope does not exist.\n\n')


def test_unknown_path_404(env):
    resp = env.client.simulate_get('/v2/nothing', headers=json_headers(P1))
    assert resp.status_code == 404
    assert env.message(resp) == 'The resource could not be found.<br /><br />\n\n\n'


@pytest.mark.parametrize('method,path,allow', [
    ('DELETE', '/v2/images', 'GET, POST'),
    ('HEAD', '/v2/images', 'GET, POST'),
    ('PUT', '/v2/images/x', 'GET, PATCH, DELETE'),
    ('POST', '/v2/schemas/image', 'GET'),
    ('GET', '/v2/images/x/tags/t', 'PUT, DELETE'),
    ('GET', '/v2/images/x/actions/deactivate', 'POST'),
])
def test_wrong_method_405_with_allow(env, method, path, allow):
    resp = env.client.simulate_request(method, path, headers=json_headers(P1))
    assert resp.status_code == 405
    assert resp.headers['allow'] == allow
    if method != 'HEAD':
        assert env.message(resp) == ('The method %s is not allowed for this resource. '
                                     '<br /><br />\n' % method)


def test_unknown_method_is_405_like_glance_33(env):
    resp = env.client.simulate_request('FOO', '/v2/images', headers=json_headers(P1))
    assert resp.status_code == 405
    assert resp.headers['allow'] == 'GET, POST'
    assert env.message(resp) == ('The method FOO is not allowed for this resource. '
                                 '<br /><br />\n')


@pytest.mark.parametrize('method,path', [
    ('GET', '/v2/images/x'), ('DELETE', '/v2/images/x'), ('PUT', '/v2/images/x/tags/t'),
    ('POST', '/v2/images/x/actions/deactivate'), ('GET', '/v2/images/x/members'),
    ('GET', '/v2/images/x/members/p2'), ('GET', '/v2/schemas/image'),
])
def test_body_reject(env, method, path):
    resp = env.client.simulate_request(method, path, body='{}', headers=json_headers(P1))
    assert resp.status_code == 400
    assert env.message(resp).startswith('A body is not expected with this request.')


def test_schema_task_accepts_body(env):
    resp = env.client.simulate_get('/v2/schemas/task', body='{}', headers=P1)
    assert resp.status_code == 200


@pytest.mark.parametrize('body,message', [
    ('{nope', 'Malformed JSON in request body.'),
    (b'\xff\xfe', 'Malformed JSON in request body.'),
    ('"text"', 'Unexpected body type. Expected list/dict.'),
    ('42', 'Unexpected body type. Expected list/dict.'),
    ('', 'Body expected in request.'),
])
def test_json_body_errors(env, body, message):
    resp = env.client.simulate_post('/v2/images', body=body, headers=json_headers(P1))
    assert resp.status_code == 400
    assert env.message(resp).startswith(message)


def test_request_id_generated_and_honoured(env):
    resp = env.client.simulate_get('/v2/images', headers=P1)
    assert resp.headers['x-openstack-request-id'].startswith('req-')
    assert len(resp.headers['x-openstack-request-id']) == 40
    resp = env.client.simulate_get('/v2/images', headers=dict(
        P1, **{'X-Openstack-Request-Id': 'req-abc'}))
    assert resp.headers['x-openstack-request-id'] == 'req-abc'
    resp = env.client.simulate_get('/v2/images', headers=dict(
        P1, **{'X-Openstack-Request-Id': 'abc'}))
    assert resp.headers['x-openstack-request-id'] == 'req-abc'


def test_request_id_too_long_is_4xx(env):
    resp = env.client.simulate_get('/v2/images', headers=dict(
        P1, **{'X-Openstack-Request-Id': 'x' * 65}))
    assert resp.status_code == 431


def test_unauthenticated_context_is_admin(env):
    resp = env.client.simulate_post('/v2/images', json={'name': 'a', 'visibility': 'public'})
    assert resp.status_code == 201
    assert resp.json['owner'] is None
    assert env.client.simulate_get('/v2/images').json['images'][0]['name'] == 'a'


def test_roles_are_lower_cased(env):
    headers = dict(P1, **{'X-Roles': 'ADMIN'})
    resp = env.client.simulate_post('/v2/images', json={'visibility': 'public'},
                                    headers=headers)
    assert resp.status_code == 201


def test_json_error_never_has_html_in_plain(env):
    resp = env.client.simulate_post('/v2/images', body=json.dumps({'self': 'x'}),
                                    headers=dict(P1, Accept='text/plain'))
    assert resp.status_code == 403
    assert resp.text == "403 Forbidden\n\nAttribute 'self' is read-only.\n\n   "


def test_read_only_context_cannot_mutate():
    from tests.unit.api.conftest import Env
    env = Env(**{'paste_deploy.flavor': 'keystone', 'allow_anonymous_access': True})
    falcon_app = env.app.v2_app._app   # behind keystonemiddleware
    import falcon.testing
    client = falcon.testing.TestClient(falcon_app)
    resp = client.simulate_post('/v2/images', json={}, headers={'Accept': 'application/json'})
    assert resp.status_code == 403
    assert resp.json['message'].startswith('Read-only access')
    resp = client.simulate_get('/v2/images', headers={'X-Identity-Status': 'Invalid'})
    assert resp.status_code == 403   # anonymous has no reader role for get_images


def test_keystone_flavor_without_confirmed_identity_is_401():
    from tests.unit.api.conftest import Env
    env = Env(**{'paste_deploy.flavor': 'keystone'})
    import falcon.testing
    client = falcon.testing.TestClient(env.app.v2_app._app)
    resp = client.simulate_get('/v2/images', headers={'X-Roles': 'admin', 'Accept': 'text/plain'})
    assert resp.status_code == 401
    resp = client.simulate_get('/v2/images', headers=P1)
    assert resp.status_code == 200


def test_registry_refusing_the_token_is_a_401_not_a_500():
    # NOTE: keystone flavor: the api validated (and cached) a token that the registry,
    # validating again, refuses (revoked meanwhile): the caller gets Glance's plain 401.
    from glance_registry import exceptions as reg_exc
    from tests.unit.api.conftest import P1, Env

    env = Env()

    def refuse(*args, **kwargs):
        raise reg_exc.Unauthorized('The request you have made requires authentication.',
                                   status=401)

    env.registry.image_get = refuse
    resp = env.client.simulate_get('/v2/images/0b2a3c4d-0000-4000-8000-000000000001',
                                   headers=dict(P1, Accept='application/json'))
    assert resp.status_code == 401
    assert resp.json['title'] == 'Unauthorized'
    assert resp.json['message'].startswith('This server could not verify that you are '
                                           'authorized to access the document you requested.')
