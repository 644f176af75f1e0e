"""A store that keeps each image as an object in an S3 (or S3-compatible) bucket.

Options and location URIs are glance_store's: ``s3://<host>/<bucket>/<image id>`` (or
``s3+https://...``; glance_store no longer puts the keys in the URI, older
``s3://<access>:<secret>@<host>/...`` locations are still parsed). An image smaller than
``s3_store_large_object_size`` streams as one PUT; a larger one (or one of unknown size)
is a multipart upload whose ``s3_store_large_object_chunk_size`` parts are sent by
``s3_store_thread_pools`` threads in parallel, with at most that many parts in memory.
"""

import logging
import queue
import threading
import urllib.parse
from concurrent import futures

import boto3
from botocore import config as boto_config
from botocore import exceptions as boto_exc

from stores import base
from stores import config
from stores import exceptions

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_LARGE_OBJECT_MIN_CHUNK_SIZE = 5  # MB
MAX_PART_NUM = 10000
# (connect, read) seconds and attempts per request: a dead backend must fail promptly.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MAX_ATTEMPTS = 2
QUEUE_CHUNKS = 4
_END = object()
_ABORT = object()


_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
               "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed"}
_FULL_CODES = {"EntityTooLarge", "QuotaExceeded", "InsufficientStorage"}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound"}
_UNAVAILABLE = (boto_exc.EndpointConnectionError, boto_exc.ConnectionError,
                boto_exc.ConnectTimeoutError, boto_exc.ReadTimeoutError,
                boto_exc.ConnectionClosedError, OSError)
_ERRORS = (boto_exc.BotoCoreError, boto_exc.ClientError, OSError)


def _code(e):
    return str(e.response.get("Error", {}).get("Code", ""))


def _reraise(e, what):
    """Raise the stores exception for a botocore error ``e``."""
    if isinstance(e, exceptions.StoreError):
        raise e
    if isinstance(e, boto_exc.ClientError):
        code = _code(e)
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND_CODES or status == 404:
            raise exceptions.NotFound(message="S3 could not find %s." % what) from e
        if code in _AUTH_CODES or status in (401, 403) or code == "AccessDenied":
            # NOTE: a HEAD answers a bad signature with a bare 403; either way the
            # configured credentials do not give access.
            raise exceptions.AuthorizationFailure(
                message="S3 rejected the credentials for %s: %s" % (what, code)) from e
        if code in _FULL_CODES or status in (413, 507):
            raise exceptions.StorageFull() from e
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
            raise exceptions.BackendUnavailable() from e
        raise exceptions.BackendException(message="Got error from S3: %s" % e) from e
    LOG.warning("S3 is unavailable (%s): %s", what, e)
    raise exceptions.BackendUnavailable() from e


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


class BodyIterator:
    """Yield an S3 object body in chunks; errors become stores exceptions."""

    def __init__(self, body, chunk_size, what):
        self.body = body
        self.what = what
        self._iter = body.iter_chunks(chunk_size)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._iter)
        except StopIteration:
            self.close()
            raise
        except _ERRORS as e:
            self.close()
            _reraise(e, self.what)

    def close(self):
        """Release the connection."""
        try:
            self.body.close()
        except _ERRORS:
            pass


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
            if _code(e) == "InvalidRange":
                return iter(()), self.get_size(location)
            _reraise(e, key)
        except _ERRORS as e:
            _reraise(e, key)
        total = resp.get("ContentLength", 0)
        content_range = resp.get("ContentRange") or ""
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        return BodyIterator(resp["Body"], self.chunk_size, key), total

    def get_size(self, location):
        """Return the object size (HEAD).

        :raises: NotFound, BadStoreUri, BackendUnavailable, AuthorizationFailure
        """
        _, _, bucket, key = parse_location(location)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except _ERRORS as e:
            _reraise(e, key)

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
                if _code(e) not in _NOT_FOUND_CODES:
                    raise
            if found:
                client.delete_object(Bucket=bucket, Key=key)
            found = self._abort_uploads(client, bucket, key) or found
        except _ERRORS as e:
            _reraise(e, key)
        if not found:
            raise exceptions.NotFound(image=key)

    @staticmethod
    def _abort_uploads(client, bucket, key):
        try:
            resp = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        except boto_exc.ClientError as e:
            if _code(e) in _NOT_FOUND_CODES:
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
                if _code(e) not in _NOT_FOUND_CODES:
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
                if _code(e) not in _NOT_FOUND_CODES:
                    raise
            else:
                raise exceptions.Duplicate(image=key)
        except _ERRORS as e:
            _reraise(e, key)
        return S3Writer(self, key, size)

    def _ensure_bucket(self, client):
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except boto_exc.ClientError as e:
            if _code(e) not in _NOT_FOUND_CODES:
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


