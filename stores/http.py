"""A read-only store for image data served by a web server: the location is the URL."""

import logging
import re
import urllib.parse

import requests
import urllib3

from stores import base
from stores import config
from stores import exceptions
from stores import http_pinning

LOG = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# NOTE: glance_store follows only 301 and 302; 303/307/308 are as safe for a GET and
# object stores hand them out for pre-signed URLs.
REDIRECT_CODES = (301, 302, 303, 307, 308)
# (connect, read) seconds: a dead server must not hold an api worker forever.
TIMEOUT = (10, 60)
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")
_STREAM_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def _check_url(url):
    """Return ``url`` if it is a well-formed http(s) URL; raise BadStoreUri otherwise."""
    try:
        pieces = urllib.parse.urlsplit(url)
        pieces.port  # noqa: B018 - raises ValueError on a non-numeric port
    except (ValueError, TypeError, AttributeError):
        raise exceptions.BadStoreUri(uri=url) from None
    if pieces.scheme.lower() not in HttpStore.schemes or not pieces.hostname:
        raise exceptions.BadStoreUri(uri=url)
    return url


class ResponseIterator:
    """Yield a streamed response body in chunks; errors become BackendUnavailable."""

    def __init__(self, response, chunk_size, skip=0, length=None):
        self.response = response
        self._chunks = base.limit_chunks(self._read(chunk_size), skip, length)

    def _read(self, chunk_size):
        try:
            while True:
                # decode_content=False: the bytes are the image, whatever the encoding.
                chunk = self.response.raw.read(chunk_size, decode_content=False)
                if not chunk:
                    return
                yield chunk
        except _STREAM_ERRORS as e:
            LOG.warning("Reading image data from %s failed: %s", self.response.url, e)
            raise exceptions.BackendUnavailable() from e

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self):
        """Release the connection."""
        self._chunks.close()
        self.response.close()


class HttpStore(base.Store):
    """Read image data from http(s) URLs; adding and deleting are not supported."""

    schemes = ("http", "https")
    type_name = "http"
    read_only = True
    OPTIONS = config.HTTP_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.DRIVER_REUSABLE})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self.chunk_size = base.DEFAULT_CHUNK_SIZE
        self.session = requests.Session()
        # Image bytes must arrive as stored: no transparent decompression.
        self.session.headers["Accept-Encoding"] = "identity"
        self.configure()

    def configure(self):
        """Apply the TLS and proxy options to the HTTP session."""
        ca_file = self.store_conf.https_ca_certificates_file
        self.session.verify = ca_file if ca_file else not self.store_conf.https_insecure
        self.session.proxies = dict(self.store_conf.http_proxy_information or {})

    def _request(self, method, url, headers=None, accept=(), url_check=None):
        """Send ``method`` following at most MAX_REDIRECTS redirects; return the response.

        ``url_check(url)``, when given, must accept the URL and every redirect target
        (SECURITY: a fetch the caller filtered cannot be redirected elsewhere). It returns
        a false value to refuse, True to accept, or the list of IP addresses the check
        found acceptable: the request then connects only to those (DNS pinning, see
        stores.http_pinning).
        :raises: NotFound, BadStoreUri, MaxRedirectsExceeded, BackendUnavailable
        """
        url = _check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            session = self.session
            if url_check is not None:
                verdict = url_check(url)
                if not verdict:
                    raise exceptions.BadStoreUri(
                        message="Redirect to disallowed URL: %s" % url)
                if verdict is not True:
                    session = http_pinning.pinned_session(self.session, verdict)
            try:
                # NOTE: verify is passed explicitly: requests would otherwise prefer
                # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment over
                # https_ca_certificates_file.
                resp = session.request(method, url, headers=headers, stream=True,
                                       allow_redirects=False, timeout=TIMEOUT,
                                       verify=session.verify)
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema):
                raise exceptions.BadStoreUri(uri=url) from None
            except requests.RequestException as e:
                LOG.warning("Remote server %s is unavailable: %s", url, e)
                raise exceptions.BackendUnavailable() from e
            if resp.status_code < 300 or resp.status_code in accept:
                return resp
            resp.close()
            target = resp.headers.get("Location")
            if resp.status_code not in REDIRECT_CODES or not target:
                raise self._status_error(resp.status_code, url)
            url = _check_url(urllib.parse.urljoin(url, target))
        raise exceptions.MaxRedirectsExceeded(redirects=MAX_REDIRECTS)

    @staticmethod
    def _status_error(status, url):
        if status in (404, 410):
            return exceptions.NotFound(message="HTTP datastore could not find image at URI.")
        if status >= 500:
            return exceptions.BackendUnavailable()
        return exceptions.BadStoreUri(message="HTTP URL %s returned a %s status code."
                                      % (url, status))

    def get(self, location, offset=0, length=None, url_check=None):
        """Return (ResponseIterator, total size); uses a Range request when needed.

        :raises: NotFound, BadStoreUri, MaxRedirectsExceeded, BackendUnavailable
        """
        headers = None
        if offset or length is not None:
            end = "" if length is None else str(offset + max(length, 1) - 1)
            headers = {"Range": "bytes=%d-%s" % (offset, end)}
        resp = self._request("GET", location, headers=headers, accept=(416,),
                             url_check=url_check)
        if resp.status_code == 206:
            total = _range_total(resp.headers.get("Content-Range"))
            # The server already applied the range.
            return ResponseIterator(resp, self.chunk_size, 0, length), total
        if resp.status_code == 416:
            total = _range_total(resp.headers.get("Content-Range"))
            return ResponseIterator(resp, self.chunk_size, 0, 0), total
        # 200: the server ignored Range; skip and cut here.
        total = _int_header(resp.headers.get("Content-Length"))
        return ResponseIterator(resp, self.chunk_size, offset, length), total

    def get_size(self, location, url_check=None):
        """Return Content-Length from HEAD (GET if HEAD tells nothing); 0 if unknown.

        :raises: NotFound, BadStoreUri, MaxRedirectsExceeded, BackendUnavailable
        """
        try:
            resp = self._request("HEAD", location, url_check=url_check)
        except exceptions.BadStoreUri:
            # Some servers refuse HEAD (405/501) but serve GET.
            resp = None
        if resp is not None:
            resp.close()
            size = _int_header(resp.headers.get("Content-Length"))
            if size:
                return size
        resp = self._request("GET", location, url_check=url_check)
        resp.close()
        return _int_header(resp.headers.get("Content-Length"))


def _int_header(value):
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _range_total(value):
    match = _CONTENT_RANGE.match(value or "")
    if not match or match.group(3) == "*":
        return 0
    return int(match.group(3))
