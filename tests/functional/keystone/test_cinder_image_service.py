"""Cinder's image service against this service (issue 16): the real Cinder 29 of
tools/cinder.sh (its Keystone-auth api, RBD volumes on the Ceph of tools/ceph.sh) with the
caller's Keystone token; Cinder's ``glance_api_servers`` names this service's fixed port.

- ``volume create --image``: the image lives in this service's rbd store on the same Ceph
  cluster and this service shows its direct URL and locations, so Cinder's RBD driver makes the
  volume a copy-on-write clone of the image's snapshot (``rbd info`` names the parent).
- ``image create --volume`` (upload-to-image): the volume's bytes become an active image here,
  with the checksum and ``os_hash_value`` of those bytes.
- the same on Cinder's ``ceph-upload`` backend (``image_upload_use_cinder_backend``): Cinder
  clones the volume and registers ``cinder://<clone id>`` with its [glance] service user
  (POST /v2/images/{id}/locations); this service serves the image through its cinder store,
  a volume from that image is a clone of the image's volume, and deleting the image deletes
  the clone.
- a user's own cinder:// location (PATCH) may name only a volume of its project.
"""
import hashlib
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from tests.functional.keystone.conftest import PASSWORD, keystone_stack, unique
from tests.functional.stores.test_contract_cinder import cinder_keystone, cinder_url  # noqa: F401

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
pytest_plugins = ["tests.functional.stores.conftest_rbd"]
VOLUME_API = {"OpenStack-API-Version": "volume 3.54"}


# Cinder's glance_api_servers (tools/cinder.sh): a fixed port, since Cinder keeps the first
# image endpoint it finds for the life of each process, and the catalog's changes.
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
enabled_backends = ceph:rbd, local:file, volumes:cinder

[glance_store]
default_backend = ceph

[volumes]
# The images Cinder's ceph-upload backend registers as cinder:// locations: read (and
# deleted) as the service user, Cinder found in the catalog.
cinder_store_auth_address = {keystone.url}/v3
cinder_store_user_name = glance
cinder_store_password = {PASSWORD}
cinder_store_project_name = service
cinder_volume_type = ceph

[ceph]
rbd_store_ceph_conf = {ceph_conf}
rbd_store_pool = images

[local]
filesystem_store_datadir = {root}/local
"""
    with keystone_stack(tmp_path_factory, keystone, "cinder-consumer", api_extra=extra,
                        api_port=CINDER_IMAGE_PORT) as running:
        yield running


@pytest.fixture
def demo_session(keystone):
    """A new token per test (Cinder caches what it learnt of a token)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    return session.Session(auth=v3.Password(
        auth_url=keystone.url + "/v3", username="demo", password=PASSWORD,
        project_name="demo", user_domain_name="Default", project_domain_name="Default"))


def _session(keystone, user, project):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    return session.Session(auth=v3.Password(
        auth_url=keystone.url + "/v3", username=user, password=PASSWORD,
        project_name=project, user_domain_name="Default", project_domain_name="Default"))


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
        # the image's snapshot is the parent of the volume until the volume is gone
        _wait_gone(demo_session, volume_id)
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204


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


GiB = 1024 ** 3


def _md5_padded(data, size):
    """md5 of ``data`` followed by zeros up to ``size`` bytes (a volume made from it)."""
    digest, zeros = hashlib.md5(data), bytes(16 * 1024 * 1024)
    left = size - len(data)
    while left:
        digest.update(zeros[:min(left, len(zeros))])
        left -= min(left, len(zeros))
    return digest.hexdigest()


def _wait_gone(sess, volume_id, timeout=120):
    deadline = time.monotonic() + timeout
    while _volumes(sess, "GET", f"/volumes/{volume_id}").status_code != 404:
        assert time.monotonic() < deadline, _volumes(sess, "GET", f"/volumes/{volume_id}").text
        time.sleep(1)