class _StreamBody:
    """A file-like PUT body fed chunk by chunk through a bounded queue."""

    def __init__(self):
        self.queue = queue.Queue(QUEUE_CHUNKS)
        self.pending = b""

    def read(self, size=-1):
        if not self.pending:
            chunk = self.queue.get()
            if chunk is _END:
                self.queue.put(_END)
                return b""
            if chunk is _ABORT:
                raise OSError("upload aborted")
            self.pending = chunk
        if size is None or size < 0 or size >= len(self.pending):
            chunk, self.pending = self.pending, b""
            return chunk
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk


class S3Writer(base.Writer):
    """One streamed PUT, or a multipart upload with parts sent in parallel."""

    def __init__(self, store, key, size):
        self.store = store
        self.client = store.client
        self.bucket = store.bucket
        self.key = key
        self.size = size
        self.location = store.location_for(key)
        self.part_size = store.large_object_chunk_size
        if size is not None and size > self.part_size * MAX_PART_NUM:
            self.part_size = -(-size // MAX_PART_NUM)
        self.multipart = size is None or size >= store.large_object_size
        self.pool = futures.ThreadPoolExecutor(
            max_workers=store.thread_pools if self.multipart else 1,
            thread_name_prefix="s3-upload")
        self.buffer = bytearray()
        self.upload_id = None
        self.parts = []          # (part number, future)
        self.body = None
        self.single = None

    # --- single PUT ------------------------------------------------------------

    def _start_single(self):
        self.body = _StreamBody()
        self.single = self.pool.submit(self.client.put_object, Bucket=self.bucket,
                                       Key=self.key, Body=self.body,
                                       ContentLength=self.size)

    def _feed(self, item):
        while True:
            if self.single.done():
                self.single.result()
                if item is _END or item is _ABORT:
                    return
                raise exceptions.BackendException(
                    message="S3 upload of %s ended early" % self.key)
            try:
                self.body.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # --- multipart -------------------------------------------------------------

    def _send_part(self, data):
        if self.upload_id is None:
            resp = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = resp["UploadId"]
        running = [f for _, f in self.parts if not f.done()]
        if len(running) >= self.store.thread_pools:
            # Bound the parts held in memory: wait for the oldest one in flight.
            futures.wait(running, return_when=futures.FIRST_COMPLETED,
                         timeout=READ_TIMEOUT * MAX_ATTEMPTS)
        for _, done in self.parts:
            if done.done():
                done.result()  # raise a failed part's error now
        number = len(self.parts) + 1
        future = self.pool.submit(self.client.upload_part, Bucket=self.bucket, Key=self.key,
                                  PartNumber=number, UploadId=self.upload_id, Body=data,
                                  ContentLength=len(data))
        self.parts.append((number, future))

    def write(self, chunk):
        """Queue ``chunk`` for the PUT, or add it to the current part.

        :raises: StorageFull, BackendUnavailable, AuthorizationFailure
        """
        try:
            if not self.multipart:
                if self.single is None:
                    self._start_single()
                self._feed(chunk)
                return
            self.buffer += chunk
            while len(self.buffer) >= self.part_size:
                data = bytes(self.buffer[:self.part_size])
                del self.buffer[:self.part_size]
                self._send_part(data)
        except _ERRORS as e:
            _reraise(e, self.key)

    def commit(self):
        """Finish the upload; return (url, {})."""
        try:
            if not self.multipart:
                if self.single is None:
                    self._start_single()
                self._feed(_END)
                self.single.result(timeout=READ_TIMEOUT * MAX_ATTEMPTS)
            elif self.upload_id is None:
                # Smaller than one part: a plain PUT of what was buffered.
                self.client.put_object(Bucket=self.bucket, Key=self.key,
                                       Body=bytes(self.buffer))
            else:
                if self.buffer:
                    self._send_part(bytes(self.buffer))
                    self.buffer = bytearray()
                parts = [{"PartNumber": n, "ETag": f.result(
                    timeout=READ_TIMEOUT * MAX_ATTEMPTS)["ETag"]} for n, f in self.parts]
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": parts})
        except futures.TimeoutError:
            raise exceptions.BackendUnavailable() from None
        except _ERRORS as e:
            _reraise(e, self.key)
        finally:
            self.pool.shutdown(wait=False)
        return self.location, {}

    def abort(self):
        """Stop the upload and remove the object or the multipart upload.

        :raises: BackendUnavailable (the partial data stays; ``delete(location)`` later)
        """
        self.buffer = bytearray()
        pending = [f for _, f in self.parts]
        if self.single is not None:
            pending.append(self.single)
            if not self.single.done():
                try:
                    self.body.queue.put(_ABORT, timeout=READ_TIMEOUT)
                except queue.Full:
                    pass
        futures.wait(pending, timeout=READ_TIMEOUT * MAX_ATTEMPTS)
        self.pool.shutdown(wait=False)
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass
