"""`flavor = keystone`: tokens validated by the api and again by the registry; 401s as Glance's.

The expected 401 answers were recorded from real Glance 33.0.0 (its unmodified
glance-api-paste.ini, `flavor = keystone`, the install guide's `[keystone_authtoken]`)
against this Keystone; test_glance33_answers_the_same re-checks them against real Glance
when its venv can be built (marker `oracle`).
"""
import datetime
import sqlite3
import time

import pytest
import requests

from tests.functional.keystone.conftest import unique

pytestmark = pytest.mark.keystone

# Real Glance 33: ContextMiddleware raises webob's HTTPUnauthorized; the body follows Accept.
UNAUTHORIZED_EXPLANATION = (
    "This server could not verify that you are authorized to access the document you "
    "requested. Either you supplied the wrong credentials (e.g., bad password), or your "
    "browser does not understand how to supply the credentials required.")
UNAUTHORIZED_HTML = (
    "<html>\n <head>\n  <title>401 Unauthorized</title>\n </head>\n <body>\n"
    "  <h1>401 Unauthorized</h1>\n  " + UNAUTHORIZED_EXPLANATION + "<br /><br />\n\n\n\n"
    " </body>\n</html>").encode()
UNAUTHORIZED_JSON = (
    '{"message": "' + UNAUTHORIZED_EXPLANATION + '<br /><br />\\n\\n\\n", '
    '"code": "401 Unauthorized", "title": "Unauthorized"}').encode()

TABLES = ("images", "image_properties", "image_tags", "image_locations", "image_members")


def db_snapshot(stack):
    """Return every row of the image tables of the stack's SQLite database."""
    path = stack.db_url.split("sqlite:///", 1)[1]
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}


def attempts(image_id):
    """Requests of every kind a client may send to the api: (method, path, kwargs)."""
    return [
        ("GET", "/v2/images", {}),
        ("GET", f"/v2/images/{image_id}", {}),
        ("POST", "/v2/images", {"json": {"name": "sneaky"}}),
        ("PATCH", f"/v2/images/{image_id}",
         {"json": [{"op": "replace", "path": "/name", "value": "sneaky"}],
          "headers": {"Content-Type": "application/openstack-images-v2.1-json-patch"}}),
        ("DELETE", f"/v2/images/{image_id}", {}),
        ("PUT", f"/v2/images/{image_id}/file",
         {"data": b"x" * 1000, "headers": {"Content-Type": "application/octet-stream"}}),
        ("PUT", f"/v2/images/{image_id}/tags/sneaky", {}),
        ("POST", f"/v2/images/{image_id}/members", {"json": {"member": "sneaky"}}),
        ("GET", "/v2/schemas/image", {}),
    ]


def assert_glance_401(resp, keystone, accept_json=False):
    """The 401 real Glance 33 sends: webob body by Accept and keystonemiddleware's header."""
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"] == 'Keystone uri="%s"' % keystone.url
    if accept_json:
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.content == UNAUTHORIZED_JSON
    else:
        assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert resp.content == UNAUTHORIZED_HTML
    assert resp.headers["Content-Length"] == str(len(resp.content))


@pytest.fixture
def demo_image(ks_stack, keystone):
    demo = keystone.user(ks_stack.api_url, "demo")
    return demo.create_image(name=unique("ks"), disk_format="raw", container_format="bare")


