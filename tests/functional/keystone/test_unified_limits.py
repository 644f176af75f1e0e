"""Keystone unified limits (`use_keystone_limits`) against the real Keystone.

The test registers its own service and endpoint in Keystone (type ``image-limits-test``, so
the catalog's image endpoints that tempest and the CLI tests use are untouched), registered
limits on it, and gives the glance user the system reader role oslo.limit needs, as Glance's
quota guide says. The stack reads the limits with `[oslo_limit] endpoint_id`.
"""
import contextlib
import fcntl
import tempfile

import pytest
import requests

from tests.functional.keystone.conftest import KeystoneStack, PASSWORD

MIB = 1024 * 1024
LIMITS = {"image_size_total": 3, "image_stage_total": 100, "image_count_total": 3,
          "image_count_uploading": 2}
SERVICE_TYPE = "image-limits-test"


def _system_admin_token(keystone):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"system": {"all": True}}}}
    resp = requests.post(keystone.url + "/v3/auth/tokens", json=body, timeout=60)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


class _Admin:
    def __init__(self, keystone):
        self.url = keystone.url + "/v3"
        self.headers = {"X-Auth-Token": _system_admin_token(keystone)}

    def get(self, path, **params):
        resp = requests.get(self.url + path, headers=self.headers, params=params, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def post(self, path, body, expect=(201,)):
        resp = requests.post(self.url + path, headers=self.headers, json=body, timeout=60)
        assert resp.status_code in expect, resp.text
        return resp.json() if resp.content else None

    def put(self, path):
        resp = requests.put(self.url + path, headers=self.headers, timeout=60)
        assert resp.status_code in (200, 201, 204), resp.text


def _one(items):
    return items[0] if items else None


def register_limits(keystone, api_url):
    """Create (once) the test service, its endpoint and registered limits; return the
    endpoint id.

    NOTE: both xdist workers (and other runs on the shared Keystone) may get here at once:
    a machine-wide lock keeps the read-then-create steps from racing (seen: a duplicate
    registered limit, 409).
    """
    with open(tempfile.gettempdir() + "/glance-clone-limits-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _register_limits(keystone, api_url)


def _register_limits(keystone, api_url):
    admin = _Admin(keystone)
    service = _one(admin.get("/services", type=SERVICE_TYPE)["services"])
    if service is None:
        service = admin.post("/services", {"service": {
            "type": SERVICE_TYPE, "name": "glance-limits-test"}})["service"]
    endpoint = _one(admin.get("/endpoints", service_id=service["id"],
                              interface="public")["endpoints"])
    if endpoint is None:
        endpoint = admin.post("/endpoints", {"endpoint": {
            "service_id": service["id"], "interface": "public", "url": api_url,
            "region_id": "RegionOne"}})["endpoint"]
    existing = {lim["resource_name"]: lim for lim in admin.get(
        "/registered_limits", service_id=service["id"])["registered_limits"]}
    for name, value in LIMITS.items():
        if name in existing:
            if existing[name]["default_limit"] != value:
                resp = requests.patch(f"{admin.url}/registered_limits/{existing[name]['id']}",
                                      headers=admin.headers, timeout=60, json={
                                          "registered_limit": {"default_limit": value}})
                assert resp.status_code == 200, resp.text
            continue
        admin.post("/registered_limits", {"registered_limits": [{
            "service_id": service["id"], "region_id": "RegionOne",
            "resource_name": name, "default_limit": value}]})
    glance = admin.get("/users", name="glance")["users"][0]
    reader = admin.get("/roles", name="reader")["roles"][0]
    admin.put(f"/system/users/{glance['id']}/roles/{reader['id']}")
    return endpoint["id"]


@pytest.fixture(scope="module")
def limits_stack(tmp_path_factory, keystone):
    root = tmp_path_factory.mktemp("ks-limits")
    endpoint_id = register_limits(keystone, "http://127.0.0.1:9292")
    running = KeystoneStack(root, f"sqlite:///{root}/glance.sqlite", "ks-limits", keystone)
    running.api_extra += (
        "\n[DEFAULT]\nuse_keystone_limits = True\n"
        "\n[oslo_limit]\n"
        f"auth_url = {keystone.url}\nauth_type = password\nuser_domain_id = default\n"
        f"username = glance\npassword = {PASSWORD}\nsystem_scope = all\n"
        f"endpoint_id = {endpoint_id}\nregion_name = RegionOne\n")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(running.stop)
        running.start()
        yield running


def _usage(user):
    resp = user.get("/v2/info/usage")
    assert resp.status_code == 200, resp.text
    return resp.json()["usage"]


def test_limits_enforced_and_usage_reported(limits_stack, keystone):
    # alt_demo's project: nothing else in this stack's fresh DB belongs to it.
    user = keystone.user(limits_stack.api_url, "alt_demo")
    assert _usage(user) == {name: {"limit": value, "usage": 0}
                            for name, value in LIMITS.items()}

    first = user.create_active(b"a" * (2 * MIB))
    assert first["status"] == "active"
    usage = _usage(user)
    assert usage["image_size_total"] == {"limit": 3, "usage": 2}
    assert usage["image_count_total"] == {"limit": 3, "usage": 1}

    # 2 MiB more would make 4 MiB of a 3 MiB limit: refused before any byte is stored.
    second = user.create_image(disk_format="raw", container_format="bare")
    resp = user.upload(second["id"], b"b" * (2 * MIB))
    assert resp.status_code == 413, resp.text
    assert "quota threshold was breached" in resp.text
    assert "image_size_total" in resp.text
    image = user.show(second["id"])
    assert image["status"] == "queued" and image["size"] is None
    assert limits_stack.stored_files(second["id"]) == []

    # image_count_total = 3: the third image is the last one allowed.
    user.create_image(name="third")
    resp = user.post("/v2/images", json={"name": "fourth"})
    assert resp.status_code == 413, resp.text
    assert "image_count_total" in resp.text
    usage = _usage(user)
    assert usage["image_count_total"] == {"limit": 3, "usage": 3}
    assert usage["image_count_uploading"] == {"limit": 2, "usage": 0}

    # Deleting frees room on both limits.
    assert user.delete(f"/v2/images/{first['id']}").status_code == 204
    assert _usage(user)["image_size_total"]["usage"] == 0
    assert user.upload(second["id"], b"b" * (2 * MIB)).status_code == 204
    assert user.post("/v2/images", json={"name": "fourth"}).status_code == 201


def test_limits_enforced_through_v1(limits_stack, keystone):
    # demo's project: the other test acts as alt_demo, so the counts start at 0 here.
    user = keystone.user(limits_stack.api_url, "demo")
    data = b"a" * (2 * MIB)
    headers = {"x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare",
               "x-image-meta-size": str(len(data)), "Content-Type": "application/octet-stream"}
    first = user.post("/v1/images", data=data, headers=headers)
    assert first.status_code == 201, first.text
    assert _usage(user)["image_size_total"] == {"limit": 3, "usage": 2}

    # 2 MiB more than the 3 MiB limit allows: the reserved image stays queued, no bytes
    resp = user.post("/v1/images", data=data, headers={**headers, "x-image-meta-name": "big"})
    assert resp.status_code == 413, resp.text
    assert "image_size_total" in resp.text
    (big,) = [i for i in user.get("/v2/images").json()["images"] if i["name"] == "big"]
    assert big["status"] == "queued" and limits_stack.stored_files(big["id"]) == []

    # image_count_total = 3 counts v1's images: the third is the last one allowed
    assert user.post("/v1/images", headers={"x-image-meta-name": "third"}).status_code == 201
    resp = user.post("/v1/images", headers={"x-image-meta-name": "fourth"})
    assert resp.status_code == 413, resp.text
    assert "image_count_total" in resp.text
    assert _usage(user)["image_count_total"] == {"limit": 3, "usage": 3}

    # deleting through v1 frees room on both limits
    assert user.delete(f"/v1/images/{first.json()['image']['id']}").status_code == 200
    resp = user.put(f"/v1/images/{big['id']}", data=data, headers=headers)
    assert resp.status_code == 200, resp.text
    assert user.post("/v1/images", headers={"x-image-meta-name": "fourth"}).status_code == 201
