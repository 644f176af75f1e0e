"""v1 members (list, add, replace, remove, can_share), /v1/shared-images/{member}, and what a
member may do to the image: the map's §2.7 with v2's sharing rules."""
import uuid

import pytest

from tests.functional.conftest import User
from tests.functional.test_images_v1 import create_v1, meta
from tests.functional.test_images_v1_routes import message, same_connection_twice

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def test_members_and_shared_images(user, other_user):
    image = create_v1(user).json()["image"]
    path = f"/v1/images/{image['id']}/members/{other_user.project_id}"
    resp = user.put(path, json={"member": {"can_share": False}})
    assert resp.status_code == 204 and "json" not in resp.headers.get("Content-Type", "")
    members = user.get(f"/v1/images/{image['id']}/members").json()
    assert members == {"members": [{"member_id": other_user.project_id, "can_share": False}]}
    assert other_user.request("HEAD", f"/v1/images/{image['id']}").status_code == 200
    shared = other_user.get(f"/v1/shared-images/{other_user.project_id}").json()
    assert {"image_id": image["id"], "can_share": False} in shared["shared_images"]
    # a member cannot share further, nor remove others
    third = "p-" + uuid.uuid4().hex
    assert other_user.put(f"/v1/images/{image['id']}/members/{third}").status_code == 404
    assert user.delete(path).status_code == 204
    assert user.delete(path).status_code == 404
    assert other_user.request("HEAD", f"/v1/images/{image['id']}").status_code == 404


def test_replace_members(user):
    image = create_v1(user).json()["image"]
    base = f"/v1/images/{image['id']}/members"
    body = {"memberships": [{"member_id": "a"}, {"member_id": "b", "can_share": True}]}
    assert user.put(base, json=body).status_code == 204
    assert sorted(m["member_id"] for m in user.get(base).json()["members"]) == ["a", "b"]
    assert user.put(base, json={"memberships": [{"member_id": "b"}]}).status_code == 204
    assert user.get(base).json()["members"] == [{"member_id": "b", "can_share": True}]
    assert user.put(base, json={"nope": []}).status_code == 400


def test_member_quota_and_member_changes(user, other_user):
    image = create_v1(user).json()["image"]
    base = f"/v1/images/{image['id']}/members"
    too_many = {"memberships": [{"member_id": f"m{i}"} for i in range(129)]}
    resp = user.put(base, json=too_many)
    assert resp.status_code == 413, resp.text   # image_member_quota = 128
    assert user.get(base).json() == {"members": []}
    resp = user.put(base)   # no body: Queens answered 500
    assert resp.status_code == 400, resp.text
    assert user.put(base, json={"memberships": [{"can_share": True}]}).status_code == 400
    assert user.put(f"{base}/{other_user.project_id}").status_code == 204
    # a member may neither change nor delete the image (Queens: 500)
    path = f"/v1/images/{image['id']}"
    resp = other_user.put(path, headers=meta(name="mine"))
    assert resp.status_code == 403, resp.text   # visible, not changeable (§6.5)
    resp = other_user.delete(path)
    assert resp.status_code == 403, resp.text   # visible, not changeable (§6.5)
    assert user.request("HEAD", path).headers["x-image-meta-name"] == image["name"]


