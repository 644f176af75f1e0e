"""The S3 store's writing side and its error mapping (see stores/s3.py).

An upload below ``s3_store_large_object_size`` streams as one PUT (its body fed through a
bounded queue, stores/streams.py); a larger one (or one of unknown size) is a multipart
upload whose parts are sent by ``s3_store_thread_pools`` threads in parallel, with at most
that many parts in memory.
"""

import logging
from concurrent import futures

from botocore import exceptions as boto_exc

from stores import base
from stores import exceptions
from stores import streams

LOG = logging.getLogger(__name__)

MAX_PART_NUM = 10000
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MAX_ATTEMPTS = 2


_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
               "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed"}
_FULL_CODES = {"EntityTooLarge", "QuotaExceeded", "InsufficientStorage"}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound"}
_UNAVAILABLE = (boto_exc.EndpointConnectionError, boto_exc.ConnectionError,
                boto_exc.ConnectTimeoutError, boto_exc.ReadTimeoutError,
                boto_exc.ConnectionClosedError, OSError)
ERRORS = (boto_exc.BotoCoreError, boto_exc.ClientError, OSError)


def code_of(e):
    return str(e.response.get("Error", {}).get("Code", ""))


def reraise(e, what):
    """Raise the stores exception for a botocore error ``e``."""
    if isinstance(e, exceptions.StoreError):
        raise e
    if isinstance(e, boto_exc.ClientError):
        code = code_of(e)
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in NOT_FOUND_CODES or status == 404:
            raise exceptions.NotFound(message="S3 could not find %s." % what) from e
        if code in _FULL_CODES or status in (413, 507):
            # NOTE: before the 403 rule: radosgw answers a quota hit with 403 QuotaExceeded.
            raise exceptions.StorageFull() from e
        if code in _AUTH_CODES or status in (401, 403) or code == "AccessDenied":
            # NOTE: a HEAD answers a bad signature with a bare 403; either way the
            # configured credentials do not give access.
            raise exceptions.AuthorizationFailure(
                message="S3 rejected the credentials for %s: %s" % (what, code)) from e
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
            raise exceptions.BackendUnavailable() from e
        raise exceptions.BackendException(message="Got error from S3: %s" % e) from e
    LOG.warning("S3 is unavailable (%s): %s", what, e)
    raise exceptions.BackendUnavailable() from e


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
        self.single = None       # the streams.QueueBody of a single PUT

    # --- single PUT ------------------------------------------------------------

    def _start_single(self):
        self.single = streams.QueueBody(self.pool, self._put_object, "S3", self.key)

    def _put_object(self, body):
        return self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body,
                                      ContentLength=self.size)

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
                self.single.put(chunk)
                return
            self.buffer += chunk
            while len(self.buffer) >= self.part_size:
                data = bytes(self.buffer[:self.part_size])
                del self.buffer[:self.part_size]
                self._send_part(data)
        except ERRORS as e:
            reraise(e, self.key)

    def commit(self):
        """Finish the upload; return (url, {})."""
        try:
            if not self.multipart:
                if self.single is None:
                    self._start_single()
                self.single.end()
                self.single.future.result(timeout=READ_TIMEOUT * MAX_ATTEMPTS)
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
        except ERRORS as e:
            reraise(e, self.key)
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
            pending.append(self.single.future)
            self.single.abort(READ_TIMEOUT)
        futures.wait(pending, timeout=READ_TIMEOUT * MAX_ATTEMPTS)
        self.pool.shutdown(wait=False)
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass
