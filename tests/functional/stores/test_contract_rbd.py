"""The store contract and the rbd-specific behaviour, on the real single-node Ceph.

Ceph is started (or reused) by tools/ceph.sh under its flock, shared by the xdist workers;
each test works on fresh uuid-named images.
"""

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import uuid

import pytest

from stores import exceptions
from tests.functional.stores.contract import MiB, StoreContract, free_port, payload, read_all

pytest_plugins = ["tests.functional.stores.conftest_rbd"]
# The fixtures ceph_conf, rbd_driver, rados_ioctx, rbd_stack, rbd_user and make_store.

GLANCE_IN_USE = ("Image %s could not be deleted because it is in use: The image cannot be "
                 "deleted because it is in use through the backend store outside of Glance.")


def rbd_names(rbd_driver, ioctx):
    """Return the image names in the pool and in its trash."""
    names = set(rbd_driver.rbd.RBD().list(ioctx))
    names.update(entry["name"] for entry in rbd_driver.rbd.RBD().trash_list(ioctx))
    return names


def allocated_bytes(rbd_driver, ioctx, name, snapshot="snap"):
    """Return how many bytes of the image (at ``snapshot``) are allocated in RADOS."""
    extents = []
    with rbd_driver.rbd.Image(ioctx, name, snapshot=snapshot, read_only=True) as image:
        image.diff_iterate(0, image.size(), None,
                           lambda offset, length, exists: extents.append((length, exists)))
    return sum(length for length, exists in extents if exists)


class TestRbdContract(StoreContract):
    duplicate = "raise"
    # Larger than several resize steps of an image of unknown size (2, 4, 8 MiB).
    large_size = 5 * MiB + 123

    @pytest.fixture
    def store(self, rbd_driver, make_store, rados_ioctx):
        self.rbd_driver, self.ioctx, self.make_store = rbd_driver, rados_ioctx, make_store
        # NOTE: 1 MiB objects (and reads), so the contract's bounded-chunk case holds;
        # the default 8 MiB is exercised by the rbd-specific tests below.
        return make_store(rbd_store_chunk_size=1)

    def leftovers(self, store, url):
        name = self.rbd_driver.parse_location(url)[2]
        return [n for n in rbd_names(self.rbd_driver, self.ioctx) if n == name]

    def unavailable_store(self, store):
        # NOTE: the shared cluster cannot be stopped under the other workers: a copy of
        # the configuration naming a loopback port nobody listens on.
        path = store.conf_file + ".down-%s" % uuid.uuid4().hex[:8]
        port = free_port()
        with open(store.conf_file) as src, open(path, "w") as dst:
            for line in src:
                if line.startswith("mon_host"):
                    line = "mon_host = [v2:127.0.0.1:%d,v1:127.0.0.1:%d]\n" % (port, port)
                dst.write(line)
        self._down_conf = path
        return self.make_store(path, rados_connect_timeout=1)

    def bad_auth_store(self, store):
        pytest.skip("the test cluster runs without cephx (auth none): no credentials")

    @contextlib.contextmanager
    def full_store(self, store, room):
        # NOTE: Ceph enforces pool quotas from the usage ceph-mgr reports, and
        # tools/ceph.sh runs no mgr; test_no_space_is_storage_full maps the error.
        pytest.skip("pool quotas need ceph-mgr, which the test cluster does not run")
        yield  # pragma: no cover

    @pytest.fixture(autouse=True)
    def _cleanup_down_conf(self):
        self._down_conf = None
        yield
        if self._down_conf:
            os.unlink(self._down_conf)


@pytest.fixture
def default_store(make_store):
    return make_store()


def cluster_fsid(ceph_conf):
    """Return the fsid written in the cluster's ceph.conf."""
    with open(ceph_conf) as f:
        return next(line.split("=")[1].strip() for line in f if line.startswith("fsid"))


