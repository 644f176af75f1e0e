"""Cinder's image service against this service (issue 16): the real Cinder 29 of
tools/cinder.sh (its Keystone-auth api, RBD volumes on the Ceph of tools/ceph.sh) finds this
service in the Keystone catalog, as a deployment does.

- ``volume create --image``: the image lives in this service's rbd store on the same Ceph
  cluster and this service shows its direct URL and locations, so Cinder's RBD driver makes the
  volume a copy-on-write clone of the image's snapshot (``rbd info`` names the parent).
- ``image create --volume`` (upload-to-image): the volume's bytes become an active image here,
  with the checksum and ``os_hash_value`` of those bytes.

The catalog has one image endpoint; the tests that point it somewhere hold the
``image-catalog`` lock (tests.functional.keystone.conftest.image_catalog) for as long as
they need it.
"""
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.functional.keystone.conftest import PASSWORD, image_catalog, keystone_stack
from tests.functional.stores.test_contract_cinder import cinder_keystone, cinder_url  # noqa: F401

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
pytest_plugins = ["tests.functional.stores.conftest_rbd"]
VOLUME_API = {"OpenStack-API-Version": "volume 3.54"}


# Cinder keeps the first image endpoint it finds for the life of each process (its glance
# client wrapper caches the server list), so its image service is always here.
CINDER_IMAGE_PORT = int(os.environ.get("GLANCE_CLONE_CINDER_IMAGE_PORT", "29292"))


@pytest.fixture(scope="module")
def rbd_stack(tmp_path_factory, keystone, ceph_conf, rbd_driver, cinder_keystone):  # noqa: F811
    """One stack for Cinder: the rbd store (default) on Cinder's Ceph, and a file store as
    the seeds lay it out, at CINDER_IMAGE_PORT, in the catalog."""
    root = tmp_path_factory.mktemp("cinder-stores")
    extra = f"""
[DEFAULT]
show_image_direct_url = True
show_multiple_locations = True
enabled_backends = ceph:rbd, local:file

[glance_store]
default_backend = ceph

[ceph]
rbd_store_ceph_conf = {ceph_conf}
rbd_store_pool = images

[local]
filesystem_store_datadir = {root}/local
"""
    with keystone_stack(tmp_path_factory, keystone, "cinder-consumer", api_extra=extra,
                        api_port=CINDER_IMAGE_PORT) as running:
        with image_catalog(keystone, running.api_url):
            yield running


