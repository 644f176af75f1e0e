"""The store contract on the S3 driver, against Swift's S3 API (s3api) of tools/swift.sh."""
import contextlib
import io
import time

import pytest
import swiftclient

from stores import exceptions
from stores.s3 import S3Store, parse_location
from tests.functional.stores.conftest import SWIFT_KEY, SWIFT_USER, make_store, unique
from tests.functional.stores.contract import MiB, StoreContract, free_port, payload

BUCKET = "glance-s3-contract"


def client(swift_url):
    return swiftclient.Connection(authurl=swift_url + "/auth/v1.0", user=SWIFT_USER,
                                  key=SWIFT_KEY, auth_version="1", retries=0)


class TestS3Contract(StoreContract):
    duplicate = "raise"  # glance_store checks for the key first
    large_size = 11 * MiB + 5  # 5 MiB parts (the S3 minimum): 3 parts
    outage_seconds = 10

    @pytest.fixture
    def store(self, swift_url):
        self.swift_url = swift_url
        return self.make(BUCKET)

    def make(self, bucket, host=None, secret=SWIFT_KEY):
        return make_store(S3Store, "s3one", s3_store_host=host or self.swift_url,
                          s3_store_access_key=SWIFT_USER, s3_store_secret_key=secret,
                          s3_store_bucket=bucket, s3_store_create_bucket_on_put=True,
                          s3_store_large_object_size=5, s3_store_large_object_chunk_size=5,
                          s3_store_thread_pools=3)

    def leftovers(self, store, url):
        key = url.rsplit("/", 1)[1]
        found = []
        with contextlib.suppress(exceptions.NotFound):
            store.get_size(url)
            found.append(key)
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=key)
        found += ["upload:" + u["UploadId"] for u in uploads.get("Uploads", [])
                  if u["Key"] == key]
        # s3api keeps parts as objects of the "<bucket>+segments" container.
        try:
            _, listing = client(self.swift_url).get_container(
                store.bucket + "+segments", prefix=key + "/", full_listing=True)
        except swiftclient.ClientException as e:
            if e.http_status != 404:
                raise
            listing = []
        return found + ["segment:" + o["name"] for o in listing]

    def unavailable_store(self, store):
        return self.make(BUCKET, host="http://127.0.0.1:%d" % free_port())

    def bad_auth_store(self, store):
        return self.make(BUCKET, secret="wrong-secret")

    @contextlib.contextmanager
    def full_store(self, store, room):
        bucket = unique("glance-full")
        conn = client(self.swift_url)
        # s3api keeps multipart parts in "<bucket>+segments": it gets the quota too.
        # Swift checks a quota against the bytes already stored, so parts sent in
        # parallel can overshoot it together: the quota is below one part.
        quota = min(room, store.large_object_chunk_size - 1)
        for name in (bucket, bucket + "+segments"):
            conn.put_container(name, headers={"X-Container-Meta-Quota-Bytes": str(quota)})
        try:
            yield self.make(bucket)
        finally:
            for name in (bucket + "+segments", bucket):
                with contextlib.suppress(swiftclient.ClientException):
                    _, listing = conn.get_container(name, full_listing=True)
                    for entry in listing:
                        conn.delete_object(name, entry["name"])
                    conn.delete_container(name)

    # --- S3 specifics -----------------------------------------------------------

    def test_location_format(self, store):
        host = self.swift_url.split("://", 1)[1]
        assert store.location_for("abc") == "s3://%s/%s/abc" % (host, BUCKET)
        assert store.owns("s3://%s/%s/abc" % (host, BUCKET))
        # Old locations with the keys in them still parse.
        assert parse_location("s3://a:b@%s/%s/abc" % (host, BUCKET))[2:] == (BUCKET, "abc")

    def test_large_object_is_multipart(self, store):
        data = payload(self.large_size, seed=9)
        url = store.add(unique("mp"), io.BytesIO(data), len(data)).url
        try:
            head = store.client.head_object(Bucket=BUCKET, Key=url.rsplit("/", 1)[1])
            assert head["ETag"].strip('"').endswith("-3")  # a 3-part multipart ETag
        finally:
            store.delete(url)

    def test_delete_aborts_unfinished_multipart_upload(self, store):
        key = unique("orphan")
        client_ = store.client
        store.add(unique("warm"), io.BytesIO(b"x"), 1)  # make sure the bucket exists
        upload = client_.create_multipart_upload(Bucket=BUCKET, Key=key)
        client_.upload_part(Bucket=BUCKET, Key=key, PartNumber=1,
                            UploadId=upload["UploadId"], Body=b"a" * 100)
        url = store.location_for(key)
        store.delete(url)
        assert self.leftovers(store, url) == []
        with pytest.raises(exceptions.NotFound):
            store.delete(url)

    def test_properties(self, store):
        # Glance's discovery shows glance_store's attributes (bytes), not the options.
        assert store.properties() == {"s3_store_large_object_size": 5 * MiB,
                                      "s3_store_large_object_chunk_size": 5 * MiB,
                                      "s3_store_thread_pools": 3}


def test_abort_while_down_then_delete_later(swift_url, swift_relay):
    """The S3 server goes away mid-multipart: abort fails promptly, the upload stays,
    and ``delete(writer.location)`` aborts it once the server is back."""
    case = TestS3Contract()
    case.swift_url = swift_url
    store = case.make(BUCKET, host=swift_relay.url)
    writer = store.begin_add(unique("down"), None)
    data = payload(MiB)
    for _ in range(11):
        writer.write(data)  # two 5 MiB parts sent
    for _, future in writer.parts:
        future.result(timeout=60)
    swift_relay.cut()
    started = time.monotonic()
    with pytest.raises(exceptions.BackendUnavailable):
        writer.abort()
    assert time.monotonic() - started < 30
    swift_relay.resume()
    direct = case.make(BUCKET)
    assert case.leftovers(direct, writer.location), "expected an unfinished upload"
    store.delete(writer.location)
    assert case.leftovers(direct, writer.location) == []