def expiring_token(keystone, seconds):
    """Return a token of alt_demo that Keystone stops honouring after ``seconds``, and the
    monotonic time by which it has expired.

    A trust-scoped token dies with its trust, so demo trusts alt_demo with a short expiry.
    """
    demo_token, demo_project, demo_user = keystone.issue("demo")
    _, _, alt_user = keystone.token("alt_demo")
    # NOTE: Keystone refuses a second trust with the same parties and expiry (to the second).
    for extra in range(10):
        deadline = time.monotonic() + seconds + extra + 1
        expires = (datetime.datetime.now(datetime.timezone.utc)
                   + datetime.timedelta(seconds=seconds + extra)).strftime("%Y-%m-%dT%H:%M:%SZ")
        resp = requests.post(keystone.url + "/v3/OS-TRUST/trusts", timeout=60,
                             headers={"X-Auth-Token": demo_token}, json={"trust": {
                                 "trustor_user_id": demo_user, "trustee_user_id": alt_user,
                                 "project_id": demo_project, "impersonation": False,
                                 "roles": [{"name": "member"}], "expires_at": expires}})
        if resp.status_code != 409:
            break
    assert resp.status_code == 201, resp.text
    trust_id = resp.json()["trust"]["id"]
    alt_token = keystone.issue("alt_demo")[0]
    resp = requests.post(keystone.url + "/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": alt_token}},
        "scope": {"OS-TRUST:trust": {"id": trust_id}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], deadline


def test_token_identity_reaches_the_registry(ks_stack, keystone):
    demo = keystone.user(ks_stack.api_url, "demo")
    image = demo.create_image(name=unique("ks"), visibility="private")
    assert image["owner"] == demo.project_id
    listed = [i["id"] for i in demo.get("/v2/images").json()["images"]]
    assert image["id"] in listed
    # another project does not see it; admin does
    alt = keystone.user(ks_stack.api_url, "alt_demo")
    assert alt.get(f"/v2/images/{image['id']}").status_code == 404
    admin = keystone.user(ks_stack.api_url, "admin")
    assert admin.get(f"/v2/images/{image['id']}").status_code == 200


def test_identity_headers_from_the_client_are_ignored(ks_stack, keystone):
    demo = keystone.user(ks_stack.api_url, "demo")
    image = demo.create_image(name=unique("ks"), visibility="private")
    alt = keystone.user(ks_stack.api_url, "alt_demo")
    forged = {"X-Roles": "admin", "X-Is-Admin": "True", "X-Project-Id": demo.project_id,
              "X-Identity-Status": "Confirmed", "X-Tenant-Id": demo.project_id}
    # api: keystonemiddleware replaces them with the token's
    assert alt.get(f"/v2/images/{image['id']}", headers=forged).status_code == 404
    resp = alt.post("/v2/images", json={"name": unique("ks")}, headers=forged)
    assert resp.status_code == 201 and resp.json()["owner"] == alt.project_id
    # registry reached directly with alt_demo's valid token
    resp = requests.get(f"{ks_stack.registry_url}/images/{image['id']}", timeout=30,
                        headers={"X-Auth-Token": alt.token, **forged})
    assert resp.status_code == 404, resp.text
    resp = requests.get(f"{ks_stack.registry_url}/images/{image['id']}", timeout=30,
                        headers={"X-Auth-Token": demo.token})
    assert resp.status_code == 200 and resp.json()["image"]["owner"] == demo.project_id


def test_reader_cannot_write(ks_stack, keystone):
    reader = keystone.user(ks_stack.api_url, "demo_reader")
    assert reader.get("/v2/images").status_code == 200
    assert reader.post("/v2/images", json={"name": unique("ks")}).status_code == 403