def test_members_can_share(user, other_user, third_user):
    image = create_v1(user).json()["image"]
    base = f"/v1/images/{image['id']}/members"
    resp = user.put(f"{base}/{other_user.project_id}", json={"member": {"can_share": True}})
    assert resp.status_code == 204 and resp.content == b""
    assert "Content-Type" not in resp.headers
    assert user.get(base).json() == {"members": [
        {"member_id": other_user.project_id, "can_share": True}]}
    # no body: an existing member keeps its can_share
    assert user.put(f"{base}/{other_user.project_id}").status_code == 204
    assert user.get(base).json()["members"][0]["can_share"] is True
    assert user.put(f"{base}/{third_user.project_id}",
                    json={"member": {"can_share": "false"}}).status_code == 204
    assert user.put(f"{base}/{other_user.project_id}",
                    json={"member": {"can_share": False}}).status_code == 204
    assert sorted((m["member_id"], m["can_share"]) for m in user.get(base).json()["members"]) \
        == sorted([(other_user.project_id, False), (third_user.project_id, False)])
    # a member sees only its own row, and cannot share further even with can_share
    assert other_user.get(base).json() == {"members": [
        {"member_id": other_user.project_id, "can_share": False}]}
    user.put(f"{base}/{other_user.project_id}", json={"member": {"can_share": True}})
    resp = other_user.put(f"{base}/p-{uuid.uuid4().hex}")
    assert resp.status_code == 404
    assert other_user.delete(f"{base}/{third_user.project_id}").status_code == 404
    resp = user.put(f"{base}/x", json={"member": {"can_share": "maybe"}})
    assert resp.status_code == 400
    resp = user.delete(f"{base}/nobody")
    assert resp.status_code == 404 and "Membership could not be found." in message(resp)
    # a public image has no members (v2's rule)
    public = create_v1(User(user.base_url, roles="admin,member,reader"),
                       is_public="True").json()["image"]
    resp = User(user.base_url, roles="admin,member,reader").put(
        f"/v1/images/{public['id']}/members/x")
    assert resp.status_code == 403


def test_shared_images(user, other_user, third_user):
    image = create_v1(user).json()["image"]
    user.put(f"/v1/images/{image['id']}/members/{other_user.project_id}",
             json={"member": {"can_share": True}})
    path = f"/v1/shared-images/{other_user.project_id}"
    for caller in (user, other_user):
        resp = caller.get(path)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
        assert resp.json() == {"shared_images": [{"image_id": image["id"], "can_share": True}]}
    # a third project owns none of the images and is not the member
    assert third_user.get(path).json() == {"shared_images": []}
    assert user.get(f"/v1/shared-images/{third_user.project_id}").json() == {
        "shared_images": []}
    # Queens mapped this path with no method condition
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = other_user.request(method, path)
        assert resp.status_code == 200, (method, resp.text)
        assert resp.json()["shared_images"] == [{"image_id": image["id"], "can_share": True}]
        # a body is read and ignored: the keep-alive connection serves the next request
        assert same_connection_twice(other_user, method, path)["shared_images"] == [
            {"image_id": image["id"], "can_share": True}]


def test_members_shared_with_v2(user, other_user, third_user):
    image = create_v1(user).json()["image"]
    v1_member, v2_member = other_user.project_id, third_user.project_id
    assert user.put(f"/v1/images/{image['id']}/members/{v1_member}").status_code == 204
    # a v1 membership is v2's pending one: the member accepts it through v2
    row = user.get(f"/v2/images/{image['id']}/members/{v1_member}")
    assert row.status_code == 200 and row.json()["status"] == "pending"
    resp = other_user.put(f"/v2/images/{image['id']}/members/{v1_member}",
                          json={"status": "accepted"})
    assert resp.status_code == 200, resp.text
    # a v2 membership is listed by v1, whatever its status
    resp = user.post(f"/v2/images/{image['id']}/members", json={"member": v2_member})
    assert resp.status_code == 200, resp.text
    listed = user.get(f"/v1/images/{image['id']}/members").json()["members"]
    assert sorted(m["member_id"] for m in listed) == sorted([v1_member, v2_member])
    assert third_user.request("HEAD", f"/v1/images/{image['id']}").status_code == 200
    # removed through v1, gone for v2
    assert user.delete(f"/v1/images/{image['id']}/members/{v2_member}").status_code == 204
    assert user.get(f"/v2/images/{image['id']}/members/{v2_member}").status_code == 404
    assert third_user.get(f"/v2/images/{image['id']}").status_code == 404