@pytest.fixture
def demo_session(keystone):
    """A new token per test: Cinder caches a token's catalog (keystonemiddleware), and the
    image endpoint changes between modules."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    return session.Session(auth=v3.Password(
        auth_url=keystone.url + "/v3", username="demo", password=PASSWORD,
        project_name="demo", user_domain_name="Default", project_domain_name="Default"))


def _volumes(sess, method, path, **kwargs):
    resp = sess.request(path, method, headers=VOLUME_API, raise_exc=False,
                        endpoint_filter={"service_type": "volumev3", "interface": "public"},
                        **kwargs)
    return resp


def _wait_volume(sess, volume_id, wanted="available", timeout=240):
    deadline = time.monotonic() + timeout
    while True:
        volume = _volumes(sess, "GET", f"/volumes/{volume_id}").json()["volume"]
        if volume["status"] == wanted:
            return volume
        assert not volume["status"].startswith("error"), volume
        assert time.monotonic() < deadline, volume
        time.sleep(1)


def _delete_volume(sess, volume_id):
    _volumes(sess, "DELETE", f"/volumes/{volume_id}")


def _rbd(ceph_conf, *args):
    proc = subprocess.run(["rbd", "-c", ceph_conf, *args, "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_volume_from_rbd_image_is_a_cow_clone(rbd_stack, keystone, demo_session, ceph_conf):
    demo = keystone.user(rbd_stack.api_url, "demo")
    data = os.urandom(8 * 1024 * 1024)
    image = demo.create_image(name="cinder-src-" + uuid.uuid4().hex[:6], disk_format="raw",
                              container_format="bare")
    assert demo.upload(image["id"], data).status_code == 204
    shown = demo.show(image["id"])
    assert shown["direct_url"].startswith("rbd://")
    resp = _volumes(demo_session, "POST", "/volumes", json={"volume": {
        "size": 1, "imageRef": image["id"], "name": "from-image"}})
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    try:
        volume = _wait_volume(demo_session, volume_id)
        assert volume["bootable"] == "true"
        info = _rbd(ceph_conf, "info", f"volumes/volume-{volume_id}")
        assert info["parent"]["pool"] == "images"
        assert info["parent"]["image"] == image["id"]
        assert info["parent"]["snapshot"] == "snap"
        # the volume's first bytes are the image's
        head = subprocess.run(["rbd", "-c", ceph_conf, "export", f"volumes/volume-{volume_id}",
                               "-"], capture_output=True, timeout=120).stdout[:len(data)]
        assert hashlib.md5(head).hexdigest() == shown["checksum"]
        meta = _volumes(demo_session, "GET", f"/volumes/{volume_id}").json()["volume"]
        assert meta["volume_image_metadata"]["image_id"] == image["id"]
    finally:
        _delete_volume(demo_session, volume_id)


def test_upload_volume_to_image(rbd_stack, keystone, demo_session, ceph_conf):
    demo = keystone.user(rbd_stack.api_url, "demo")
    resp = _volumes(demo_session, "POST", "/volumes", json={"volume": {
        "size": 1, "name": "to-image"}})
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    try:
        _wait_volume(demo_session, volume_id)
        name = "from-volume-" + uuid.uuid4().hex[:6]
        resp = _volumes(demo_session, "POST", f"/volumes/{volume_id}/action", json={
            "os-volume_upload_image": {"image_name": name, "disk_format": "raw",
                                       "container_format": "bare", "force": False}})
        assert resp.status_code == 202, resp.text
        image_id = resp.json()["os-volume_upload_image"]["image_id"]
        deadline = time.monotonic() + 240
        while demo.show(image_id)["status"] != "active":
            assert demo.show(image_id)["status"] in ("queued", "saving"), demo.show(image_id)
            assert time.monotonic() < deadline
            time.sleep(1)
        _wait_volume(demo_session, volume_id)
        image = demo.show(image_id)
        volume_bytes = subprocess.run(
            ["rbd", "-c", ceph_conf, "export", f"volumes/volume-{volume_id}", "-"],
            capture_output=True, timeout=120).stdout
        assert image["size"] == len(volume_bytes) == 1024 ** 3
        assert image["checksum"] == hashlib.md5(volume_bytes).hexdigest()
        assert image["os_hash_value"] == hashlib.sha512(volume_bytes).hexdigest()
        demo.delete(f"/v2/images/{image_id}")
    finally:
        _delete_volume(demo_session, volume_id)


def test_volume_from_file_store_qcow2_is_downloaded_and_converted(
        rbd_stack, keystone, demo_session, ceph_conf, tmp_path):
    demo = keystone.user(rbd_stack.api_url, "demo")
    raw, qcow2 = tmp_path / "disk.raw", tmp_path / "disk.qcow2"
    raw.write_bytes(os.urandom(6 * 1024 * 1024))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True, timeout=60)
    image = demo.create_image(name="cinder-qcow2-" + uuid.uuid4().hex[:6],
                              disk_format="qcow2", container_format="bare")
    assert demo.upload(image["id"], qcow2.read_bytes(),
                       **{"X-Image-Meta-Store": "local"}).status_code == 204
    assert demo.show(image["id"])["stores"] == "local"
    resp = _volumes(demo_session, "POST", "/volumes", json={"volume": {
        "size": 1, "imageRef": image["id"], "name": "from-qcow2"}})
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    try:
        _wait_volume(demo_session, volume_id)
        info = _rbd(ceph_conf, "info", f"volumes/volume-{volume_id}")
        assert "parent" not in info   # a copy, not a clone: the bytes came over HTTP
        volume_bytes = subprocess.run(
            ["rbd", "-c", ceph_conf, "export", f"volumes/volume-{volume_id}", "-"],
            capture_output=True, timeout=120).stdout
        assert volume_bytes[:raw.stat().st_size] == raw.read_bytes()
        assert volume_bytes[raw.stat().st_size:].count(0) == len(volume_bytes) - raw.stat().st_size
    finally:
        _delete_volume(demo_session, volume_id)