def test_location_is_fsid_pool_image_snap(default_store, ceph_conf, rados_ioctx, rbd_driver):
    image_id = str(uuid.uuid4())
    added = default_store.add(image_id, io.BytesIO(b"abc"), 3)
    url = added.url
    try:
        fsid = cluster_fsid(ceph_conf)
        assert url == "rbd://%s/images/%s/snap" % (fsid, image_id)
        assert added.metadata == {"store": "ceph"}
        with rbd_driver.rbd.Image(rados_ioctx, image_id, read_only=True) as image:
            assert [s["name"] for s in image.list_snaps()] == ["snap"]
            assert image.is_protected_snap("snap")
            assert image.size() == 3
            assert image.stat()["order"] == 23  # 8 MiB objects (rbd_store_chunk_size)
    finally:
        default_store.delete(url)
    assert image_id not in rbd_names(rbd_driver, rados_ioctx)


@pytest.mark.parametrize("declared", [True, False], ids=["size-known", "size-unknown"])
def test_thin_provisioning_skips_zero_chunks(rbd_driver, make_store, rados_ioctx, declared):
    thin = make_store(rbd_thin_provisioning=True)
    thick = make_store()
    chunk = 8 * MiB
    data = payload(chunk, 1) + bytes(2 * chunk) + payload(MiB, 2) + bytes(chunk)
    urls = []
    try:
        allocated = {}
        for name, store in (("thin", thin), ("thick", thick)):
            image_id = str(uuid.uuid4())
            added = store.add(image_id, io.BytesIO(data), len(data) if declared else None)
            url = added.url
            urls.append((store, url))
            assert added.size == len(data)
            assert store.get_size(url) == len(data)
            assert hashlib.md5(read_all(store.get(url)[0])).digest() == \
                hashlib.md5(data).digest()
            allocated[name] = allocated_bytes(rbd_driver, rados_ioctx, image_id)
        # 8 MiB objects: [data][0][0][1 MiB data + zeros][zeros]. Thin: only the two
        # objects written hold data (fast-diff reports whole objects); thick: all five.
        assert allocated["thin"] == 2 * chunk
        assert allocated["thick"] >= len(data)
    finally:
        for store, url in urls:
            store.delete(url)


def test_delete_of_cloned_image_is_in_use(default_store, rbd_driver, rados_ioctx):
    image_id = str(uuid.uuid4())
    data = payload(MiB + 1)
    url = default_store.add(image_id, io.BytesIO(data), len(data)).url
    clone = "clone-" + image_id
    rbd_driver.rbd.RBD().clone(rados_ioctx, image_id, "snap", rados_ioctx, clone,
                               features=rbd_driver.rbd.RBD_FEATURE_LAYERING)
    try:
        with pytest.raises(exceptions.InUseByStore) as raised:
            default_store.delete(url)
        assert str(raised.value) == ("The image cannot be deleted because it is in use "
                                     "through the backend store outside of Glance.")
        # Nothing was lost: the snapshot is still protected and readable.
        assert read_all(default_store.get(url)[0]) == data
        with rbd_driver.rbd.Image(rados_ioctx, image_id, read_only=True) as image:
            assert image.is_protected_snap("snap")
    finally:
        rbd_driver.rbd.RBD().remove(rados_ioctx, clone)
    default_store.delete(url)
    assert image_id not in rbd_names(rbd_driver, rados_ioctx)


def test_delete_of_partial_upload_without_snapshot(default_store, rbd_driver, rados_ioctx):
    """A writer whose process died: the location given at begin_add removes the image."""
    image_id = str(uuid.uuid4())
    writer = default_store.begin_add(image_id, 3 * MiB)
    writer.write(bytearray(payload(MiB)))  # the api hands bytearrays
    writer._close()  # as if the process had died: no commit, no abort
    assert image_id in rbd_names(rbd_driver, rados_ioctx)
    with pytest.raises(exceptions.NotFound):
        default_store.get_size(writer.location)  # no snapshot yet
    default_store.delete(writer.location)
    assert image_id not in rbd_names(rbd_driver, rados_ioctx)
    with pytest.raises(exceptions.NotFound):
        default_store.delete(writer.location)


