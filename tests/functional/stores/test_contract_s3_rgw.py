"""The store contract on the S3 driver, against Ceph's radosgw (``tools/ceph.sh rgw``).

radosgw runs on the machine-wide Ceph of tools/ceph.sh (flock-guarded, idempotent), so
both xdist workers share it; each test uses fresh uuid keys. Also one api-level test: a
real api + registry stack with an ``s3`` backend on radosgw.
"""
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore import exceptions as boto_exc

from stores import exceptions
from stores.s3 import S3Store
from tests.functional.conftest import Stack, User
from tests.functional.stores.conftest import TcpRelay, make_store, unique
from tests.functional.stores.conftest_rbd import CANNOT_INSTALL, CEPH_SH
from tests.functional.stores.contract import MiB, StoreContract, free_port, payload

BUCKET = "glance-rgw-contract"
DATA_POOL = "default.rgw.buckets.data"


class Rgw:
    """The running radosgw: its URL, S3 keys and admin commands."""

    def __init__(self, lines, env):
        values = dict(line.split("=", 1) for line in lines if "=" in line)
        self.url = values["RGW_URL"]
        self.access_key = values["RGW_ACCESS_KEY"]
        self.secret_key = values["RGW_SECRET_KEY"]
        self.env = env

    def admin(self, *args):
        """Run radosgw-admin on the cluster; return its stdout."""
        return subprocess.run(["radosgw-admin", *args], env=self.env, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    def rados_names(self, key):
        """Names of the RADOS objects (head, multipart parts, tails) of ``key``.

        Deleted tails wait for radosgw's garbage collector: run it first.
        """
        self.admin("gc", "process", "--include-all")
        out = subprocess.run(["rados", "-p", DATA_POOL, "ls"], env=self.env, check=True,
                             capture_output=True, text=True, timeout=60).stdout
        return [name for name in out.splitlines() if key in name]


@pytest.fixture(scope="session")
def rgw():
    """Start (or reuse) radosgw on the machine-wide Ceph of tools/ceph.sh."""
    env = dict(os.environ, VENV=str(Path(sys.executable).parent.parent))
    proc = subprocess.run(["bash", str(CEPH_SH), "rgw"], capture_output=True, text=True,
                          timeout=900, env=env)
    if proc.returncode != 0:
        if any(text in proc.stderr for text in CANNOT_INSTALL):
            pytest.skip("radosgw cannot be installed here: " + proc.stderr.strip())
        raise RuntimeError(f"tools/ceph.sh rgw failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    conf = subprocess.run(["bash", str(CEPH_SH), "conf"], capture_output=True, text=True,
                          timeout=60, env=env).stdout.strip()
    return Rgw(proc.stdout.splitlines(), dict(env, CEPH_CONF=conf))


def rgw_store(rgw, bucket=BUCKET, host=None, secret=None, group="rgw"):
    return make_store(S3Store, group, s3_store_host=host or rgw.url,
                      s3_store_access_key=rgw.access_key,
                      s3_store_secret_key=secret or rgw.secret_key,
                      s3_store_bucket=bucket, s3_store_create_bucket_on_put=True,
                      s3_store_large_object_size=5, s3_store_large_object_chunk_size=5,
                      s3_store_thread_pools=3)


def _wait_quota_active(client, bucket, quota, seconds=30):
    """Return once radosgw refuses an object of ``quota`` + 1 bytes in ``bucket``.

    radosgw-admin writes the quota and notifies the gateway's cache of bucket info; the
    test's premise (the first part is refused) is checked here, not assumed.
    """
    deadline = time.monotonic() + seconds
    body = b"q" * (quota + 1)
    while True:
        try:
            client.put_object(Bucket=bucket, Key="quota-probe", Body=body)
        except boto_exc.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "QuotaExceeded":
                return
            raise
        client.delete_object(Bucket=bucket, Key="quota-probe")
        if time.monotonic() > deadline:
            raise AssertionError("radosgw does not enforce the bucket quota after %ds"
                                 % seconds)
        time.sleep(0.5)


def empty_bucket(client, bucket):
    with contextlib.suppress(boto_exc.ClientError):
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                          UploadId=upload["UploadId"])
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


