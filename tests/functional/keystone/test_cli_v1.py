"""The seed's v1 command with python-glanceclient 2.17.1 and a real Keystone token."""
import hashlib
import os

import pytest

from tests.functional.keystone.conftest import ACCOUNTS, PASSWORD, clean_env, keystone_stack
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
