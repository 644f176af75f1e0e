"""Nova's own image code against this service (issue 16): nova==34.0.0 in its own venv
(tools/nova.sh), run through tests/functional/consumers/nova_driver.py with a real Keystone
token.

- ``nova.virt.images.fetch_to_raw``, what the libvirt driver calls before a boot: Nova's glance
  client downloads a qcow2 image (checking ``os_hash_value``), Nova's deep format inspection
  accepts it and qemu-img converts it; the raw file Nova leaves equals the original disk.
- ``[glance] verify_glance_signatures = True`` with the certificate in a real Barbican: the
  signed image is accepted; the same image with a signature of other bytes is refused and Nova
  leaves no file. Bytes changed in the store are refused by the hash check.
- The snapshot path: the image record with Nova's properties, then the upload; and the
  zero-byte image of a volume-backed snapshot with ``block_device_mapping``.
- With the image in this service's rbd store (the Ceph of tools/ceph.sh): Nova's
  ``enable_rbd_download`` exports it straight from the RBD location, and the libvirt RBD image
  backend clones an instance disk from it copy-on-write (``rbd info`` names the parent).
"""
import hashlib
import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import REPO_ROOT
from tests.functional.keystone.conftest import keystone_stack, tool_value

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
pytest_plugins = ["tests.functional.stores.conftest_rbd"]
DRIVER = REPO_ROOT / "tests" / "functional" / "consumers" / "nova_driver.py"


@pytest.fixture(scope="session")
def nova_python():
    return tool_value("nova.sh", "venv", "NOVA_PYTHON")


@pytest.fixture(scope="module")
def nova_stack(tmp_path_factory, keystone, barbican):
    extra = f"\n[barbican]\nauth_endpoint = {keystone.url}/v3\n"
    with keystone_stack(tmp_path_factory, keystone, "nova", api_extra=extra) as running:
        yield running


@pytest.fixture
def nova(nova_python, nova_stack, keystone, tmp_path):
    """Run one action of the driver as the demo user; return its JSON answer."""
    token, project_id, user_id = keystone.token("demo")

    def run(action, **args):
        body = {"action": action, "api": nova_stack.api_url, "keystone": keystone.url,
                "token": token, "project_id": project_id, "user_id": user_id,
                "instances_path": str(tmp_path), **args}
        proc = subprocess.run([nova_python, str(DRIVER), json.dumps(body)],
                              capture_output=True, text=True, timeout=300)
        assert proc.stdout.strip(), proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])
    return run


@pytest.fixture
def demo(nova_stack, keystone):
    return keystone.user(nova_stack.api_url, "demo")


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A 4 MiB raw disk of random bytes and its qcow2 form (qemu-img)."""
    root = tmp_path_factory.mktemp("nova-disk")
    raw, qcow2 = root / "disk.raw", root / "disk.qcow2"
    raw.write_bytes(os.urandom(4 * 1024 * 1024))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True, timeout=60)
    return raw, qcow2


def _upload(demo, data, **props):
    image = demo.create_image(name="nova-" + uuid.uuid4().hex[:8], disk_format="qcow2",
                              container_format="bare", **props)
    assert demo.upload(image["id"], data).status_code == 204
    return demo.show(image["id"])


def test_fetch_to_raw_downloads_checks_and_converts(nova, demo, disk, tmp_path):
    raw, qcow2 = disk
    image = _upload(demo, qcow2.read_bytes())
    dest = tmp_path / "disk"
    out = nova("fetch_to_raw", image_id=image["id"], dest=str(dest))
    assert out["ok"], out
    assert hashlib.md5(dest.read_bytes()).digest() == hashlib.md5(raw.read_bytes()).digest()
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(dest)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format"] == "raw"
    assert not (tmp_path / "disk.part").exists()


def test_signed_image_accepted_and_other_signature_refused(nova, demo, disk, signer,
                                                           tmp_path):
    raw, qcow2 = disk
    data = qcow2.read_bytes()
    image = _upload(demo, data, **signer.properties(data))
    good = tmp_path / "good"
    out = nova("fetch_to_raw", image_id=image["id"], dest=str(good), verify_signatures=True)
    assert out["ok"], out
    assert good.read_bytes() == raw.read_bytes()

    # the owner points the signature at other bytes: Nova refuses what it downloads
    other = signer.properties(data + b"other")["img_signature"]
    resp = demo.patch(f"/v2/images/{image['id']}",
                      [{"op": "replace", "path": "/img_signature", "value": other}])
    assert resp.status_code == 200, resp.text
    bad = tmp_path / "bad"
    out = nova("fetch_to_raw", image_id=image["id"], dest=str(bad), verify_signatures=True)
    assert not out["ok"] and out["error"] == "InvalidSignature", out
    assert not bad.exists() and not (tmp_path / "bad.part").exists()


def test_bytes_changed_in_the_store_are_refused(nova, nova_stack, demo, disk, tmp_path):
    _, qcow2 = disk
    image = _upload(demo, qcow2.read_bytes())
    [name] = nova_stack.stored_files(image["id"])
    path = next(nova_stack.datadir.rglob(name))
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    dest = tmp_path / "disk"
    out = nova("fetch_to_raw", image_id=image["id"], dest=str(dest))
    assert not out["ok"], out
    assert "corrupt" in out["message"].lower() or "checksum" in out["message"].lower(), out
    assert not dest.exists() and not (tmp_path / "disk.part").exists()


def test_snapshot_upload_with_novas_properties(nova, demo, disk):
    raw, _ = disk
    props = {"image_type": "snapshot", "instance_uuid": str(uuid.uuid4()),
             "base_image_ref": str(uuid.uuid4()), "owner_project_name": "demo",
             "owner_user_name": "demo", "image_location": "snapshot"}
    out = nova("snapshot", name="snap-" + uuid.uuid4().hex[:6], source=str(raw),
               properties=props)
    assert out["ok"], out
    image = demo.show(out["id"])
    assert image["status"] == "active" and image["size"] == raw.stat().st_size
    assert image["checksum"] == hashlib.md5(raw.read_bytes()).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(raw.read_bytes()).hexdigest()
    for key, value in props.items():
        assert image[key] == value
    got = demo.get(f"/v2/images/{out['id']}/file")
    assert got.content == raw.read_bytes()


def test_volume_backed_snapshot_is_a_zero_byte_image(nova, demo):
    bdm = [{"source_type": "snapshot", "destination_type": "volume", "boot_index": 0,
            "snapshot_id": str(uuid.uuid4()), "volume_size": 1, "device_name": "/dev/vda",
            "delete_on_termination": False}]
    props = {"block_device_mapping": json.dumps(bdm), "bdm_v2": "True",
             "root_device_name": "/dev/vda"}
    out = nova("snapshot_volume_backed", name="vbs-" + uuid.uuid4().hex[:6],
               properties=props)
    assert out["ok"], out
    image = demo.show(out["id"])
    assert image["status"] == "active" and image["size"] == 0
    assert json.loads(image["block_device_mapping"]) == bdm
    assert image["root_device_name"] == "/dev/vda"


@pytest.fixture(scope="module")
def nova_rbd(nova_python, ceph_conf, rbd_driver):
    """Ceph's rados/rbd bindings linked into Nova's venv, and a "vms" pool for disks."""
    from pathlib import Path
    venv = Path(nova_python).parent.parent
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "ceph.sh"), "start"],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, VENV=str(venv)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    pools = subprocess.run(["ceph", "-c", ceph_conf, "osd", "pool", "ls"], capture_output=True,
                           text=True, timeout=60).stdout.split()
    if "vms" not in pools:
        for cmd in (["ceph", "-c", ceph_conf, "osd", "pool", "create", "vms", "8", "8"],
                    ["ceph", "-c", ceph_conf, "osd", "pool", "set", "vms", "size", "1",
                     "--yes-i-really-mean-it"],
                    ["rbd", "-c", ceph_conf, "pool", "init", "vms"]):
            subprocess.run(cmd, capture_output=True, timeout=120)
    return ceph_conf


@pytest.fixture(scope="module")
def rbd_stack(tmp_path_factory, keystone, ceph_conf, rbd_driver):
    extra = f"""
