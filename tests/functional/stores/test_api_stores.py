"""The real api + registry stack with file, Swift and S3 (on Swift's s3api) backends.

Uploads through ``PUT /v2/images/{id}/file`` with ``X-Image-Meta-Store``, downloads the
same bytes back, checks ``GET /v2/info/stores/detail`` and that deleting the image
removes its data (segments included) from the backend.
"""
import contextlib
import hashlib

import pytest
import swiftclient

from tests.functional.conftest import Stack, User
from tests.functional.stores.conftest import SWIFT_KEY, SWIFT_USER, unique
from tests.functional.stores.contract import MiB, payload

SIZE = 6 * MiB + 7  # > the swift segment size and the s3 multipart threshold below


@pytest.fixture(scope="module")
def multistore(swift_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("stack-swift-s3")
    container, bucket = unique("glance-api"), unique("glance-api-s3")
    full = unique("glance-api-full")
    swift = swiftclient.Connection(authurl=swift_url + "/auth/v1.0", user=SWIFT_USER,
                                   key=SWIFT_KEY, auth_version="1", retries=0)
    swift.put_container(full, headers={"X-Container-Meta-Quota-Bytes": str(MiB)})
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "swift-s3", api_extra=f"""
[DEFAULT]
enabled_backends = local:file, swift1:swift, s3one:s3, swiftfull:swift

[glance_store]
default_backend = local

[local]
filesystem_store_datadir = {root}/local

[swift1]
store_description = Swift
swift_store_auth_address = {swift_url}/auth/v1.0
swift_store_auth_version = 1
swift_store_user = {SWIFT_USER}
swift_store_key = {SWIFT_KEY}
swift_store_container = {container}
swift_store_create_container_on_put = True
swift_store_large_object_size = 2
swift_store_large_object_chunk_size = 1

[s3one]
s3_store_host = {swift_url}
s3_store_access_key = {SWIFT_USER}
s3_store_secret_key = {SWIFT_KEY}
s3_store_bucket = {bucket}
s3_store_create_bucket_on_put = True
s3_store_large_object_size = 5
s3_store_large_object_chunk_size = 5
s3_store_thread_pools = 2

[swiftfull]
swift_store_auth_address = {swift_url}/auth/v1.0
swift_store_auth_version = 1
swift_store_user = {SWIFT_USER}
swift_store_key = {SWIFT_KEY}
swift_store_container = {full}
swift_store_large_object_size = 2
swift_store_large_object_chunk_size = 1
""")
    running.container, running.bucket, running.full = container, bucket, full
    running.swift = swift
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(running.stop)
        running.start()
        yield running
        for name in (container, bucket + "+segments", bucket, full):
            with contextlib.suppress(swiftclient.ClientException):
                for entry in running.swift.get_container(name, full_listing=True)[1]:
                    running.swift.delete_object(name, entry["name"])
                running.swift.delete_container(name)


def _names(stack, container, image_id):
    try:
        listing = stack.swift.get_container(container, full_listing=True)[1]
    except swiftclient.ClientException as e:
        if e.http_status == 404:
            return []
        raise
    return [o["name"] for o in listing if image_id in o["name"]]


@pytest.mark.parametrize("store_id", ["local", "swift1", "s3one"])
def test_upload_download_delete_per_store(multistore, store_id):
    user = User(multistore.api_url)
    data = payload(SIZE, seed=len(store_id))
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.upload(image["id"], data, **{"X-Image-Meta-Store": store_id})
    assert resp.status_code == 204, resp.text
    shown = user.show(image["id"])
    assert shown["status"] == "active"
    assert shown["stores"] == store_id
    assert shown["size"] == SIZE
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()

    resp = user.get(f"/v2/images/{image['id']}/file", stream=True)
    assert resp.status_code == 200
    assert hashlib.sha512(resp.content).hexdigest() == shown["os_hash_value"]
    resp = user.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=3000000-3000099"})
    assert resp.status_code == 206
    assert resp.content == data[3000000:3000100]

    if store_id == "swift1":
        names = _names(multistore, multistore.container, image["id"])
        assert len(names) == 1 + 7  # the DLO manifest + ceil(SIZE / 1000 KiB) segments
    if store_id == "s3one":
        head = multistore.swift.head_object(multistore.bucket, image["id"])
        assert head.get("x-static-large-object") == "True"  # s3api's multipart = an SLO

    assert user.delete(f"/v2/images/{image['id']}").status_code == 204
    if store_id == "swift1":
        assert _names(multistore, multistore.container, image["id"]) == []
    if store_id == "s3one":
        assert _names(multistore, multistore.bucket, image["id"]) == []
        assert _names(multistore, multistore.bucket + "+segments", image["id"]) == []


def test_stores_detail(multistore):
    admin = User(multistore.api_url, roles="admin,member,reader")
    resp = admin.get("/v2/info/stores/detail")
    assert resp.status_code == 200, resp.text
    stores = {s["id"]: s for s in resp.json()["stores"]}
    assert stores["local"]["type"] == "file" and stores["local"]["default"] == "true"
    assert stores["swift1"] == {
        "id": "swift1", "description": "Swift", "type": "swift", "weight": 0,
        "properties": {"container": multistore.container,
                       "large_object_size": 2 * 1000 * 1024,
                       "large_object_chunk_size": 1000 * 1024}}
    assert stores["s3one"] == {
        "id": "s3one", "type": "s3", "weight": 0,
        "properties": {"s3_store_large_object_size": 5 * MiB,
                       "s3_store_large_object_chunk_size": 5 * MiB,
                       "s3_store_thread_pools": 2}}
    resp = User(multistore.api_url).get("/v2/info/stores")
    assert [s["id"] for s in resp.json()["stores"]] == ["local", "swift1", "s3one",
                                                         "swiftfull"]


def test_quota_exceeded_is_413_and_leaves_nothing(multistore):
    """A Swift container quota (1 MiB) is hit by the 2nd segment: 413, image still
    queued, and the first segment is gone."""
    user = User(multistore.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.upload(image["id"], payload(3 * MiB), **{"X-Image-Meta-Store": "swiftfull"})
    assert resp.status_code == 413, resp.text
    assert user.show(image["id"])["status"] == "queued"
    assert _names(multistore, multistore.full, image["id"]) == []