class NoSpaceImage:
    """Stands in for an open rbd.Image on a full cluster (librbd's ENOSPC)."""

    def __init__(self, rbd_driver):
        self.rbd_driver = rbd_driver

    def write(self, data, offset):
        raise self.rbd_driver.rbd.NoSpace("[errno 28] RBD insufficient space available")

    def resize(self, size):
        pass


def test_no_space_is_storage_full(default_store, rbd_driver, rados_ioctx):
    """librbd's ENOSPC/EDQUOT surface as StorageFull and the partial image is removed."""
    image_id = str(uuid.uuid4())
    writer = default_store.begin_add(image_id, 2 * MiB)
    writer.image = NoSpaceImage(rbd_driver)
    with pytest.raises(exceptions.StorageFull):
        writer.write(payload(MiB))
    writer.abort()
    assert image_id not in rbd_names(rbd_driver, rados_ioctx)


def test_missing_bindings_disable_only_this_store(tmp_path):
    """Without python3-rados the driver imports, and configure() disables adding."""
    code = """
import sys
sys.modules['rados'] = None
sys.modules['rbd'] = None
from oslo_config import cfg
from stores import StoreRegistry, exceptions
from stores.rbd import RbdStore
conf = cfg.ConfigOpts()
conf(['--config-file', sys.argv[1]], project='x', default_config_files=[])
reg = StoreRegistry(conf)
rbd = reg.for_store('rbd')
assert not rbd.add_enabled and reg.default.type_name == 'file'
try:
    rbd.get_size('rbd://f/images/i/snap')
except exceptions.BackendUnavailable as e:
    print('unavailable:', e)
"""
    conf = tmp_path / "api.conf"
    conf.write_text("[glance_store]\nstores = file,rbd\ndefault_store = file\n"
                    "filesystem_store_datadir = %s\n" % (tmp_path / "images"))
    proc = subprocess.run([sys.executable, "-c", code, str(conf)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "unavailable: The required libraries(rbd and rados) are not available" in \
        proc.stdout
    assert "The required libraries(rbd and rados) are not available" in proc.stderr


def test_api_direct_url_download_and_delete_in_use(rbd_stack, rbd_user, rbd_driver,
                                                    ceph_conf, rados_ioctx):
    data = payload(3 * MiB + 7, seed=9)
    image = rbd_user.create_active(data)
    image_id = image["id"]
    assert image["direct_url"] == "rbd://%s/images/%s/snap" % (cluster_fsid(ceph_conf),
                                                               image_id)
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    resp = rbd_user.get("/v2/images/%s/file" % image_id)
    assert resp.status_code == 200
    assert resp.content == data

    clone = "clone-" + image_id
    rbd_driver.rbd.RBD().clone(rados_ioctx, image_id, "snap", rados_ioctx, clone,
                               features=rbd_driver.rbd.RBD_FEATURE_LAYERING)
    try:
        resp = rbd_user.delete("/v2/images/%s" % image_id)
        assert resp.status_code == 409, resp.text
        body = resp.json()
        assert body["code"] == "409 Conflict"
        assert body["message"].startswith(GLANCE_IN_USE % image_id)
        shown = rbd_user.show(image_id)
        assert shown["status"] == "active"
        assert rbd_user.get("/v2/images/%s/file" % image_id).content == data
    finally:
        rbd_driver.rbd.RBD().remove(rados_ioctx, clone)
    assert rbd_user.delete("/v2/images/%s" % image_id).status_code == 204
    assert rbd_user.get("/v2/images/%s" % image_id).status_code == 404
    assert image_id not in rbd_names(rbd_driver, rados_ioctx)