[DEFAULT]
show_image_direct_url = True
show_multiple_locations = True
enabled_backends = ceph:rbd

[glance_store]
default_backend = ceph

[ceph]
rbd_store_ceph_conf = {ceph_conf}
rbd_store_pool = images
"""
    with keystone_stack(tmp_path_factory, keystone, "nova-rbd", api_extra=extra) as running:
        yield running


def _nova_on(nova_python, stack, keystone, tmp_path, action, **args):
    token, project_id, user_id = keystone.token("demo")
    body = {"action": action, "api": stack.api_url, "keystone": keystone.url, "token": token,
            "project_id": project_id, "user_id": user_id, "instances_path": str(tmp_path),
            **args}
    proc = subprocess.run([nova_python, str(DRIVER), json.dumps(body)], capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _raw_image_in_rbd(rbd_stack, keystone, raw):
    demo = keystone.user(rbd_stack.api_url, "demo")
    image = demo.create_image(name="nova-rbd-" + uuid.uuid4().hex[:6], disk_format="raw",
                              container_format="bare")
    assert demo.upload(image["id"], raw.read_bytes()).status_code == 204
    return image


def test_nova_reads_the_rbd_location_directly(nova_python, nova_rbd, rbd_stack, keystone,
                                              disk, tmp_path):
    raw, _ = disk
    image = _raw_image_in_rbd(rbd_stack, keystone, raw)
    dest = tmp_path / "disk"
    out = _nova_on(nova_python, rbd_stack, keystone, tmp_path, "fetch_to_raw",
                   image_id=image["id"], dest=str(dest), ceph_conf=nova_rbd)
    assert out["ok"], out
    assert "Successfully transferred using rbd" in out["log"], out["log"]
    assert dest.read_bytes() == raw.read_bytes()


def test_libvirt_rbd_backend_clones_the_image(nova_python, nova_rbd, rbd_stack, keystone,
                                              disk, tmp_path):
    raw, _ = disk
    image = _raw_image_in_rbd(rbd_stack, keystone, raw)
    instance = str(uuid.uuid4())
    out = _nova_on(nova_python, rbd_stack, keystone, tmp_path, "rbd_clone",
                   image_id=image["id"], ceph_conf=nova_rbd, pool="vms", instance=instance)
    assert out["ok"], out
    name = f"vms/{instance}_disk"
    try:
        info = json.loads(subprocess.run(["rbd", "-c", nova_rbd, "info", name, "--format",
                                          "json"], capture_output=True, text=True,
                                         timeout=60, check=True).stdout)
        assert info["parent"]["pool"] == "images"
        assert info["parent"]["image"] == image["id"]
        assert info["parent"]["snapshot"] == "snap"
    finally:
        subprocess.run(["rbd", "-c", nova_rbd, "rm", name], capture_output=True, timeout=120)
