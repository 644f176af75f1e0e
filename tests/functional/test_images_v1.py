"""The Images API v1 (Glance Queens) beside v2: routes, codes, headers, bodies, round trips."""
import hashlib
import http.client
import os
import time
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


def own(user):
    """The caller's project's images, by id (other tests' public images share the stack)."""
    return {i["id"]: i for i in user.get("/v1/images/detail?limit=1000").json()["images"]
            if i["owner"] == user.project_id}


def test_create_variants(stack, admin, user):
    # aki/ari/ami: the missing format is copied from the other
    image = create_v1(user, disk_format="ami").json()["image"]
    assert (image["disk_format"], image["container_format"]) == ("ami", "ami")
    # header names: any case, "-" for "_"; property keys lower-cased
    resp = user.post("/v1/images", headers={"X-Image-Meta-Disk-Format": "raw",
                                            "X-Image-Meta-Property-Foo-Bar": "x"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["image"]["disk_format"] == "raw"
    assert resp.json()["image"]["properties"] == {"foo_bar": "x"}
    # a chosen id; reusing it, even once deleted, is 409
    wanted = str(uuid.uuid4())
    assert create_v1(user, id=wanted).json()["image"]["id"] == wanted
    assert user.delete(f"/v1/images/{wanted}").status_code == 200
    resp = user.post("/v1/images", headers=meta(id=wanted))
    assert resp.status_code == 409, resp.text
    assert f"An image with identifier {wanted} already exists" in resp.json()["message"]
    # a member's owner and status are ignored, as are timestamps and deleted (§6.6)
    image = create_v1(user, owner="someone-else", status="active", deleted="True",
                      created_at="2001-01-01T00:00:00").json()["image"]
    assert (image["owner"], image["status"], image["deleted"]) == (
        user.project_id, "queued", False)
    assert not image["created_at"].startswith("2001")
    # an admin may give the image another owner
    other = "p-" + uuid.uuid4().hex
    assert create_v1(admin, owner=other).json()["image"]["owner"] == other
    # refused before any row: data without formats, data that is not octet-stream
    before = set(own(user))
    resp = user.post("/v1/images", data=b"x" * 10, headers={
        "Content-Type": "application/octet-stream", **meta(container_format="bare")})
    assert resp.status_code == 400
    assert "Disk format is not specified." in resp.json()["message"]
    resp = user.post("/v1/images", data=b"x" * 10, headers={
        "Content-Type": "text/plain", **meta(disk_format="raw", container_format="bare")})
    assert resp.status_code == 400
    assert "Content-Type must be application/octet-stream" in resp.json()["message"]
    assert set(own(user)) == before
    # a member may not make an image public, through POST or PUT
    resp = user.post("/v1/images", headers=meta(is_public="True"))
    assert resp.status_code == 403
    assert user.put(f"/v1/images/{image['id']}", headers=meta(is_public="True")
                    ).status_code == 403


def test_owner_changes_on_update(admin, user):
    image = create_v1(user, property_keep="1").json()["image"]
    path = f"/v1/images/{image['id']}"
    keep = {"x-glance-registry-purge-props": "false"}
    resp = user.put(path, headers={**meta(owner="someone-else"), **keep})
    assert resp.status_code == 200 and resp.json()["image"]["owner"] == user.project_id
    other = "p-" + uuid.uuid4().hex
    resp = admin.put(path, headers={**meta(owner=other), **keep})
    assert resp.status_code == 200 and resp.json()["image"]["owner"] == other
    assert user.request("HEAD", path).status_code == 404   # no longer the caller's


def test_v2_fields_seen_through_v1(user):
    image = user.create_image(name="tagged", tags=["t1"], Foo="Bar", disk_format="raw",
                              container_format="bare")
    head = user.request("HEAD", f"/v1/images/{image['id']}")
    assert head.headers["x-image-meta-property-foo"] == "Bar"
    (listed,) = [i for i in user.get("/v1/images/detail?name=tagged").json()["images"]
                 if i["id"] == image["id"]]
    assert listed["properties"] == {"Foo": "Bar"}
    assert set(listed) == V1_FIELDS   # no tags, visibility, locations
    assert listed["is_public"] is False   # v2's default, shared


def test_default_limit_is_25(user):
    tag = uuid.uuid4().hex[:8]
    for _ in range(26):
        create_v1(user, property_batch=tag)
    resp = user.get(f"/v1/images/detail?property-batch={tag}")
    assert len(resp.json()["images"]) == 25
    assert len(user.get(f"/v1/images?property-batch={tag}&limit=26").json()["images"]) == 26


def test_missing_data_is_404(stack, user):
    data = b"z" * 2048
    image = create_v1(user, data=data, disk_format="raw", container_format="bare")
    image_id = image.json()["image"]["id"]
    (stack.datadir / image_id).unlink()
    resp = user.get(f"/v1/images/{image_id}")
    assert resp.status_code == 404, resp.text
    assert resp.headers["Content-Type"] == "application/json"




def test_second_upload_into_one_image_is_409(stack, user):
    """queued → saving is a compare-and-swap: an upload racing a running one gets 409."""
    image = create_v1(user, disk_format="raw", container_format="bare").json()["image"]
    path = f"/v1/images/{image['id']}"
    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=60)
    conn.putrequest("PUT", path)
    for key, value in user.session.headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    piece = b"1" * 65536
    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    deadline = time.monotonic() + 30
    while user.request("HEAD", path).headers["x-image-meta-status"] != "saving":
        assert time.monotonic() < deadline, "the first upload never started"
        time.sleep(0.05)
    second = user.put(path, data=b"2" * 1000, headers={"Content-Type": "application/octet-stream"})
    assert second.status_code == 409, second.text
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(piece), piece))
    first = conn.getresponse()
    assert first.status == 200, first.read()
    conn.close()
    assert user.get(path).content == piece * 2


def test_v2_only_statuses_through_v1(user):
    image = user.create_image(disk_format="raw", container_format="bare")
    staged = user.put(f"/v2/images/{image['id']}/stage", data=b"s" * 1000,
                      headers={"Content-Type": "application/octet-stream"})
    assert staged.status_code == 204, staged.text
    path = f"/v1/images/{image['id']}"
    head = user.request("HEAD", path)
    assert head.headers["x-image-meta-status"] == "uploading"
    assert "x-openstack-request-id" in head.headers
    resp = user.get(path)
    assert resp.status_code == 404
    assert f"Image {image['id']} is not active" in resp.json()["message"]
    resp = user.put(path, data=b"d" * 10, headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 409
    assert "Cannot upload to an unqueued image" in resp.json()["message"]
