"""Real Glance 33 with its unmodified keystone pipeline answers unauthenticated calls as we do.

Real Glance runs with Glance's own glance-api-paste.ini (authtoken kept), `flavor = keystone`
and the install guide's `[keystone_authtoken]` against the same Keystone.
"""
import pytest
import requests

from tests.functional.glance33_oracle import RealGlance, glance33_bin, real_db_sync
from tests.functional.keystone.conftest import guide_authtoken

pytestmark = [pytest.mark.keystone, pytest.mark.oracle]

HEADERS = ("Content-Type", "Content-Length", "WWW-Authenticate")


class KeystoneRealGlance(RealGlance):
    """RealGlance with Glance's paste pipeline as shipped (keystonemiddleware included)."""

    def __init__(self, bin_dir, root, db_url, datadir, keystone_url):
        super().__init__(bin_dir, root, db_url, datadir,
                         "\n" + guide_authtoken("glance-api.conf", keystone_url))
        paste = bin_dir.parent / "etc" / "glance" / "glance-api-paste.ini"
        (self.confdir / "glance-api-paste.ini").write_text(paste.read_text())


@pytest.fixture(scope="module")
def real_glance(tmp_path_factory, keystone):
    bin_dir = glance33_bin()
    root = tmp_path_factory.mktemp("real-glance-ks")
    (root / "images").mkdir()
    db_url = f"sqlite:///{root}/glance.sqlite"
    real_db_sync(bin_dir, db_url, root)
    with KeystoneRealGlance(bin_dir, root, db_url, root / "images", keystone.url).running() as g:
        yield g


def answer(base, method, path, headers, body):
    resp = requests.request(method, base + path, headers=headers, json=body, timeout=60)
    return (resp.status_code, resp.content, {h: resp.headers.get(h) for h in HEADERS})


@pytest.mark.parametrize("token", [None, "gAAAAABnot-a-token", "revoked"])
@pytest.mark.parametrize("method,path,accept,body", [
    ("GET", "/v2/images", None, None),
    ("GET", "/v2/images", "application/json", None),
    ("HEAD", "/v2/images", None, None),
    ("POST", "/v2/images", "application/json", {"name": "x"}),
    ("DELETE", "/v2/images/6bbe7cc2-eae7-4c0f-b50d-a7160b0c6a86", "text/html", None),
    ("GET", "/v2/schemas/image", None, None),
])
def test_glance33_answers_the_same(real_glance, ks_stack, keystone, token, method, path,
                                   accept, body):
    headers = {"X-Openstack-Request-Id": "req-0123"}
    if accept:
        headers["Accept"] = accept
    if token == "revoked":
        token = keystone.issue("demo")[0]
        keystone.revoke(token)
    if token:
        headers["X-Auth-Token"] = token
    theirs = answer(real_glance.url, method, path, headers, body)
    ours = answer(ks_stack.api_url, method, path, headers, body)
    assert theirs[0] == 401
    assert ours == theirs


def test_glance33_sends_no_request_id_with_401(real_glance, ks_stack):
    headers = {"X-Openstack-Request-Id": "req-0123"}
    theirs = requests.get(real_glance.url + "/v2/images", headers=headers, timeout=60)
    ours = requests.get(ks_stack.api_url + "/v2/images", headers=headers, timeout=60)
    assert theirs.status_code == ours.status_code == 401
    assert "x-openstack-request-id" not in theirs.headers
    assert "x-openstack-request-id" not in ours.headers
