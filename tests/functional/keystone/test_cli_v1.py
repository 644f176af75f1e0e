"""The seed's v1 command with python-glanceclient 2.17.1 and a real Keystone token."""
import hashlib
import os
import uuid

import pytest
import requests

from tests.functional.keystone.conftest import (ACCOUNTS, PASSWORD, KeystoneStack, clean_env,
                                               keystone_stack)
from tests.functional.test_glanceclient_v1 import SEED_FIELDS, glance_v1, on_tty, table  # noqa: F401

pytestmark = pytest.mark.keystone


@pytest.fixture(scope="module")
def v1_stack(tmp_path_factory, keystone):
    with keystone_stack(tmp_path_factory, keystone, "ks-v1") as running:
        yield running


def test_seed_image_create_with_keystone(v1_stack, keystone, tmp_path, glance_v1):  # noqa: F811
    env = clean_env(tmp_path)
    env.update({"OS_AUTH_URL": keystone.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": "admin", "OS_PASSWORD": PASSWORD,
                "OS_PROJECT_NAME": ACCOUNTS["admin"], "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IMAGE_API_VERSION": "1",
                "OS_IMAGE_URL": v1_stack.api_url, "TERM": "dumb"})
    disk = tmp_path / "cirros-0.3.3-x86_64-disk.img"
    data = os.urandom(1024 * 1024 + 5)
    disk.write_bytes(data)
    code, out = on_tty([glance_v1, "image-create", "--name", "cirros-0.3.3-x86_64", "--file",
                        disk.name, "--disk-format", "raw", "--container-format", "bare",
                        "--is-public", "True", "--progress"], env, tmp_path)
    assert code == 0, out
    assert "100%" in out
    rows = table(out)
    assert set(SEED_FIELDS) <= set(rows), out
    assert (rows["is_public"], rows["status"]) == ("True", "active")
    assert rows["checksum"] == hashlib.md5(data).hexdigest()
    assert rows["owner"] == keystone.token("admin")[1]
    code, out = on_tty([glance_v1, "image-list"], env, tmp_path)
    assert code == 0 and rows["id"] in out, out
    # a member of another project may not make a public image through v1 either
    env.update(OS_USERNAME="demo", OS_PROJECT_NAME=ACCOUNTS["demo"])
    code, out = on_tty([glance_v1, "image-create", "--name", "x", "--is-public", "True"],
                       env, tmp_path)
    assert "403" in out, out


def test_v1_without_token_and_read_only_anonymous(v1_stack, tmp_path_factory, keystone):
    resp = requests.get(v1_stack.api_url + "/v1/images", timeout=30,
                        headers={"Accept": "application/json"})
    assert resp.status_code == 401, resp.text
    root = tmp_path_factory.mktemp("ks-v1-anon")
    running = KeystoneStack(root, f"sqlite:///{root}/glance.sqlite", "ks-v1-anon", keystone,
                            workers=1)
    running.api_extra += "\n[DEFAULT]\nallow_anonymous_access = True\n"
    try:
        running.start()
        anon = requests.Session()
        anon.headers["Accept"] = "application/json"
        # reads answer as v2's do under the same policy defaults
        v1 = anon.get(running.api_url + "/v1/images/detail", timeout=30)
        v2 = anon.get(running.api_url + "/v2/images", timeout=30)
        assert v1.status_code == v2.status_code, (v1.text, v2.text)
        for method, path in (("POST", "/v1/images"), ("PUT", f"/v1/images/{uuid.uuid4()}"),
                             ("DELETE", f"/v1/images/{uuid.uuid4()}"),
                             ("PUT", f"/v1/images/{uuid.uuid4()}/members/m")):
            resp = anon.request(method, running.api_url + path, timeout=30)
            assert resp.status_code == 403, (method, path, resp.text)
            assert "Read-only access" in resp.json()["message"]
    finally:
        running.stop()