@pytest.mark.parametrize("kind", ["none", "bad", "revoked", "expired"])
def test_api_401_without_a_valid_token(ks_stack, keystone, demo_image, kind):
    if kind == "none":
        headers = {}
    elif kind == "bad":
        headers = {"X-Auth-Token": "gAAAAABnot-a-token"}
    elif kind == "revoked":
        token = keystone.issue("demo")[0]
        keystone.revoke(token)
        headers = {"X-Auth-Token": token}
    else:
        token, deadline = expiring_token(keystone, 8)
        assert keystone.validate(token) == 200
        time.sleep(max(0, deadline - time.monotonic()))
        assert keystone.validate(token) == 404
        headers = {"X-Auth-Token": token}
    before = db_snapshot(ks_stack)
    for method, path, kwargs in attempts(demo_image["id"]):
        kw = dict(kwargs, headers={**kwargs.get("headers", {}), **headers})
        resp = requests.request(method, ks_stack.api_url + path, timeout=30, **kw)
        assert_glance_401(resp, keystone)
    resp = requests.get(ks_stack.api_url + "/v2/images", timeout=30,
                        headers={"Accept": "application/json", **headers})
    assert_glance_401(resp, keystone, accept_json=True)
    resp = requests.head(ks_stack.api_url + "/v2/images", timeout=30, headers=headers)
    assert resp.status_code == 401 and resp.content == b""
    assert resp.headers["WWW-Authenticate"] == 'Keystone uri="%s"' % keystone.url
    assert db_snapshot(ks_stack) == before
    assert ks_stack.stored_files(demo_image["id"]) == []


def test_api_401_carries_no_request_id(ks_stack):
    # NOTE: Glance's 401 comes from its ContextMiddleware, before the Resource that adds
    # x-openstack-request-id.
    resp = requests.get(ks_stack.api_url + "/v2/images", timeout=30,
                        headers={"X-Openstack-Request-Id": "req-abc"})
    assert resp.status_code == 401
    assert "x-openstack-request-id" not in resp.headers


def test_expiring_token_works_until_it_expires(ks_stack, keystone):
    token, _ = expiring_token(keystone, 600)
    resp = requests.get(ks_stack.api_url + "/v2/images", timeout=30,
                        headers={"X-Auth-Token": token})
    assert resp.status_code == 200, resp.text


def test_versions_and_healthcheck_need_no_token(ks_stack):
    assert requests.get(ks_stack.api_url + "/", timeout=30).status_code == 300
    assert requests.get(ks_stack.api_url + "/versions", timeout=30).status_code == 200
    assert requests.get(ks_stack.api_url + "/healthcheck", timeout=30).status_code == 200
    assert requests.get(ks_stack.registry_url + "/healthcheck", timeout=30).status_code == 200


@pytest.mark.parametrize("token", [None, "gAAAAABnot-a-token"])
def test_registry_401_without_a_valid_token(ks_stack, keystone, demo_image, token):
    headers = {"X-Roles": "admin", "X-Is-Admin": "True", "X-Project-Id": "p",
               "X-Identity-Status": "Confirmed"}
    if token:
        headers["X-Auth-Token"] = token
    before = db_snapshot(ks_stack)
    base = ks_stack.registry_url
    calls = [
        ("GET", f"/images/{demo_image['id']}", None),
        ("POST", "/images/search", {}),
        ("POST", "/images", {"image": {"name": "sneaky"}}),
        ("PATCH", f"/images/{demo_image['id']}", {"values": {"name": "sneaky"}}),
        ("DELETE", f"/images/{demo_image['id']}", None),
        ("PUT", f"/images/{demo_image['id']}/tags/sneaky", None),
        ("POST", f"/images/{demo_image['id']}/members", {"member": "sneaky"}),
    ]
    for method, path, body in calls:
        resp = requests.request(method, base + path, json=body, headers=headers, timeout=30)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert db_snapshot(ks_stack) == before


def test_token_revoked_after_the_api_cached_it_is_a_401(ks_stack, keystone):
    # NOTE: the api validated (and cached) the token on a call that needs no registry; the
    # registry, validating it afresh once revoked, refuses it: a 401, never a 500. One
    # keep-alive session keeps the calls on the api worker that holds the cached token.
    token = keystone.issue("demo")[0]
    with requests.Session() as session:
        session.headers["X-Auth-Token"] = token
        assert session.get(ks_stack.api_url + "/v2/schemas/image", timeout=30).status_code \
            == 200
        keystone.revoke(token)
        resp = session.get(ks_stack.api_url + "/v2/images", timeout=30)
    assert_glance_401(resp, keystone)