class TestRgwS3Contract(StoreContract):
    duplicate = "raise"  # glance_store checks for the key first
    large_size = 11 * MiB + 5  # 5 MiB parts (the S3 minimum): 3 parts
    outage_seconds = 10

    @pytest.fixture
    def store(self, rgw):
        self.rgw = rgw
        return rgw_store(rgw)

    def leftovers(self, store, url):
        key = url.rsplit("/", 1)[1]
        found = []
        with contextlib.suppress(exceptions.NotFound):
            store.get_size(url)
            found.append(key)
        with contextlib.suppress(store.client.exceptions.NoSuchBucket):
            uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=key)
            found += ["upload:" + u["UploadId"] for u in uploads.get("Uploads", [])
                      if u["Key"] == key]
        return found + ["rados:" + name for name in self.rgw.rados_names(key)]

    def unavailable_store(self, store):
        return rgw_store(self.rgw, host="http://127.0.0.1:%d" % free_port())

    def bad_auth_store(self, store):
        return rgw_store(self.rgw, secret="wrong-secret")

    @contextlib.contextmanager
    def full_store(self, store, room):
        bucket = unique("glance-rgw-full")
        store.client.create_bucket(Bucket=bucket)
        # radosgw checks a part against the quota and the (cached) bucket stats: a quota
        # below one part fails the first part, whatever the cache holds. It keeps the quota
        # in whole KiB, rounded up: one byte under a part (5 MiB - 1) became 5 MiB and let
        # the part through; a KiB-aligned quota at least 4 KiB under a part does not.
        quota = min(room, store.large_object_chunk_size - 4096) // 1024 * 1024
        self.rgw.admin("quota", "set", "--quota-scope=bucket", "--bucket=" + bucket,
                       "--max-size=%d" % quota)
        self.rgw.admin("quota", "enable", "--quota-scope=bucket", "--bucket=" + bucket)
        try:
            _wait_quota_active(store.client, bucket, quota)
            yield rgw_store(self.rgw, bucket=bucket)
        finally:
            empty_bucket(store.client, bucket)

    # --- radosgw specifics -----------------------------------------------------

    def test_location_format(self, store, rgw):
        host = rgw.url.split("://", 1)[1]
        assert store.location_for("abc") == "s3://%s/%s/abc" % (host, BUCKET)
        assert store.owns("s3://%s/%s/abc" % (host, BUCKET))

    def test_large_object_is_multipart(self, store):
        data = payload(self.large_size, seed=9)
        url = store.add(unique("mp"), io.BytesIO(data), len(data)).url
        key = url.rsplit("/", 1)[1]
        try:
            head = store.client.head_object(Bucket=BUCKET, Key=key)
            assert head["ETag"].strip('"').endswith("-3")  # a 3-part multipart ETag
            assert any("multipart" in name for name in self.rgw.rados_names(key))
        finally:
            store.delete(url)
        assert self.leftovers(store, url) == []

    def test_delete_aborts_unfinished_multipart_upload(self, store):
        key = unique("orphan")
        client = store.client
        warm = store.add(unique("warm"), io.BytesIO(b"x"), 1).url  # the bucket exists
        store.delete(warm)
        upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)
        client.upload_part(Bucket=BUCKET, Key=key, PartNumber=1,
                           UploadId=upload["UploadId"], Body=b"a" * 100)
        url = store.location_for(key)
        store.delete(url)
        assert self.leftovers(store, url) == []
        with pytest.raises(exceptions.NotFound):
            store.delete(url)

    def test_bucket_created_on_put(self, rgw):
        bucket = unique("glance-rgw-new")
        store = rgw_store(rgw, bucket=bucket)
        try:
            added = store.add(unique("first"), io.BytesIO(b"abc"), 3)
            assert added.size == 3
            assert b"".join(store.get(added.url)[0]) == b"abc"
        finally:
            empty_bucket(store.client, bucket)