def test_upload_to_image_on_cinder_backend_is_a_cinder_location(
        rbd_stack, keystone, demo_session, ceph_conf):
    demo = keystone.user(rbd_stack.api_url, "demo")
    admin = keystone.user(rbd_stack.api_url, "admin")
    admin_volumes = _session(keystone, "admin", "admin")
    data = os.urandom(4 * 1024 * 1024)
    expected = _md5_padded(data, GiB)
    source = demo.create_active(data, name=unique("cinder-upload-src"), disk_format="raw",
                                container_format="bare")
    resp = _volumes(demo_session, "POST", "/volumes", json={"volume": {
        "size": 1, "imageRef": source["id"], "name": "upload-src",
        "volume_type": "ceph-upload"}})
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    clone_id = image_id = copy_id = None
    try:
        _wait_volume(demo_session, volume_id)
        started = time.monotonic()
        resp = _volumes(demo_session, "POST", f"/volumes/{volume_id}/action", json={
            "os-volume_upload_image": {"image_name": unique("from-cinder-backend"),
                                       "disk_format": "raw", "container_format": "bare",
                                       "force": False}})
        assert resp.status_code == 202, resp.text
        image_id = resp.json()["os-volume_upload_image"]["image_id"]
        deadline = time.monotonic() + 240
        while (image := demo.show(image_id))["status"] != "active":
            assert image["status"] in ("queued", "saving", "importing"), image
            assert time.monotonic() < deadline, image
            time.sleep(0.5)
        active_after = time.monotonic() - started
        _wait_volume(demo_session, volume_id)

        # The location Cinder registered (the v2.17 API, admin's view): its clone.
        resp = admin.get(f"/v2/images/{image_id}/locations")
        assert resp.status_code == 200, resp.text
        [location] = resp.json()
        assert re.fullmatch(r"cinder://[0-9a-f-]{36}", location["url"]), location
        assert location["metadata"] == {"store": "volumes"}
        clone_id = location["url"].rsplit("/", 1)[1]
        assert clone_id != volume_id
        assert demo.show(image_id)["direct_url"] == location["url"]
        clone = _volumes(admin_volumes, "GET", f"/volumes/{clone_id}").json()["volume"]
        assert clone["metadata"]["glance_image_id"] == image_id
        assert clone["metadata"]["image_owner"] == demo.project_id
        assert clone["os-vol-tenant-attr:tenant_id"] == demo.project_id

        # The hash task of the location import (do_secure_hash) reads the volume first.
        # NOTE: a reader arriving meanwhile waits for the attachment
        # (cinder_attachment_retry_attempts); the test waits, so its timing stays its own.
        deadline = time.monotonic() + 240
        while (image := demo.show(image_id))["checksum"] is None:
            assert time.monotonic() < deadline, image
            time.sleep(1)
        assert image["checksum"] == expected and image["size"] == GiB

        # The bytes, through this service's cinder store.
        started = time.monotonic()
        resp = demo.session.get(f"{rbd_stack.api_url}/v2/images/{image_id}/file",
                                stream=True, timeout=600)
        assert resp.status_code == 200, resp.text
        digest, size = hashlib.md5(), 0
        for chunk in resp.iter_content(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
        download = time.monotonic() - started
        assert (size, digest.hexdigest()) == (GiB, expected)
        print(f"\ncinder backend upload-to-image: active in {active_after:.1f} s, location "
              f"{location['url']}, 1 GiB download {download:.1f} s, md5 {expected} "
              f"(volume) == {digest.hexdigest()} (download) == {image['checksum']} (image)")

        # A volume from that image on the same backend is a clone of the image's volume
        # (Cinder's allowed_direct_url_schemes = cinder), not a download.
        resp = _volumes(demo_session, "POST", "/volumes", json={"volume": {
            "size": 1, "imageRef": image_id, "name": "from-cinder-image",
            "volume_type": "ceph-upload"}})
        assert resp.status_code == 202, resp.text
        copy_id = resp.json()["volume"]["id"]
        try:
            _wait_volume(demo_session, copy_id)
            parent = _rbd(ceph_conf, "info", f"volumes/volume-{copy_id}")["parent"]
            assert (parent["image"], parent["snapshot"]) == (
                f"volume-{clone_id}", f"volume-{copy_id}.clone_snap")
        finally:
            _delete_volume(demo_session, copy_id)
            _wait_gone(demo_session, copy_id)

        # Deleting the image deletes the clone (glance_store's cinder store does too).
        assert demo.delete(f"/v2/images/{image_id}").status_code == 204
        image_id = None
        _wait_gone(admin_volumes, clone_id)
        names = _rbd(ceph_conf, "ls", "volumes")
        assert f"volume-{clone_id}" not in names
        _drop_clone_snap_leftover(ceph_conf, clone_id, copy_id)
    finally:
        if image_id:
            demo.delete(f"/v2/images/{image_id}")
        _delete_volume(demo_session, volume_id)
        _wait_gone(demo_session, volume_id)
        if clone_id and copy_id:
            _drop_clone_snap_leftover(ceph_conf, clone_id, copy_id)
        _drop_clone_snap_leftover(ceph_conf, volume_id, clone_id)
        # the source image's snapshot had the source volume as its clone until now
        assert demo.delete(f"/v2/images/{source['id']}").status_code == 204
    assert not [n for n in _rbd(ceph_conf, "ls", "volumes") if volume_id in n or
                (clone_id and clone_id in n)]
    assert source["id"] not in _rbd(ceph_conf, "ls", "images")


def _drop_clone_snap_leftover(ceph_conf, volume_id, clone_id):
    """Remove what Cinder's RBD driver leaves of a volume that was cloned.

    NOTE: Cinder 29's RBD driver removes a clone that has no snapshots by its fast path,
    which skips the parent's ``<clone>.clone_snap``; the source volume, deleted with that
    snapshot still there, stays in the pool as ``volume-<id>.deleted`` with nothing to
    remove it. The same happens with Glance's cinder store (the delete is Cinder's): the
    leftover is checked to be exactly that, then removed so the shared pool stays clean.
    """
    name = f"volume-{volume_id}.deleted"
    if name not in _rbd(ceph_conf, "ls", "volumes"):
        return
    snaps = [snap["name"] for snap in _rbd(ceph_conf, "snap", "ls", f"volumes/{name}")]
    assert clone_id and snaps == [f"volume-{clone_id}.clone_snap"], snaps
    spec = f"volumes/{name}@{snaps[0]}"
    assert _rbd(ceph_conf, "children", spec) == []
    for args in (["snap", "unprotect", spec], ["snap", "rm", spec], ["rm", f"volumes/{name}"]):
        proc = subprocess.run(["rbd", "-c", ceph_conf, *args], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_user_location_may_name_only_its_own_projects_volume(rbd_stack, keystone, demo_session):
    """SECURITY: the cinder store reads and deletes volumes as a service user that sees every
    project's; a user's own location (PATCH, show_multiple_locations) is refused unless the
    volume is its project's."""
    demo = keystone.user(rbd_stack.api_url, "demo")
    alt_session = _session(keystone, "alt_demo", "alt_demo")
    volumes = {}
    try:
        for name, sess in (("demo", demo_session), ("alt", alt_session)):
            resp = _volumes(sess, "POST", "/volumes", json={"volume": {"size": 1,
                                                                       "name": name}})
            assert resp.status_code == 202, resp.text
            volumes[name] = resp.json()["volume"]["id"]
        for name, sess in (("demo", demo_session), ("alt", alt_session)):
            _wait_volume(sess, volumes[name])
        image = demo.create_image(name=unique("cinder-loc"), disk_format="raw",
                                  container_format="bare")
        foreign = {"url": "cinder://" + volumes["alt"], "metadata": {}}
        resp = demo.patch(f"/v2/images/{image['id']}",
                          [{"op": "add", "path": "/locations/-", "value": foreign}])
        assert resp.status_code == 400 and "Invalid location" in resp.text, resp.text
        assert demo.show(image["id"])["status"] == "queued"
        own = {"url": "cinder://" + volumes["demo"], "metadata": {}}
        resp = demo.patch(f"/v2/images/{image['id']}",
                          [{"op": "add", "path": "/locations/-", "value": own}])
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "active" and resp.json()["size"] == GiB
        # As Glance: the image's volume goes with the image; the other project's stays.
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204
        _wait_gone(demo_session, volumes.pop("demo"))
        assert _wait_volume(alt_session, volumes["alt"])["status"] == "available"
    finally:
        for name, sess in (("demo", demo_session), ("alt", alt_session)):
            if name in volumes:
                _delete_volume(sess, volumes[name])
