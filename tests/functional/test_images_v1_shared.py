"""One database, two APIs: v1 calls under the same storage quota, property protections,
notifications, image cache, stores (enabled_backends) and format inspection as v2.

Each test reuses the stack fixture of the v2 tests of that feature, so both APIs are
checked against one configuration.
"""
import hashlib
import http.client
import json
import os
import uuid

import pytest
import requests

from tests import image_corpus
from tests.functional.conftest import Stack, User
from tests.functional.test_cache import cache_stack, store_bytes, wait_cached  # noqa: F401
from tests.functional.test_images_v1 import create_v1, meta
from tests.functional.test_notifications import _drain, notifying, rabbit  # noqa: F401
from tests.functional.test_property_protections import _extra_conf
from tests.functional.test_quotas import MIB, QUOTA, qstack  # noqa: F401
from tests.functional.test_store_delete import mstack  # noqa: F401
from tests.functional.test_upload_inspection import SAFETY, corpus  # noqa: F401

OCTET = {"Content-Type": "application/octet-stream"}
NO_PURGE = {"x-glance-registry-purge-props": "false"}
ADMIN = "admin,member,reader"


def post_data(user, data, **fields):
    """POST /v1/images with data and formats; return the response (any status)."""
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    return user.post("/v1/images", data=data, headers={**meta(**fields), **OCTET})


def own_images(user):
    """The caller's project's images through v2, by name."""
    return {i["name"]: i for i in user.get("/v2/images?limit=100").json()["images"]
            if i["owner"] == user.project_id}


@pytest.mark.parametrize("qstack", ["sqlite"], indirect=True)
def test_storage_quota_through_v1(qstack):  # noqa: F811
    user = User(qstack.api_url)
    first = post_data(user, b"a" * (2 * MIB), name="first", size=2 * MIB)
    assert first.status_code == 201, first.text
    # declared size over what remains: 413 before a byte is stored
    resp = post_data(user, b"b" * (2 * MIB), name="second", size=2 * MIB)
    assert resp.status_code == 413, resp.text
    assert ("Image exceeds the storage quota: The size of the data %d will exceed the "
            "limit. %d bytes remaining." % (2 * MIB, QUOTA - 2 * MIB)) in resp.json()["message"]
    second = own_images(user)["second"]
    assert (second["status"], second["size"], second["checksum"]) == ("queued", None, None)
    assert qstack.stored_files(second["id"]) == []
    # the v2 quota counts v1's image, and v1's data PUT is refused the same way
    resp = user.upload(second["id"], b"c" * (2 * MIB))
    assert resp.status_code == 413, resp.text
    resp = user.put(f"/v1/images/{second['id']}", data=b"c" * (2 * MIB), headers=OCTET)
    assert resp.status_code == 413, resp.text
    assert qstack.stored_files(second["id"]) == []
    # freeing room through v1 lets the v1 upload in
    assert user.delete(f"/v1/images/{first.json()['image']['id']}").status_code == 200
    resp = user.put(f"/v1/images/{second['id']}", data=b"c" * (2 * MIB), headers=OCTET)
    assert resp.status_code == 200, resp.text
    assert resp.json()["image"]["status"] == "active"


