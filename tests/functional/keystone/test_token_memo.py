"""What each worker remembers of a validated token (glance_server.token_memo) is no looser
than keystonemiddleware's own cache: forged identity headers are still dropped, a token is
checked again after `token_cache_time`, a pair with another service token is validated anew.

One worker per service and `token_cache_time = 2`, so every repeated call meets the memo.
"""
import time

import pytest
import requests

from tests.functional.keystone.conftest import keystone_stack, unique
from tests.functional.keystone.test_auth import assert_glance_401

pytestmark = pytest.mark.keystone

CACHE_TIME = 2
FORGED = {"X-Roles": "admin", "X-Is-Admin": "True", "X-Identity-Status": "Confirmed",
          "X-Service-Identity-Status": "Confirmed", "X-Service-Roles": "service"}


@pytest.fixture(scope="module")
def memo_stack(tmp_path_factory, keystone):
    extra = f"token_cache_time = {CACHE_TIME}\n"
    with keystone_stack(tmp_path_factory, keystone, "ks-memo", workers=1, api_extra=extra,
                        registry_extra=extra) as running:
        yield running


def test_forged_headers_beside_a_remembered_token_are_dropped(memo_stack, keystone):
    demo = keystone.user(memo_stack.api_url, "demo")
    image = demo.create_image(name=unique("memo"), visibility="private")
    token, alt_project, _ = keystone.issue("alt_demo")
    with requests.Session() as api, requests.Session() as registry:
        api.headers["X-Auth-Token"] = registry.headers["X-Auth-Token"] = token
        url = f"/images/{image['id']}"
        for headers in ({}, dict(FORGED, **{"X-Project-Id": demo.project_id})):
            assert api.get(memo_stack.api_url + "/v2" + url, headers=headers,
                           timeout=30).status_code == 404
            resp = registry.patch(memo_stack.registry_url + url, headers=headers, timeout=30,
                                  json={"values": {"name": "pwned"}})
            assert resp.status_code == 404, resp.text
        created = api.post(memo_stack.api_url + "/v2/images", headers=FORGED, timeout=30,
                           json={"name": unique("memo"), "owner": demo.project_id})
    assert created.status_code == 403, created.text
    assert demo.show(image["id"])["name"] == image["name"]


def test_a_remembered_user_token_cannot_pose_as_glance_api(memo_stack, keystone):
    # The owner's own token, no X-Service-Token: the service identity it forges must be
    # dropped on a remembered token as on a fresh one (only glance-api may reserve bytes).
    demo = keystone.user(memo_stack.api_url, "demo")
    image = demo.create_image(name=unique("memo"), visibility="private")
    url = f"{memo_stack.registry_url}/images/{image['id']}/reservations"
    body = {"url": "file:///etc/passwd", "metadata": {}}
    with requests.Session() as registry:
        registry.headers["X-Auth-Token"] = demo.token
        for headers in ({}, FORGED, FORGED):
            resp = registry.post(url, json=body, headers=headers, timeout=30)
            assert resp.status_code == 403, resp.text
            assert "Only glance-api may change the image registry" in resp.text


def test_a_revoked_token_is_refused_once_token_cache_time_has_passed(memo_stack, keystone):
    token = keystone.issue("demo")[0]
    with requests.Session() as api, requests.Session() as registry:
        api.headers["X-Auth-Token"] = registry.headers["X-Auth-Token"] = token
        assert api.get(memo_stack.api_url + "/v2/images", timeout=30).status_code == 200
        assert registry.post(memo_stack.registry_url + "/images/search", json={},
                             timeout=30).status_code == 200
        keystone.revoke(token)
        time.sleep(CACHE_TIME + 0.5)
        assert_glance_401(api.get(memo_stack.api_url + "/v2/images", timeout=30), keystone)
        resp = registry.post(memo_stack.registry_url + "/images/search", json={}, timeout=30)
    assert resp.status_code == 401, resp.text


def test_a_remembered_user_token_with_a_bad_service_token_is_a_401(memo_stack, keystone):
    token = keystone.issue("demo")[0]
    url = memo_stack.registry_url + "/images/search"
    with requests.Session() as registry:
        registry.headers["X-Auth-Token"] = token
        assert registry.post(url, json={}, timeout=30).status_code == 200
        assert registry.post(url, json={}, timeout=30).status_code == 200
        resp = registry.post(url, json={}, timeout=30,
                             headers={"X-Service-Token": "gAAAAABnot-a-token"})
    assert resp.status_code == 401, resp.text
