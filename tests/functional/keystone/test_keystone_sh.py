"""tools/keystone.sh keeps the interface the tests and tempest rely on."""
import os
import time

import pytest
import requests

from tests.functional.keystone.conftest import ACCOUNTS, keystone_sh

pytestmark = pytest.mark.keystone

ROLES = {"admin": {"admin"}, "glance": {"admin", "service"}, "demo": {"member", "reader"},
         "alt_demo": {"member", "reader"}, "demo_reader": {"reader"}}


def test_start_is_idempotent(keystone):
    started = time.monotonic()
    proc = keystone_sh("start")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "KEYSTONE_URL=" + keystone.url
    assert time.monotonic() - started < 10
    url = keystone_sh("url")
    assert (url.returncode, url.stdout.strip()) == (0, keystone.url)
    pid = keystone.pgid()
    assert os.getpgid(pid) == pid
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        assert b"glance-clone-keystone" in cmdline.read()
    assert requests.get(keystone.url + "/v3", timeout=30).json()["version"]["id"] == "v3.14"


@pytest.mark.parametrize("user", sorted(ACCOUNTS))
def test_accounts(keystone, user):
    token, project_id, _ = keystone.token(user)
    resp = requests.get(keystone.url + "/v3/auth/tokens", timeout=30, headers={
        "X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status_code == 200, resp.text
    body = resp.json()["token"]
    assert body["project"]["name"] == ACCOUNTS[user]
    assert body["user"]["domain"]["name"] == "Default"
    # implied roles (admin -> member -> reader) are expanded in tokens; check the assigned ones
    assert ROLES[user] <= {r["name"] for r in body["roles"]}
    if user == "demo_reader":
        assert {r["name"] for r in body["roles"]} == {"reader"}
