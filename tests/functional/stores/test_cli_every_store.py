"""The real glance and openstack CLIs, one stack, one image in each kind of store.

``glance image-create --store <id>`` uploads (X-Image-Meta-Store) to file, Swift, S3 (on
Swift's s3api), RBD and Cinder, each on its real server; ``openstack image save`` gets the
same bytes back; ``glance stores-info`` lists them.
"""
import contextlib
import hashlib
import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import script
from tests.functional.conftest import Stack, User
from tests.functional.stores.conftest import SWIFT_KEY, SWIFT_USER, unique
from tests.functional.stores.test_contract_cinder import cinder_url  # noqa: F401 (fixture)

pytest_plugins = ["tests.functional.stores.conftest_rbd"]
STORES = ["local", "swift1", "s3one", "ceph", "volumes"]


@pytest.fixture(scope="module")
def every_store(swift_url, ceph_conf, rbd_driver, cinder_url, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("stack-every-store")
    container, bucket = unique("glance-cli"), unique("glance-cli-s3")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "every-store", api_extra=f"""
[DEFAULT]
enabled_backends = local:file, swift1:swift, s3one:s3, ceph:rbd, volumes:cinder

[glance_store]
default_backend = local

[local]
filesystem_store_datadir = {root}/local

[swift1]
swift_store_auth_address = {swift_url}/auth/v1.0
swift_store_auth_version = 1
swift_store_user = {SWIFT_USER}
swift_store_key = {SWIFT_KEY}
swift_store_container = {container}
swift_store_create_container_on_put = True

[s3one]
s3_store_host = {swift_url}
s3_store_access_key = {SWIFT_USER}
s3_store_secret_key = {SWIFT_KEY}
s3_store_bucket = {bucket}
s3_store_create_bucket_on_put = True

[ceph]
rbd_store_ceph_conf = {ceph_conf}
rbd_store_pool = images

[volumes]
cinder_endpoint_template = {cinder_url}
cinder_volume_type = ceph
""")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(running.stop)
        running.start()
        yield running


def _run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, f"{args}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    return proc.stdout


def _glance(stack, tmp_path, *args):
    return _run(tmp_path, script("glance"), "--os-image-url", stack.api_url,
                "--os-auth-token", "x", *args)


def test_stores_info_lists_every_store(every_store, tmp_path):
    out = _glance(every_store, tmp_path, "stores-info")
    for store_id in STORES:
        assert store_id in out


@pytest.mark.parametrize("store_id", STORES)
def test_cli_upload_to_each_store_downloads_identical(every_store, tmp_path, store_id):
    data = os.urandom(3 * 1024 * 1024 + 11)
    disk = tmp_path / "disk.img"
    disk.write_bytes(data)
    name = "cli-%s-%s" % (store_id, uuid.uuid4().hex[:6])
    _glance(every_store, tmp_path, "image-create", "--name", name, "--disk-format", "raw",
            "--container-format", "bare", "--file", str(disk), "--store", store_id)
    shown = json.loads(_run(tmp_path, script("openstack"), "--os-auth-type", "none",
                            "--os-endpoint", every_store.api_url, "image", "show", name,
                            "-f", "json"))
    assert shown["status"] == "active"
    stores = shown.get("stores") or (shown.get("properties") or {}).get("stores")
    assert stores == store_id
    out = tmp_path / "out.img"
    _run(tmp_path, script("openstack"), "--os-auth-type", "none", "--os-endpoint",
         every_store.api_url, "image", "save", "--file", str(out), name)
    assert out.read_bytes() == data
    _run(tmp_path, script("openstack"), "--os-auth-type", "none", "--os-endpoint",
         every_store.api_url, "image", "delete", name)


@pytest.mark.parametrize("store_id", STORES)
def test_v1_upload_to_each_store_downloads_identical(every_store, store_id):
    """Images API v1 (issue 15): POST /v1/images with x-image-meta-store puts the bytes in
    that store, v2 shows it there, and GET /v1/images/{id} gives them back."""
    user = User(every_store.api_url)
    data = os.urandom(2 * 1024 * 1024 + 7)
    resp = user.post("/v1/images", data=data, headers={
        "x-image-meta-name": "v1-" + store_id, "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare", "x-image-meta-store": store_id,
        "Content-Type": "application/octet-stream"})
    assert resp.status_code == 201, resp.text
    image = resp.json()["image"]
    assert image["status"] == "active" and image["size"] == len(data)
    assert user.show(image["id"])["stores"] == store_id
    got = user.get(f"/v1/images/{image['id']}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["x-image-meta-checksum"] == hashlib.md5(data).hexdigest()
    assert user.delete(f"/v1/images/{image['id']}").status_code == 200