def test_abort_while_down_then_delete_later(rgw):
    """radosgw goes away mid-multipart: abort fails promptly, the upload stays, and
    ``delete(writer.location)`` aborts it once radosgw is reachable again."""
    relay = TcpRelay(int(rgw.url.rsplit(":", 1)[1]))
    try:
        store = rgw_store(rgw, host=relay.url)
        writer = store.begin_add(unique("down"), None)
        data = payload(MiB)
        for _ in range(11):
            writer.write(data)  # two 5 MiB parts sent
        for _, future in writer.parts:
            future.result(timeout=60)
        relay.cut()
        with pytest.raises(exceptions.BackendUnavailable):
            writer.abort()
        relay.resume()
        case = TestRgwS3Contract()
        case.rgw = rgw
        direct = rgw_store(rgw)
        location = direct.location_for(writer.location.rsplit("/", 1)[1])
        assert case.leftovers(direct, location), "expected an unfinished upload"
        store.delete(writer.location)
        assert case.leftovers(direct, location) == []
    finally:
        relay.cut()


# --- the api with an s3 backend on radosgw ---------------------------------------

SIZE = 6 * MiB + 7  # > the multipart threshold below: 2 parts


@pytest.fixture(scope="module")
def rgw_stack(rgw, tmp_path_factory):
    root = tmp_path_factory.mktemp("stack-rgw")
    bucket = unique("glance-api-rgw")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "rgw", api_extra=f"""
[DEFAULT]
enabled_backends = local:file, ceph_s3:s3

[glance_store]
default_backend = local

[local]
filesystem_store_datadir = {root}/local

[ceph_s3]
s3_store_host = {rgw.url}
s3_store_access_key = {rgw.access_key}
s3_store_secret_key = {rgw.secret_key}
s3_store_bucket = {bucket}
s3_store_create_bucket_on_put = True
s3_store_large_object_size = 5
s3_store_large_object_chunk_size = 5
s3_store_thread_pools = 2
""")
    running.bucket = bucket
    running.client = rgw_store(rgw, bucket=bucket).client
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(running.stop)
        running.start()
        yield running
        empty_bucket(running.client, bucket)


def test_api_upload_download_delete_on_rgw(rgw_stack, rgw):
    user = User(rgw_stack.api_url)
    data = payload(SIZE, seed=42)
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.upload(image["id"], data, **{"X-Image-Meta-Store": "ceph_s3"})
    assert resp.status_code == 204, resp.text
    shown = user.show(image["id"])
    assert shown["status"] == "active"
    assert shown["stores"] == "ceph_s3"
    assert shown["size"] == SIZE
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    head = rgw_stack.client.head_object(Bucket=rgw_stack.bucket, Key=image["id"])
    assert head["ContentLength"] == SIZE
    assert head["ETag"].strip('"').endswith("-2")  # two 5 MiB-max multipart parts
    assert any("multipart" in name for name in rgw.rados_names(image["id"]))

    resp = user.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200
    assert resp.content == data
    resp = user.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=5242870-5242889"})
    assert resp.status_code == 206
    assert resp.content == data[5242870:5242890]

    assert user.delete(f"/v2/images/{image['id']}").status_code == 204
    with pytest.raises(boto_exc.ClientError) as caught:
        rgw_stack.client.head_object(Bucket=rgw_stack.bucket, Key=image["id"])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    uploads = rgw_stack.client.list_multipart_uploads(Bucket=rgw_stack.bucket)
    assert [u for u in uploads.get("Uploads", []) if u["Key"] == image["id"]] == []
    assert rgw.rados_names(image["id"]) == []
