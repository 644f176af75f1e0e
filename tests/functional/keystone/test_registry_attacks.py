"""The registry port reached directly with a valid user token (issue: trust boundary).

An ordinary account (`alt_demo`) calls glance-registry itself, as anyone who can reach port
9191 can, with its own Keystone token: each write it tries on another project's image is
refused with Glance's 404/403 and changes nothing (rows, members, file). Even the image's
owner writes nothing there without glance-api's service token. The same changes made by the
owner through the api still work.
"""
import hashlib
import uuid

import pytest
import requests

from tests.functional.keystone.conftest import unique
from tests.functional.keystone.test_auth import db_snapshot

pytestmark = pytest.mark.keystone

DATA = b"private bytes " * 4096
NOT_FROM_API = "Only glance-api may change the image registry"


class Registry:
    """A caller of the registry port with one Keystone token and nothing else."""

    def __init__(self, stack, token, service_token=None):
        self.url = stack.registry_url
        self.headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
        if service_token:
            self.headers["X-Service-Token"] = service_token

    def call(self, method, path, json=None, headers=None):
        return requests.request(method, self.url + path, json=json, timeout=60,
                                headers={**self.headers, **(headers or {})})


@pytest.fixture
def owner(ks_stack, keystone):
    return keystone.user(ks_stack.api_url, "demo")


@pytest.fixture
def attacker(ks_stack, keystone):
    return Registry(ks_stack, keystone.token("alt_demo")[0])


@pytest.fixture
def private_image(owner, ks_stack):
    """A private, active image of project demo, with its file in the store."""
    image = owner.create_active(DATA, name=unique("private"), visibility="private")
    assert ks_stack.stored_files(image["id"]), "the upload left no file"
    return image


def assert_refused(resp, status, message):
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["message"].startswith(message), resp.text


def assert_untouched(ks_stack, owner, image, before):
    assert db_snapshot(ks_stack) == before
    assert ks_stack.stored_files(image["id"])
    resp = owner.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200
    assert hashlib.md5(resp.content).hexdigest() == hashlib.md5(DATA).hexdigest()


