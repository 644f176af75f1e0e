"""A store that keeps each image as an object in an S3 (or S3-compatible) bucket.

Options and location URIs are glance_store's: ``s3://<host>/<bucket>/<image id>`` (or
``s3+https://...``; glance_store no longer puts the keys in the URI, older
``s3://<access>:<secret>@<host>/...`` locations are still parsed). An image smaller than
``s3_store_large_object_size`` streams as one PUT; a larger one (or one of unknown size)
is a multipart upload whose ``s3_store_large_object_chunk_size`` parts are sent by
``s3_store_thread_pools`` threads in parallel, with at most that many parts in memory.
"""

import logging
import threading
import urllib.parse

import boto3
from botocore import config as boto_config
from botocore import exceptions as boto_exc

from stores import base
from stores import config
from stores import exceptions
from stores.s3_upload import (
    CONNECT_TIMEOUT, ERRORS, MAX_ATTEMPTS, NOT_FOUND_CODES, READ_TIMEOUT, S3Writer, code_of,
    reraise,
)

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_LARGE_OBJECT_MIN_CHUNK_SIZE = 5  # MB
# (connect, read) seconds and attempts per request: a dead backend must fail promptly.
def get_s3_location(s3_host):
    """Return the AWS region of an amazonaws.com ``s3_host`` ('' for other hosts)."""
    host = s3_host.split("://", 1)[-1].split("/", 1)[0]
    locations = {
        "s3.amazonaws.com": "",
        "s3-us-east-1.amazonaws.com": "us-east-1",
        "s3-us-east-2.amazonaws.com": "us-east-2",
        "s3-us-west-1.amazonaws.com": "us-west-1",
        "s3-us-west-2.amazonaws.com": "us-west-2",
        "s3-ap-east-1.amazonaws.com": "ap-east-1",
        "s3-ap-south-1.amazonaws.com": "ap-south-1",
        "s3-ap-northeast-1.amazonaws.com": "ap-northeast-1",
        "s3-ap-northeast-2.amazonaws.com": "ap-northeast-2",
        "s3-ap-northeast-3.amazonaws.com": "ap-northeast-3",
        "s3-ap-southeast-1.amazonaws.com": "ap-southeast-1",
        "s3-ap-southeast-2.amazonaws.com": "ap-southeast-2",
        "s3-ca-central-1.amazonaws.com": "ca-central-1",
        "s3-cn-north-1.amazonaws.com.cn": "cn-north-1",
        "s3-cn-northwest-1.amazonaws.com.cn": "cn-northwest-1",
        "s3-eu-central-1.amazonaws.com": "eu-central-1",
        "s3-eu-west-1.amazonaws.com": "eu-west-1",
        "s3-eu-west-2.amazonaws.com": "eu-west-2",
        "s3-eu-west-3.amazonaws.com": "eu-west-3",
        "s3-eu-north-1.amazonaws.com": "eu-north-1",
        "s3-sa-east-1.amazonaws.com": "sa-east-1",
    }
    return locations.get(host, "")


def parse_location(url):
    """Return (scheme, host, bucket, key) of an s3 location.

    :raises: BadStoreUri
    """
    if not isinstance(url, str) or url.count("://") != 1:
        raise exceptions.BadStoreUri(uri=url)
    pieces = urllib.parse.urlsplit(url)
    scheme = pieces.scheme.lower()
    if scheme not in S3Store.schemes:
        raise exceptions.BadStoreUri(uri=url)
    netloc = pieces.netloc.rsplit("@", 1)[-1]  # old locations carried access:secret@
    parts = (netloc + "/" + pieces.path.strip("/")).strip("/").split("/")
    if len(parts) < 3 or not all(parts):
        raise exceptions.BadStoreUri(uri=url)
    return scheme, "/".join(parts[:-2]), parts[-2], parts[-1]


