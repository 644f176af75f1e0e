"""Image bytes: upload, byte-exact download with ranges, and failed uploads leaving no trace."""
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

MIB = 1024 * 1024


def wait_status(user, image_id, status, timeout=20):
    """Poll until the image reaches a status (an aborted upload is noticed asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        image = user.show(image_id)
        if image["status"] == status or time.monotonic() > deadline:
            return image
        time.sleep(0.1)


def assert_untouched(stack, user, image_id):
    """Assert a failed upload left the image queued, without size, and no file behind."""
    image = wait_status(user, image_id, "queued")
    assert image["status"] == "queued"
    assert image["size"] is None and image["checksum"] is None
    deadline = time.monotonic() + 10
    while stack.stored_files(image_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.stored_files(image_id) == []


def test_upload_then_download_byte_exact(stack, user):
    data = os.urandom(3 * MIB + 123)
    image = user.create_active(data)
    assert image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert stack.stored_files(image["id"]) != []
    resp = user.get(f"/v2/images/{image['id']}/file", stream=True)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-MD5"] == image["checksum"]
    assert b"".join(resp.iter_content(MIB)) == data


def test_chunked_upload_of_unknown_size(user):
    parts = [os.urandom(200_000) for _ in range(5)]
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.upload(image["id"], iter(parts))
    assert resp.status_code == 204, resp.text
    image = user.show(image["id"])
    assert image["size"] == 1_000_000
    assert user.get(f"/v2/images/{image['id']}/file").content == b"".join(parts)


def test_range_downloads(user):
    data = os.urandom(10_000)
    image_id = user.create_active(data)["id"]
    path = f"/v2/images/{image_id}/file"
    for rng, start, end in [("bytes=10-99", 10, 99), ("bytes=9000-", 9000, 9999),
                            ("bytes=-100", 9900, 9999)]:
        resp = user.get(path, headers={"Range": rng})
        assert resp.status_code == 206, rng
        assert resp.headers["Content-Range"] == f"bytes {start}-{end}/10000"
        assert resp.headers["Content-Length"] == str(end - start + 1)
        assert resp.content == data[start:end + 1]
    resp = user.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert resp.status_code == 400
    assert "Requests with multiple ranges are not supported" in resp.json()["message"]
    assert user.get(path, headers={"Range": "bytes=10000-"}).status_code == 416


def test_download_of_queued_image_is_empty(user):
    image_id = user.create_image()["id"]
    resp = user.get(f"/v2/images/{image_id}/file")
    assert resp.status_code == 204 and resp.content == b""


def test_upload_refusals(user, other_user):
    image = user.create_image()
    resp = user.upload(image["id"], b"abc")
    assert resp.status_code == 400
    assert "Properties disk_format, container_format must be set prior to saving data." in \
        resp.json()["message"]
    resp = user.put(f"/v2/images/{image['id']}/file", data=b"abc",
                    headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    active = user.create_active(b"abc")
    resp = user.upload(active["id"], b"def")
    assert resp.status_code == 409
    assert "Image status transition from active to saving is not allowed" in \
        resp.json()["message"]
    assert user.get(f"/v2/images/{active['id']}/file").content == b"abc"
    assert user.upload(str(uuid.uuid4()), b"abc").status_code == 404
    community = user.create_image(visibility="community", disk_format="raw",
                                  container_format="bare")
    assert other_user.upload(community["id"], b"abc").status_code == 403


def test_declared_size_mismatch_leaves_queued(stack, user):
    image_id = user.create_image(disk_format="raw", container_format="bare")["id"]
    resp = user.upload(image_id, b"abc", **{"x-openstack-image-size": "5"})
    assert resp.status_code == 400
    assert "Size mismatch: expected 5 bytes, got 3 bytes" in resp.json()["message"]
    assert_untouched(stack, user, image_id)
    resp = user.upload(image_id, b"abc", **{"x-openstack-image-size": "five"})
    assert resp.status_code == 400
    assert "Invalid or missing image size in request headers." in resp.json()["message"]
    assert user.upload(image_id, b"abcde", **{"x-openstack-image-size": "5"}).status_code == 204


def test_client_disconnect_mid_upload_leaves_queued(stack, user):
    image_id = user.create_image(disk_format="raw", container_format="bare")["id"]
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {4 * MIB}\r\n"
            f"X-Project-Id: {user.project_id}\r\nX-Roles: member,reader\r\n"
            f"X-Identity-Status: Confirmed\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10) as sock:
        sock.sendall(head + os.urandom(MIB))
        time.sleep(0.3)
    assert_untouched(stack, user, image_id)
    data = os.urandom(MIB)
    assert user.upload(image_id, data).status_code == 204
    assert user.get(f"/v2/images/{image_id}/file").content == data


@contextlib.contextmanager
def unwritable(directory):
    """Make a directory refuse new files, even for root (immutable attribute)."""
    if os.geteuid() != 0:
        os.chmod(directory, 0o555)
        try:
            yield
        finally:
            os.chmod(directory, 0o755)
        return
    if not shutil.which("chattr"):
        pytest.skip("chattr is needed to make a directory unwritable for root")
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_store_write_error_leaves_queued(stack, user):
    image_id = user.create_image(disk_format="raw", container_format="bare")["id"]
    with unwritable(stack.datadir):
        resp = user.upload(image_id, os.urandom(100_000))
    assert resp.status_code == 503, resp.text
    assert_untouched(stack, user, image_id)
    assert user.upload(image_id, b"later").status_code == 204


def test_delete_removes_the_data(stack, user):
    image_id = user.create_active(os.urandom(1000))["id"]
    assert stack.stored_files(image_id)
    assert user.delete(f"/v2/images/{image_id}").status_code == 204
    assert stack.stored_files(image_id) == []


def test_deactivate_and_reactivate(user, admin):
    image_id = user.create_active(b"payload")["id"]
    actions = f"/v2/images/{image_id}/actions"
    resp = user.post(actions + "/deactivate")
    assert resp.status_code == 204 and resp.content == b""
    assert user.show(image_id)["status"] == "deactivated"
    assert user.post(actions + "/deactivate").status_code == 204
    resp = user.get(f"/v2/images/{image_id}/file")
    assert resp.status_code == 403
    assert "The requested image has been deactivated. Image data download is forbidden." in \
        resp.json()["message"]
    assert admin.get(f"/v2/images/{image_id}/file").content == b"payload"
    assert user.post(actions + "/reactivate").status_code == 204
    assert user.show(image_id)["status"] == "active"
    assert user.get(f"/v2/images/{image_id}/file").content == b"payload"
    queued = user.create_image()["id"]
    resp = user.post(f"/v2/images/{queued}/actions/deactivate")
    assert resp.status_code == 403
    assert "Not allowed to deactivate image in status 'queued'" in resp.json()["message"]


def test_formats_locked_once_active_and_size_filters(user):
    big = user.create_active(os.urandom(5000))
    small = user.create_active(os.urandom(50))
    resp = user.patch(f"/v2/images/{big['id']}",
                      [{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
    assert resp.status_code == 403
    assert "Attribute disk_format can be only replaced for a queued image." in \
        resp.json()["message"]
    p = user.project_id
    ids = [i["id"] for i in user.get(f"/v2/images?owner={p}&size_min=1000").json()["images"]]
    assert ids == [big["id"]]
    ids = [i["id"] for i in user.get(f"/v2/images?owner={p}&size_max=50").json()["images"]]
    assert ids == [small["id"]]
    assert user.get("/v2/images?size_min=big").status_code == 400