ATTACKS = {
    "rename": ("PATCH", "", {"values": {"name": "pwned"}}),
    "take-ownership": ("PATCH", "", {"values": {"owner": "ATTACKER"}}),
    "make-public": ("PATCH", "", {"values": {"visibility": "public"}}),
    "add-self-as-member": ("POST", "/members", {"member": "ATTACKER"}),
    "delete": ("DELETE", "", None),
    "tag": ("PUT", "/tags/pwned", None),
    "swap-location": ("PATCH", "", {"values": {"locations": [
        {"url": "file:///etc/passwd", "metadata": {}}]}}),
    "reserve-for-scrubbing": ("POST", "/reservations", {"url": "file:///etc/passwd",
                                                        "metadata": {}}),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_stranger_changes_nothing_of_a_private_image(ks_stack, keystone, owner, attacker,
                                                       private_image, attack):
    method, path, body = ATTACKS[attack]
    if isinstance(body, dict):
        body = {k: v.replace("ATTACKER", keystone.token("alt_demo")[1])
                if isinstance(v, str) else v for k, v in body.items()}
        if "values" in body and "owner" in body["values"]:
            body["values"]["owner"] = keystone.token("alt_demo")[1]
    before = db_snapshot(ks_stack)
    resp = attacker.call(method, f"/images/{private_image['id']}{path}", json=body)
    if attack == "reserve-for-scrubbing":
        assert_refused(resp, 403, NOT_FROM_API)
    else:
        assert_refused(resp, 404, f"No image found with ID {private_image['id']}")
    assert_untouched(ks_stack, owner, private_image, before)
    # the attacker still cannot see or download it through the api
    api_attacker = keystone.user(ks_stack.api_url, "alt_demo")
    assert api_attacker.get(f"/v2/images/{private_image['id']}/file").status_code == 404


def test_x_is_admin_and_identity_headers_are_ignored(ks_stack, keystone, owner, attacker,
                                                     private_image):
    before = db_snapshot(ks_stack)
    forged = {"X-Is-Admin": "True", "X-Roles": "admin", "X-Project-Id": owner.project_id,
              "X-Service-Identity-Status": "Confirmed", "X-Service-Roles": "service"}
    resp = attacker.call("PATCH", f"/images/{private_image['id']}",
                         json={"values": {"name": "pwned"}}, headers=forged)
    assert_refused(resp, 404, "No image found")
    assert_untouched(ks_stack, owner, private_image, before)


def test_a_user_token_sent_as_service_token_is_no_service(ks_stack, keystone, owner,
                                                          private_image):
    # the owner itself, with its own token in both headers: keystonemiddleware 13's
    # service_token_roles_required (default True) already refuses a service token without a
    # service role; with it off, the registry's own role check answers 403 (unit tests).
    token = owner.token
    before = db_snapshot(ks_stack)
    resp = Registry(ks_stack, token, service_token=token).call(
        "PATCH", f"/images/{private_image['id']}", json={"values": {"name": "renamed"}})
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["message"] == \
        "The request you have made requires authentication."
    assert_untouched(ks_stack, owner, private_image, before)


def test_a_member_can_see_but_not_change_a_shared_image(ks_stack, keystone, owner, attacker,
                                                        private_image):
    image_id = private_image["id"]
    alt_project = keystone.token("alt_demo")[1]
    assert owner.patch(f"/v2/images/{image_id}",
                       [{"op": "replace", "path": "/visibility", "value": "shared"}]
                       ).status_code == 200
    assert owner.post(f"/v2/images/{image_id}/members",
                      json={"member": alt_project}).status_code == 200
    before = db_snapshot(ks_stack)
    assert attacker.call("GET", f"/images/{image_id}").status_code == 200
    assert_refused(attacker.call("PATCH", f"/images/{image_id}",
                                 json={"values": {"name": "pwned"}}),
                   403, "You do not own this image")
    assert_refused(attacker.call("DELETE", f"/images/{image_id}"),
                   403, "You do not own this image")
    assert_refused(attacker.call("POST", f"/images/{image_id}/members",
                                 json={"member": "p-third"}),
                   403, "No permission to share that image")
    assert_refused(attacker.call("DELETE", f"/images/{image_id}/members/{alt_project}"),
                   403, "No permission to share that image")
    # its own membership status: its right, but only through the api
    assert_refused(attacker.call("PUT", f"/images/{image_id}/members/{alt_project}",
                                 json={"status": "accepted"}), 403, NOT_FROM_API)
    members = attacker.call("GET", f"/images/{image_id}/members").json()["members"]
    assert [m["member"] for m in members] == [alt_project]
    assert_untouched(ks_stack, owner, private_image, before)


def test_no_active_image_with_a_file_location_from_a_user_token(ks_stack, keystone,
                                                                attacker, owner):
    image_id = str(uuid.uuid4())
    conf = str(ks_stack.api_conf)
    before = db_snapshot(ks_stack)
    resp = attacker.call("POST", "/images", json={"image": {
        "id": image_id, "name": "conf", "status": "active", "visibility": "public",
        "disk_format": "raw", "container_format": "bare", "size": 10,
        "locations": [{"url": "file://" + conf, "metadata": {}}]}})
    assert_refused(resp, 403, NOT_FROM_API)
    assert db_snapshot(ks_stack) == before
    assert owner.get(f"/v2/images/{image_id}/file").status_code == 404


def test_the_owners_own_direct_writes_need_the_api(ks_stack, owner, private_image):
    before = db_snapshot(ks_stack)
    direct = Registry(ks_stack, owner.token)
    assert direct.call("GET", f"/images/{private_image['id']}").status_code == 200
    assert_refused(direct.call("PATCH", f"/images/{private_image['id']}",
                               json={"values": {"name": "renamed"}}), 403, NOT_FROM_API)
    assert_refused(direct.call("DELETE", f"/images/{private_image['id']}"), 403, NOT_FROM_API)
    assert_refused(direct.call("POST", "/images", json={"image": {"name": "x"}}),
                   403, NOT_FROM_API)
    assert_untouched(ks_stack, owner, private_image, before)


def test_the_same_changes_through_the_api_still_work(ks_stack, keystone, owner,
                                                     private_image):
    image_id = private_image["id"]
    alt_project = keystone.token("alt_demo")[1]
    resp = owner.patch(f"/v2/images/{image_id}", [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/visibility", "value": "shared"}])
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "renamed"
    assert owner.put(f"/v2/images/{image_id}/tags/t1").status_code == 204
    assert owner.post(f"/v2/images/{image_id}/members",
                      json={"member": alt_project}).status_code == 200
    member = keystone.user(ks_stack.api_url, "alt_demo")
    resp = member.put(f"/v2/images/{image_id}/members/{alt_project}",
                      json={"status": "accepted"})
    assert resp.status_code == 200, resp.text
    assert member.get(f"/v2/images/{image_id}/file").content == DATA
    assert owner.delete(f"/v2/images/{image_id}/members/{alt_project}").status_code == 204
    assert member.get(f"/v2/images/{image_id}").status_code == 404
    assert owner.delete(f"/v2/images/{image_id}").status_code == 204
    assert not ks_stack.stored_files(image_id)


def test_glance_api_acting_for_another_project_cannot_change_its_task(ks_stack, keystone):
    # Tasks as images: the registry checks the caller behind the service token on every write.
    service = keystone.issue("glance", "service")[0]
    demo = Registry(ks_stack, keystone.token("demo")[0], service_token=service)
    alt = Registry(ks_stack, keystone.token("alt_demo")[0], service_token=service)
    resp = demo.call("POST", "/tasks", json={"task": {"type": "import", "status": "pending",
                                                       "input": {}, "owner": "anyone"}})
    assert resp.status_code == 201, resp.text
    task = resp.json()["task"]
    assert task["owner"] == keystone.token("demo")[1]
    resp = alt.call("PATCH", f"/tasks/{task['id']}", json={"values": {"status": "failure"}})
    assert_refused(resp, 403, f"Forbidding request, task {task['id']} is not visible")
    assert_refused(alt.call("DELETE", f"/tasks/{task['id']}"), 403, "Forbidding request")
    resp = demo.call("GET", f"/tasks/{task['id']}")
    assert resp.status_code == 200 and resp.json()["task"]["status"] == "pending"
    assert demo.call("DELETE", f"/tasks/{task['id']}").status_code == 200
