"""The registry's own checks on every write (glance_registry.rights), over the FakeRepo.

The noauth app trusts identity headers and counts every caller as glance-api, so these
tests see the ownership rules alone; ``gated_client`` builds the app as keystone mode does
(identity from keystonemiddleware's headers, service token roles required) to see the gate.
"""

import falcon
import falcon.inspect
import falcon.testing
import pytest
from glance_db.repos import Repos

from glance_registry import app as registry_app
from glance_registry import context, rights
from tests.unit.registry.conftest import ADMIN, USER
from tests.unit.registry.fakes import make_image

IMAGE_ID = '11111111-2222-3333-4444-555555555555'
STRANGER = {**USER, 'X-Project-Id': 'p-stranger'}


@pytest.fixture
def image(repo):
    img = make_image(id=IMAGE_ID, owner='p1', name='mine', visibility='public')
    repo.images[IMAGE_ID] = img
    return img


def test_create_forces_the_callers_project_as_owner(client, repo):
    resp = client.simulate_post('/images', json={'image': {'name': 'x', 'owner': 'p-victim'}})
    assert resp.status_code == 201
    assert resp.json['image']['owner'] == 'p1'


def test_admin_creates_for_another_project(client, repo):
    resp = client.simulate_post('/images', json={'image': {'owner': 'p-other'}}, headers=ADMIN)
    assert resp.status_code == 201
    assert resp.json['image']['owner'] == 'p-other'


@pytest.mark.parametrize('method,path,body', [
    ('PATCH', '', {'values': {'name': 'pwned'}}),
    ('DELETE', '', None),
    ('PUT', '/tags/t', None),
    ('DELETE', '/tags/t', None),
    ('POST', '/members', {'member': 'p-stranger'}),
    ('DELETE', '/members/p2', None),
])
def test_a_stranger_cannot_change_an_image_it_can_see(client, repo, image, method, path,
                                                      body):
    resp = client.simulate_request(method, '/images/%s%s' % (IMAGE_ID, path), json=body,
                                   headers=STRANGER)
    assert resp.status_code == 403
    assert resp.json['error']['message'] in ('You do not own this image',
                                             'No permission to share that image')
    assert image['name'] == 'mine' and not image['deleted'] and image['tags'] == []
    assert not [c for c in repo.calls if c[0] not in ('image_get', 'member_list')]


def test_owner_change_is_for_admins(client, repo, image):
    path = '/images/%s' % IMAGE_ID
    resp = client.simulate_patch(path, json={'values': {'owner': 'p2'}})
    assert resp.status_code == 403
    assert image['owner'] == 'p1'
    assert client.simulate_patch(path, json={'values': {'owner': 'p1'}}).status_code == 200
    resp = client.simulate_patch(path, json={'values': {'owner': 'p2'}}, headers=ADMIN)
    assert resp.status_code == 200
    assert image['owner'] == 'p2'


def test_members_seen_by_a_member_are_its_own(client, repo, image):
    base = '/images/%s/members' % IMAGE_ID
    for member in ('p2', 'p3'):
        assert client.simulate_post(base, json={'member': member}).status_code == 201
    as_p2 = {**USER, 'X-Project-Id': 'p2'}
    assert [m['member'] for m in client.simulate_get(base, headers=as_p2).json['members']] \
        == ['p2']
    assert client.simulate_get(base + '/p3', headers=as_p2).status_code == 404
    assert client.simulate_put(base + '/p3', json={'status': 'accepted'},
                               headers=as_p2).status_code == 404
    assert client.simulate_delete(base + '/p3', headers=as_p2).status_code == 403
    assert [m['member'] for m in client.simulate_get(base).json['members']] == ['p2', 'p3']


def gated_client(repo, service_roles=('service',)):
    """The registry app as keystone mode builds it, minus keystonemiddleware itself."""
    app = falcon.App(middleware=[
        context.ContextMiddleware(admin_check=lambda roles, *_: 'admin' in roles,
                                  service_roles=service_roles),
        rights.ServiceGate()])
    registry_app._add_routes(app, Repos(images=repo, tasks=object(), cache=object(),
                                        usage=object(), scrub=object(), metadefs=object()))
    registry_app._add_error_handlers(app)
    return app, falcon.testing.TestClient(app)


AS_API = {'X-Service-Identity-Status': 'Confirmed', 'X-Service-Roles': 'admin,service'}


# NOTE: the resources that check the caller's rights read the body first; a well-formed one
# shows that the refusal is the gate's, not a 400.
VALID_BODIES = {
    ('PATCH', '/images/{image_id}'): {'values': {'name': 'pwned'}},
    ('POST', '/images/{image_id}/members'): {'member': 'p9'},
    ('PUT', '/images/{image_id}/members/{member}'): {'status': 'accepted'},
}


