"""The Images API v1 (Glance Queens) beside v2: routes, codes, headers, bodies, round trips."""
import hashlib
import os
import uuid

import pytest
import requests

from tests.functional.conftest import User, running_stack

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
V1_FIELDS = {"checksum", "container_format", "created_at", "deleted", "deleted_at",
             "disk_format", "id", "is_public", "min_disk", "min_ram", "name", "owner",
             "properties", "protected", "size", "status", "updated_at", "virtual_size"}


def meta(**fields):
    """Return x-image-meta-* headers for fields (property_x=... → x-image-meta-property-x)."""
    out = {}
    for key, value in fields.items():
        if key.startswith("property_"):
            out["x-image-meta-property-" + key[len("property_"):]] = str(value)
        else:
            out["x-image-meta-" + key] = str(value)
    return out


def create_v1(user, data=None, **fields):
    fields.setdefault("name", "v1-" + uuid.uuid4().hex[:8])
    headers = meta(**fields)
    if data is not None:
        headers["Content-Type"] = "application/octet-stream"
    resp = user.post("/v1/images", headers=headers, data=data)
    assert resp.status_code == 201, resp.text
    return resp


def test_create_with_data_then_head_get_list_and_v2(stack, user):
    data = os.urandom(300 * 1024 + 3)
    resp = create_v1(user, data=data, disk_format="raw", container_format="bare",
                     property_distro="cirros", size=len(data))
    image = resp.json()["image"]
    assert set(image) == V1_FIELDS
    assert (image["status"], image["size"], image["is_public"]) == ("active", len(data), False)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["properties"] == {"distro": "cirros"}
    assert resp.headers["Location"] == f"{stack.api_url}/v1/images/{image['id']}"
    assert resp.headers["ETag"] == image["checksum"]
    assert stack.stored_files(image["id"])

    head = user.request("HEAD", f"/v1/images/{image['id']}")
    assert head.status_code == 200
    assert head.headers["x-image-meta-status"] == "active"
    assert head.headers["x-image-meta-is_public"] == "False"
    assert head.headers["x-image-meta-size"] == str(len(data))
    assert head.headers["x-image-meta-property-distro"] == "cirros"
    assert "x-image-meta-deleted_at" not in head.headers

    got = user.get(f"/v1/images/{image['id']}", headers={"Range": "bytes=0-9"})
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["ETag"] == image["checksum"]
    assert got.headers["x-image-meta-checksum"] == image["checksum"]

    brief = user.get("/v1/images").json()["images"]
    assert [i for i in brief if i["id"] == image["id"]] == [
        {"id": image["id"], "name": image["name"], "disk_format": "raw",
         "container_format": "bare", "checksum": image["checksum"], "size": len(data)}]
    detail = user.get("/v1/images/detail?name=" + image["name"]).json()["images"]
    assert [i["id"] for i in detail] == [image["id"]]

    v2 = user.show(image["id"])
    assert (v2["visibility"], v2["distro"], v2["checksum"]) == ("shared", "cirros",
                                                                image["checksum"])
    assert v2["os_hash_algo"] == "sha512" and v2["os_hash_value"] == \
        hashlib.sha512(data).hexdigest()


def test_reservation_then_put_data(stack, user):
    image = create_v1(user, disk_format="raw", container_format="bare").json()["image"]
    assert (image["status"], image["size"], image["checksum"]) == ("queued", 0, None)
    data = b"x" * 4096
    resp = user.put(f"/v1/images/{image['id']}", data=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["image"]["status"] == "active"
    again = user.put(f"/v1/images/{image['id']}", data=data,
                     headers={"Content-Type": "application/octet-stream"})
    assert again.status_code == 409


def test_v2_image_through_v1(user, other_user):
    image = user.create_active(b"abc" * 100, visibility="private", extra="x")
    head = user.request("HEAD", f"/v1/images/{image['id']}")
    assert head.headers["x-image-meta-is_public"] == "False"
    assert head.headers["x-image-meta-property-extra"] == "x"
    assert user.get(f"/v1/images/{image['id']}").content == b"abc" * 100
    assert other_user.request("HEAD", f"/v1/images/{image['id']}").status_code == 404
    resp = user.put(f"/v1/images/{image['id']}", headers={
        **meta(is_public="False", property_more="y"), "x-glance-registry-purge-props": "false"})
    assert resp.status_code == 200, resp.text
    v2 = user.show(image["id"])
    assert (v2["visibility"], v2["extra"], v2["more"]) == ("shared", "x", "y")


def test_update_purges_properties_by_default(user):
    image = create_v1(user, property_a="1", property_b="2").json()["image"]
    resp = user.put(f"/v1/images/{image['id']}", headers=meta(property_a="3"))
    assert resp.json()["image"]["properties"] == {"a": "3"}


def test_delete_and_protected(stack, user):
    data = b"d" * 1000
    image = create_v1(user, data=data, disk_format="raw", container_format="bare",
                      protected="True").json()["image"]
    refused = user.delete(f"/v1/images/{image['id']}")
    assert refused.status_code == 403
    assert user.put(f"/v1/images/{image['id']}", headers=meta(protected="False")).ok
    resp = user.delete(f"/v1/images/{image['id']}")
    assert (resp.status_code, resp.content) == (200, b"")
    assert user.request("HEAD", f"/v1/images/{image['id']}").status_code == 404
    assert stack.stored_files(image["id"]) == []


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


@pytest.mark.parametrize("prefix", ["/v1", "/v1.0", "/v1.1"])
def test_version_prefixes(user, prefix):
    assert user.get(prefix + "/images").status_code == 200


def test_vnd_accept_selects_v1(user):
    resp = user.get("/images", headers={"Accept": "application/vnd.openstack.images-v1"})
    assert resp.status_code == 200 and "images" in resp.json()


def test_versions_document_lists_v1_last(stack):
    versions = requests.get(stack.api_url + "/versions", timeout=10).json()["versions"]
    assert [(v["id"], v["status"]) for v in versions[-2:]] == [
        ("v1.1", "DEPRECATED"), ("v1.0", "DEPRECATED")]
    assert versions[-1]["links"][0]["href"] == stack.api_url + "/v1/"


def test_enable_v1_api_false_removes_v1(stack, tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, "sqlite", "no-v1", worker_id_safe,
                       api_extra="\n[DEFAULT]\nenable_v1_api = False\n") as running:
        u = User(running.api_url)
        assert u.get("/v1/images").status_code == 300
        ids = [v["id"] for v in u.get("/versions").json()["versions"]]
        assert not [i for i in ids if i.startswith("v1")]
        assert u.get("/v2/images").status_code == 200


def test_method_and_path_errors(user):
    image = create_v1(user).json()["image"]
    resp = user.request("HEAD", "/v1/images")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"
    resp = user.request("HEAD", "/v1/images/detail")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"
    assert user.get(f"/v1/images/{image['id']}/members/x").status_code == 405
    assert user.get("/v1/nothing").status_code == 404
    assert user.get(f"/v1/images/{image['id']}").status_code == 404   # queued: not active