class S3Store(base.Store):
    """Images as S3 objects; multipart uploads for large ones."""

    schemes = ("s3", "s3+http", "s3+https")
    type_name = "s3"
    OPTIONS = config.S3_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.WRITE_ACCESS,
                              base.DRIVER_REUSABLE})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self._client = None
        self._client_lock = threading.Lock()
        self._read_options()

    def _read_options(self):
        sc = self.store_conf
        self.s3_host = sc.s3_store_host or ""
        self.bucket = sc.s3_store_bucket
        self.scheme = "s3+https" if self.s3_host.startswith("https://") else "s3"
        self.full_s3_host = (self.s3_host if "://" in self.s3_host
                             else "http://" + self.s3_host)
        self.large_object_size = sc.s3_store_large_object_size * MiB
        self.large_object_chunk_size = sc.s3_store_large_object_chunk_size * MiB
        self.thread_pools = sc.s3_store_thread_pools
        self._client = None

    def configure(self):
        """Check the options (glance_store's rules); raise BadStoreConfiguration."""
        self._read_options()
        sc = self.store_conf
        for name in ("s3_store_host", "s3_store_access_key", "s3_store_secret_key",
                     "s3_store_bucket"):
            if not getattr(sc, name):
                raise exceptions.BadStoreConfiguration(
                    store_name="s3", reason="Could not find %s in configuration options."
                                            % name)
        if sc.s3_store_large_object_chunk_size < DEFAULT_LARGE_OBJECT_MIN_CHUNK_SIZE:
            raise exceptions.BadStoreConfiguration(
                store_name="s3", reason="s3_store_large_object_chunk_size must be at "
                                        "least %d MB." % DEFAULT_LARGE_OBJECT_MIN_CHUNK_SIZE)
        if self.thread_pools <= 0:
            raise exceptions.BadStoreConfiguration(
                store_name="s3", reason="s3_store_thread_pools must be a positive "
                                        "integer. %s" % self.thread_pools)

    def properties(self):
        """Return the properties shown by ``GET /v2/info/stores/detail``."""
        return {"s3_store_large_object_size": self.large_object_size,
                "s3_store_large_object_chunk_size": self.large_object_chunk_size,
                "s3_store_thread_pools": self.thread_pools}

    def owns(self, url):
        """Return True for a location on this store's host."""
        try:
            _, host, _, _ = parse_location(url)
        except exceptions.BadStoreUri:
            return False
        return host == self.full_s3_host.split("://", 1)[1].strip("/")

    def location_for(self, image_id):
        """Return the URL a new image ``image_id`` gets."""
        host = self.full_s3_host.split("://", 1)[1].strip("/")
        return "%s://%s/%s/%s" % (self.scheme, host, self.bucket, image_id)

    @property
    def client(self):
        """The boto3 S3 client of this store (thread-safe, made once)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self):
        sc = self.store_conf
        if sc.s3_store_enable_data_integrity_protection:
            request_checksum = sc.s3_store_request_checksum_calculation
            response_checksum = sc.s3_store_response_checksum_validation
        else:
            request_checksum = response_checksum = "when_required"
        config = boto_config.Config(
            s3={"addressing_style": sc.s3_store_bucket_url_format,
                # PERF: streamed bodies cannot be hashed before sending; the TLS
                # channel (s3+https) or the part ETags protect the data.
                "payload_signing_enabled": False},
            request_checksum_calculation=request_checksum,
            response_checksum_validation=response_checksum,
            connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=max(10, self.thread_pools + 2))
        region = sc.s3_store_region_name or get_s3_location(self.s3_host) or None
        session = boto3.session.Session(aws_access_key_id=sc.s3_store_access_key,
                                        aws_secret_access_key=sc.s3_store_secret_key)
        return session.client("s3", endpoint_url=self.full_s3_host, region_name=region,
                              use_ssl=self.scheme == "s3+https",
                              verify=sc.s3_store_cacert or None, config=config)

    # --- reads -----------------------------------------------------------------

    def get(self, location, offset=0, length=None):
        """Return (iterator over the object from ``offset``, object size).

        :raises: NotFound, BadStoreUri, BackendUnavailable, AuthorizationFailure
        """
        _, _, bucket, key = parse_location(location)
        kwargs = {}
        if offset or length is not None:
            if length == 0:
                return iter(()), self.get_size(location)
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = "bytes=%d-%s" % (offset, end)
        try:
            resp = self.client.get_object(Bucket=bucket, Key=key, **kwargs)
        except boto_exc.ClientError as e:
            if code_of(e) == "InvalidRange":
                return iter(()), self.get_size(location)
            reraise(e, key)
        except ERRORS as e:
            reraise(e, key)
        total = resp.get("ContentLength", 0)
        content_range = resp.get("ContentRange") or ""
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        body = resp["Body"]
        return base.BodyIterator(body, body.iter_chunks(self.chunk_size), ERRORS, reraise,
                                 key), total

    def get_size(self, location):
        """Return the object size (HEAD).

        :raises: NotFound, BadStoreUri, BackendUnavailable, AuthorizationFailure
        """
        _, _, bucket, key = parse_location(location)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ERRORS as e:
            reraise(e, key)

    # --- delete ----------------------------------------------------------------

    def delete(self, location):
        """Delete the object and abort any unfinished multipart upload of it.

        :raises: NotFound (nothing at all was there), BadStoreUri, BackendUnavailable,
                 AuthorizationFailure
        """
        _, _, bucket, key = parse_location(location)
        client = self.client
        found = False
        try:
            try:
                client.head_object(Bucket=bucket, Key=key)
                found = True
            except boto_exc.ClientError as e:
                if code_of(e) not in NOT_FOUND_CODES:
                    raise
            if found:
                client.delete_object(Bucket=bucket, Key=key)
            found = self._abort_uploads(client, bucket, key) or found
        except ERRORS as e:
            reraise(e, key)
        if not found:
            raise exceptions.NotFound(image=key)

    @staticmethod
    def _abort_uploads(client, bucket, key):
        try:
            resp = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        except boto_exc.ClientError as e:
            if code_of(e) in NOT_FOUND_CODES:
                return False
            raise
        found = False
        for upload in resp.get("Uploads", []):
            if upload["Key"] != key:
                continue
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key,
                                              UploadId=upload["UploadId"])
                found = True
            except boto_exc.ClientError as e:
                if code_of(e) not in NOT_FOUND_CODES:
                    raise
        return found

    # --- writes ----------------------------------------------------------------

    def begin_add(self, image_id, size):
        """Return an S3Writer for ``image_id``.

        :raises: Duplicate, BackendUnavailable, AuthorizationFailure, BackendException
        """
        key = str(image_id)
        client = self.client
        try:
            self._ensure_bucket(client)
            try:
                client.head_object(Bucket=self.bucket, Key=key)
            except boto_exc.ClientError as e:
                if code_of(e) not in NOT_FOUND_CODES:
                    raise
            else:
                raise exceptions.Duplicate(image=key)
        except ERRORS as e:
            reraise(e, key)
        return S3Writer(self, key, size)

    def _ensure_bucket(self, client):
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except boto_exc.ClientError as e:
            if code_of(e) not in NOT_FOUND_CODES:
                raise
        if not self.store_conf.s3_store_create_bucket_on_put:
            raise exceptions.BackendException(
                message="The bucket %s does not exist in S3. Please set the "
                        "s3_store_create_bucket_on_put option to add bucket to S3 "
                        "automatically." % self.bucket)
        region = self.store_conf.s3_store_region_name or get_s3_location(self.s3_host)
        if region:
            client.create_bucket(Bucket=self.bucket,
                                 CreateBucketConfiguration={"LocationConstraint": region})
        else:
            client.create_bucket(Bucket=self.bucket)