@pytest.fixture(scope="module")
def protected_stack(tmp_path_factory):
    """A stack with the v2 tests' property protections (roles format)."""
    root = tmp_path_factory.mktemp("v1-props")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "v1-props",
                    api_extra=_extra_conf(root, "roles"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_property_protections_through_v1(protected_stack):
    project = "p-" + uuid.uuid4().hex
    admin = User(protected_stack.api_url, project, roles=ADMIN)
    member = User(protected_stack.api_url, project, roles="member,reader")
    resp = member.post("/v1/images", headers=meta(property_x_ro="3"))
    assert resp.status_code == 403, resp.text
    assert "Property 'x_ro' is protected" in resp.json()["message"]
    image = create_v1(admin, property_x_ro="3", property_x_none_read="2",
                      property_x_nodel="5", property_x_owner_a="1").json()["image"]
    path = f"/v1/images/{image['id']}"
    # reads: what the member may not read is in no v1 answer
    head = member.request("HEAD", path)
    assert head.headers["x-image-meta-property-x_ro"] == "3"
    assert "x-image-meta-property-x_none_read" not in head.headers
    (listed,) = [i for i in member.get(f"/v1/images/detail?name={image['name']}")
                 .json()["images"]]
    assert listed["properties"] == {"x_ro": "3", "x_nodel": "5", "x_owner_a": "1"}
    # updates and deletes the rules forbid are 403s that change nothing
    for headers in (meta(property_x_ro="4"), meta(property_x_nodel="5")):
        resp = member.put(path, headers={**headers, "x-glance-registry-purge-props": "true"})
        assert resp.status_code == 403, (headers, resp.text)
        assert "Property 'x_ro' is protected" in resp.json()["message"]
    resp = member.put(path, headers={**meta(property_x_owner_a="9"), **NO_PURGE})
    assert resp.status_code == 200, resp.text
    # purging keeps what the member cannot read; x_ro and x_nodel are resent unchanged,
    # which needs no update right (Queens)
    resp = member.put(path, headers={**meta(property_x_ro="3", property_x_nodel="5"),
                                     "x-glance-registry-purge-props": "true"})
    assert resp.status_code == 200, resp.text
    # NOTE: nobody may read x_none_read through the api: ask the registry
    row = requests.get(f"{protected_stack.registry_url}/images/{image['id']}", timeout=30,
                       headers={"X-Roles": "admin", "X-Is-Admin": "True"}).json()["image"]
    assert row["properties"] == {"x_ro": "3", "x_none_read": "2", "x_nodel": "5"}


def test_notifications_through_v1(notifying, rabbit):  # noqa: F811
    running, topic = notifying
    owner = User(running.api_url)
    data = os.urandom(64 * 1024 + 3)
    created = post_data(owner, data, name="v1-notify", size=len(data))
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    resp = owner.put(f"/v1/images/{image['id']}", headers={**meta(name="renamed"),
                                                           **NO_PURGE})
    assert resp.status_code == 200, resp.text
    assert owner.get(f"/v1/images/{image['id']}").content == data
    assert owner.delete(f"/v1/images/{image['id']}").status_code == 200

    events = _drain(rabbit, f"{topic}.info", 9)
    assert [e["event_type"] for e in events] == [
        "image.create", "image.update", "image.prepare", "image.upload", "image.activate",
        "image.update", "image.update", "image.send", "image.delete"]
    create, _saving, _prepare, upload, activate, _done, rename, send, delete = (
        e["payload"] for e in events)
    assert create["id"] == image["id"] and create["status"] == "queued"
    assert create["visibility"] == "shared" and create["owner"] == owner.project_id
    for payload in (upload, activate):
        assert payload["status"] == "active" and payload["size"] == len(data)
        assert payload["checksum"] == hashlib.md5(data).hexdigest()
    assert rename["name"] == "renamed"
    assert send["bytes_sent"] == len(data) and send["image_id"] == image["id"]
    assert delete["id"] == image["id"] and delete["status"] == "deleted"
    assert _drain(rabbit, f"{topic}.info", 1, wait=1) == []


def test_cached_download_through_v1(cache_stack):  # noqa: F811
    admin = User(cache_stack.api_url, roles=ADMIN)
    user = User(cache_stack.api_url)
    data = os.urandom(3 * MIB + 1)
    resp = post_data(user, data, size=len(data))
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["image"]["id"]
    first = user.get(f"/v1/images/{image_id}")
    assert first.status_code == 200 and first.content == data
    assert wait_cached(admin, image_id)
    read = store_bytes(cache_stack, image_id)
    assert read == len(data)
    again = user.get(f"/v1/images/{image_id}")
    assert again.status_code == 200 and again.content == data
    assert again.headers["Content-Type"] == "application/octet-stream"
    assert again.headers["x-image-meta-checksum"] == hashlib.md5(data).hexdigest()
    assert store_bytes(cache_stack, image_id) == read   # served from the cache
    # a v2 download of the same image is served from the cache too
    assert user.get(f"/v2/images/{image_id}/file").content == data
    assert store_bytes(cache_stack, image_id) == read
    assert user.delete(f"/v1/images/{image_id}").status_code == 200
    cached = admin.get("/v2/cache").json()["cached_images"]
    assert image_id not in [e["image_id"] for e in cached]


def test_multi_store_upload_through_v1(mstack):  # noqa: F811
    user = User(mstack.api_url)
    data = b"m" * 70000
    resp = post_data(user, data, size=len(data))
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["image"]["id"]
    assert (mstack.fast / image_id).read_bytes() == data   # the default backend
    assert not (mstack.slow / image_id).exists()
    assert user.show(image_id)["stores"] == "fast"
    assert user.get(f"/v1/images/{image_id}").content == data

    resp = post_data(user, data, size=len(data), store="slow")
    assert resp.status_code == 201, resp.text
    other = resp.json()["image"]["id"]
    assert (mstack.slow / other).read_bytes() == data
    assert user.show(other)["stores"] == "slow"

    resp = post_data(user, data, name="nowhere", store="nowhere")
    assert resp.status_code == 400, resp.text
    assert "Required store nowhere is invalid" in resp.json()["message"]
    assert "nowhere" not in own_images(user)
    assert user.delete(f"/v1/images/{image_id}").status_code == 200
    assert not (mstack.fast / image_id).exists()


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_format_inspection_through_v1(stack, corpus):  # noqa: F811
    user = User(stack.api_url, roles=ADMIN)
    path, disk_format, container_format = corpus["qcow2"]
    data = path.read_bytes()
    resp = post_data(user, data, disk_format=disk_format, container_format=container_format,
                     name="good")
    assert resp.status_code == 201, resp.text
    image = resp.json()["image"]
    assert image["status"] == "active"
    assert image["virtual_size"] == image_corpus.qemu_virtual_size(path)

    path, disk_format, container_format = corpus["qcow2-backing-file"]
    resp = post_data(user, path.read_bytes(), disk_format=disk_format,
                     container_format=container_format, name="evil")
    assert resp.status_code == 415, resp.text
    assert SAFETY in resp.json()["message"]
    evil = own_images(user)["evil"]
    assert (evil["status"], evil["checksum"]) == ("queued", None)
    assert stack.stored_files(evil["id"]) == []
    # the v1 data PUT into the reserved image is inspected the same way
    resp = user.put(f"/v1/images/{evil['id']}", data=path.read_bytes(), headers=OCTET)
    assert resp.status_code == 415, resp.text
    assert stack.stored_files(evil["id"]) == []


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A stack whose image_size_cap is 64 KiB."""
    root = tmp_path_factory.mktemp("v1-cap")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "v1-cap",
                    api_extra="[DEFAULT]\nimage_size_cap = 65536\n")
    try:
        running.start()
        yield running
    finally:
        running.stop()


def chunked_post(stack, user, headers, total, chunk=16384):
    """POST /v1/images with ``total`` bytes chunked; return (status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=60)
    conn.putrequest("POST", "/v1/images")
    for key, value in {**user.session.headers, **headers, **OCTET}.items():
        conn.putheader(key, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    piece = b"k" * chunk
    try:
        for _ in range(total // chunk):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass   # answered before the rest was sent
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    return resp.status, body


def test_image_size_cap_through_v1(capped):
    user = User(capped.api_url)
    # a known size over the cap: 400 before any row, as Queens
    resp = post_data(user, b"x" * 65537, name="known")
    assert resp.status_code == 400, resp.text
    assert "Denying attempt to upload image larger than 65536 bytes." in \
        resp.json()["message"]
    assert "known" not in own_images(user)
    # no size: cut at the cap while streaming (413); the image is queued, no bytes
    formats = meta(name="streamed", disk_format="raw", container_format="bare")
    status, body = chunked_post(capped, user, formats, 4 * 65536)
    assert status == 413, body
    streamed = own_images(user)["streamed"]
    assert (streamed["status"], streamed["size"]) == ("queued", None)
    assert capped.stored_files(streamed["id"]) == []
    # v2 has the same cap, and the cap itself fits
    assert user.upload(streamed["id"], b"x" * 65537).status_code == 413
    status, body = chunked_post(capped, user, meta(name="fits", disk_format="raw",
                                                   container_format="bare"), 65536)
    assert status == 201 and body["image"]["size"] == 65536, body