def _write_routes(app):
    for route in falcon.inspect.inspect_routes(app):
        for method in route.methods:
            if method.internal:
                continue
            yield route.path, method.method


def test_every_write_route_refuses_a_user_token_alone(repo, image):
    app, client = gated_client(repo)
    seen = 0
    for template, method in _write_routes(app):
        path = template.replace('{image_id}', IMAGE_ID).replace('{location_id:int}', '1')
        path = path.replace('{tag:path}', 't').replace('{member}', 'p2')
        path = path.replace('{task_id}', 't1').replace('{ns}', 'n').replace('{kind}', 'tags')
        path = path.replace('{name}', 'x').replace('{owner}', 'p1')
        writes = method in rights.WRITE_METHODS and template not in rights.READ_ONLY_POSTS
        service_only = template.startswith(('/cache', '/scrub', '/reservations')) or \
            template in ('/tasks/unfinished', '/tasks/fail', '/images/{image_id}/reservations')
        if not (writes or service_only):
            continue
        seen += 1
        body = VALID_BODIES.get((method, template), {})
        for headers in (USER, ADMIN):   # the image's owner, and an admin
            resp = client.simulate_request(method, path, json=body, headers=headers)
            assert resp.status_code == 403, (method, path, resp.text)
            assert resp.json['error']['code'] == 'Forbidden'
    assert seen >= 30
    assert image['name'] == 'mine' and not image['deleted']
    assert [c for c in repo.calls if c[0] != 'image_get'] == []


def test_the_api_with_its_service_token_may_write(repo, image):
    _, client = gated_client(repo)
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={'values': {'name': 'n'}},
                                 headers={**USER, **AS_API})
    assert resp.status_code == 200
    assert image['name'] == 'n'


@pytest.mark.parametrize('service_headers', [
    {'X-Service-Identity-Status': 'Confirmed', 'X-Service-Roles': 'member,reader'},
    {'X-Service-Identity-Status': 'Invalid', 'X-Service-Roles': 'service'},
    {'X-Service-Roles': 'service'},
])
def test_a_service_token_without_a_service_role_is_no_service(repo, image, service_headers):
    _, client = gated_client(repo)
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={'values': {'name': 'n'}},
                                 headers={**USER, **service_headers})
    assert resp.status_code == 403
    assert image['name'] == 'mine'


def test_keystone_mode_ignores_x_is_admin(repo, image):
    _, client = gated_client(repo)
    headers = {**STRANGER, **AS_API, 'X-Is-Admin': 'True'}
    resp = client.simulate_patch('/images/%s' % IMAGE_ID, json={'values': {'name': 'n'}},
                                 headers=headers)
    assert resp.status_code == 403
    assert resp.json['error']['message'] == 'You do not own this image'


class _Reservations:
    def __init__(self):
        self.reserved = []

    def reserve(self, image_id, url, metadata):
        self.reserved.append((image_id, url))
        return len(self.reserved)


def test_only_who_may_change_an_image_reserves_its_data_for_scrubbing(conf, repo, image):
    # NOTE: the scrubber deletes what is reserved; a stranger's reservation of another
    # project's URL would have it delete that project's bytes.
    from glance_registry.app import create_app

    scrub = _Reservations()
    client = falcon.testing.TestClient(create_app(conf, Repos(images=repo, scrub=scrub)))
    path = '/images/%s/reservations' % IMAGE_ID
    body = {'url': 'file:///var/lib/glance/images/%s' % IMAGE_ID, 'metadata': {}}
    resp = client.simulate_post(path, json=body, headers=STRANGER)
    assert resp.status_code == 403
    assert resp.json['error']['message'] == 'You do not own this image'
    assert scrub.reserved == []
    assert client.simulate_post(path, json=body, headers=USER).status_code == 201
    assert scrub.reserved == [(IMAGE_ID, body['url'])]


class _Namespaces:
    def namespace_create(self, values, contents):
        return dict(values)


def test_namespace_create_forces_the_callers_project_as_owner(conf):
    from glance_registry.app import create_app

    client = falcon.testing.TestClient(create_app(conf, Repos(images=None,
                                                              metadefs=_Namespaces())))
    body = {'namespace': {'namespace': 'n1', 'owner': 'p-victim'}}
    assert client.simulate_post('/metadefs/namespaces', json=body,
                                headers=USER).json['namespace']['owner'] == 'p1'
    assert client.simulate_post('/metadefs/namespaces', json=body,
                                headers=ADMIN).json['namespace']['owner'] == 'p-victim'
