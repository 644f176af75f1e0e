"""A store that keeps each image as an object in OpenStack Swift (single-tenant mode).

Options, location URIs and the object layout are glance_store's: an image smaller than
``swift_store_large_object_size`` is one object ``<container>/<image id>``; a larger one (or
one of unknown size) is written as segments ``<image id>-00001, -00002, ...`` in the same
container plus a Dynamic Large Object manifest ``<image id>`` (``X-Object-Manifest:
<container>/<image id>-``), so images written by real Glance are readable here and the
other way round. Locations are ``swift+config://<reference>/<container>/<id>`` when
``swift_store_config_file`` names the accounts, else ``swift+http(s)://<user>:<key>@<auth
address without scheme>/<container>/<id>`` (glance_store puts the credentials in the URI).

Data streams through in chunks (stores/swift_upload.py): each segment is sent by a helper
thread fed through a small bounded queue, so a few segments can be in flight at once (one
finishing on the server while the next streams) and memory stays at a few chunks per
thread.
"""

import configparser
import logging
import re
import threading
import urllib.parse

import swiftclient

from stores import base
from stores import config
from stores import exceptions
from stores.swift_upload import (
    ERRORS, RETRIES, STARTING_BACKOFF, TIMEOUT, SwiftWriter, delete_ignoring_404, reraise,
)

LOG = logging.getLogger(__name__)

# glance_store's "MB" for these two options is 1000 KiB ("mixed meaning"); kept so the
# segment boundaries of images written by real Glance and by this driver agree.
ONE_MB = 1000 * 1024
_SEGMENT_SUFFIX = re.compile(r"-\d{5}")


class SwiftLocation:
    """A parsed Swift location (glance_store's StoreLocation for Swift)."""

    def __init__(self, scheme, auth_address, user, key, container, obj, reference=None):
        self.scheme = scheme
        self.auth_address = auth_address
        self.user = user
        self.key = key
        self.container = container
        self.obj = obj
        self.reference = reference

    def uri(self):
        if self.reference:
            return "swift+config://%s/%s/%s" % (self.reference, self.container, self.obj)
        address = self.auth_address.split("://", 1)[-1].strip("/")
        creds = ""
        if self.user and self.key:
            creds = "%s:%s@" % (urllib.parse.quote(self.user), urllib.parse.quote(self.key))
        scheme = "swift+http" if self.auth_address.startswith("http://") else "swift+https"
        return "%s://%s%s/%s/%s" % (scheme, creds, address, self.container, self.obj)


def load_references(path):
    """Return {reference: {auth_address, user, key, ...}} from a swift accounts file.

    :raises: BadStoreConfiguration
    """
    parser = configparser.ConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise exceptions.BadStoreConfiguration(
            store_name="swift", reason="swift config file %s: %s" % (path, e)) from None
    refs = {}
    for section in parser.sections():
        ref = {k: _unquote(v) for k, v in parser.items(section)}
        if not all(ref.get(k) for k in ("auth_address", "user", "key")):
            raise exceptions.BadStoreConfiguration(
                store_name="swift",
                reason="reference %s needs auth_address, user and key" % section)
        refs[section] = ref
    return refs


def _unquote(value):
    if value and value[0] in "\"'":
        if len(value) == 1 or value[-1] != value[0]:
            raise exceptions.BadStoreConfiguration(
                store_name="swift", reason="Non-closed quote: %s" % value)
        return value[1:-1]
    return value


class SwiftStore(base.Store):
    """Images as Swift objects; segments plus a DLO manifest for large ones."""

    schemes = ("swift", "swift+http", "swift+https", "swift+config")
    type_name = "swift"
    OPTIONS = config.SWIFT_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.WRITE_ACCESS,
                              base.DRIVER_REUSABLE})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self.references = {}
        self._tokens = {}
        self._tokens_lock = threading.Lock()
        self._read_options()

    def _read_options(self):
        sc = self.store_conf
        self.container = sc.swift_store_container
        self.large_object_size = sc.swift_store_large_object_size * ONE_MB
        self.large_object_chunk_size = sc.swift_store_large_object_chunk_size * ONE_MB
        self.insecure = sc.swift_store_auth_insecure
        self.cacert = sc.swift_store_cacert
        self.os_options = {
            "region_name": sc.swift_store_region,
            "endpoint_type": sc.swift_store_endpoint_type,
            "service_type": sc.swift_store_service_type,
        }
        self.references = {}
        if sc.swift_store_config_file:
            self.references = load_references(sc.swift_store_config_file)
        elif sc.swift_store_auth_address and sc.swift_store_user and sc.swift_store_key:
            self.references = {sc.default_swift_reference: {
                "auth_address": sc.swift_store_auth_address,
                "user": sc.swift_store_user, "key": sc.swift_store_key,
                "auth_version": sc.swift_store_auth_version}}

    def configure(self):
        """Read the account of new images; raise BadStoreConfiguration if unusable."""
        sc = self.store_conf
        if sc.swift_store_multi_tenant:
            if sc.swift_store_config_file:
                raise exceptions.BadStoreConfiguration(
                    store_name="swift",
                    reason="The options 'swift_store_multi_tenant' and "
                           "'swift_store_config_file' are mutually exclusive.")
            raise exceptions.BadStoreConfiguration(
                store_name="swift", reason="multi-tenant mode is not supported")
        self._read_options()
        if sc.default_swift_reference not in self.references:
            raise exceptions.BadStoreConfiguration(
                store_name="swift",
                reason="A value for swift_store_auth_address is required.")

    def properties(self):
        """Return the properties shown by ``GET /v2/info/stores/detail``."""
        return {"container": self.container,
                "large_object_size": self.large_object_size,
                "large_object_chunk_size": self.large_object_chunk_size}

    # --- locations -------------------------------------------------------------

    def parse(self, url):
        """Return the SwiftLocation of ``url`` (glance_store's parsing rules).

        :raises: BadStoreUri
        """
        if not isinstance(url, str) or url.count("://") != 1:
            raise exceptions.BadStoreUri(uri=url)
        pieces = urllib.parse.urlsplit(url)
        scheme = pieces.scheme.lower()
        if scheme not in self.schemes:
            raise exceptions.BadStoreUri(uri=url)
        netloc, path = pieces.netloc, pieces.path.strip("/")
        if scheme == "swift+config":
            ref = self.references.get(netloc)
            if ref is None:
                raise exceptions.BadStoreUri(
                    message="Badly formed Swift URI. Credentials not found for account "
                            "reference")
            parts = path.split("/")
            if len(parts) != 2 or not all(parts):
                raise exceptions.BadStoreUri(uri=url)
            return SwiftLocation(scheme, ref["auth_address"], ref["user"], ref["key"],
                                 parts[0], parts[1], reference=netloc)
        user = key = None
        if "@" in netloc:
            creds, netloc = netloc.rsplit("@", 1)
            creds = urllib.parse.unquote(creds)
            if ":" not in creds:
                raise exceptions.BadStoreUri(
                    message="Badly formed credentials in Swift URI.")
            user, key = creds.rsplit(":", 1)
        parts = [netloc] + path.split("/")
        if len(parts) < 3 or not all(parts[-2:]):
            raise exceptions.BadStoreUri(message="Badly formed Swift URI.")
        http = "http://" if scheme == "swift+http" else "https://"
        return SwiftLocation(scheme, http + "/".join(parts[:-2]), user, key,
                             parts[-2], parts[-1])

    def owns(self, url):
        """Return True for a location of this store's account (reference) and container."""
        try:
            loc = self.parse(url)
        except exceptions.BadStoreUri:
            return False
        if loc.reference:
            return True
        ref = self.references.get(self.store_conf.default_swift_reference)
        if not ref:
            return True
        return (loc.auth_address.split("://")[-1].strip("/")
                == ref["auth_address"].split("://")[-1].strip("/"))

    def location_for(self, image_id):
        """Return the SwiftLocation a new image ``image_id`` gets."""
        name = self.store_conf.default_swift_reference
        ref = self.references.get(name)
        if ref is None:
            raise exceptions.StoreAddDisabled()
        container = self.container
        seed = self.store_conf.swift_store_multiple_containers_seed
        if seed:
            container = "%s_%s" % (container, str(image_id)[:seed])
        reference = name if self.store_conf.swift_store_config_file else None
        return SwiftLocation("swift+http", ref["auth_address"], ref["user"], ref["key"],
                             container, str(image_id), reference=reference)

    # --- connections -----------------------------------------------------------

    def connect(self, loc):
        """Return a swiftclient Connection for the account of ``loc`` (tokens cached)."""
        ref = self.references.get(loc.reference or "", {})
        version = str(ref.get("auth_version") or self.store_conf.swift_store_auth_version)
        user, os_options = loc.user, dict(self.os_options)
        if version != "1" and ":" in user:
            # Keystone: "project:user", as glance_store splits it.
            os_options["project_name"], user = user.split(":", 1)
            os_options["tenant_name"] = os_options["project_name"]
        if version == "3":
            os_options["user_domain_id"] = ref.get("user_domain_id", "default")
            os_options["project_domain_id"] = ref.get("project_domain_id", "default")
        key = (loc.auth_address, loc.user, loc.key)
        with self._tokens_lock:
            cached = self._tokens.get(key)
        endpoint = self.store_conf.swift_store_endpoint
        conn = swiftclient.Connection(
            authurl=loc.auth_address, user=user, key=loc.key, auth_version=version,
            os_options=os_options, insecure=self.insecure, cacert=self.cacert,
            ssl_compression=self.store_conf.swift_store_ssl_compression,
            retries=RETRIES, starting_backoff=STARTING_BACKOFF, max_backoff=2,
            timeout=TIMEOUT,
            preauthurl=endpoint or (cached[0] if cached else None),
            preauthtoken=cached[1] if cached else None)
        conn.cache_key = key
        return conn

    def remember(self, conn):
        """Keep the token of ``conn`` for the next connections to the same account."""
        if conn.url and conn.token:
            with self._tokens_lock:
                self._tokens[conn.cache_key] = (conn.url, conn.token)

    # --- reads -----------------------------------------------------------------

    def get(self, location, offset=0, length=None):
        """Return (iterator over the object from ``offset``, object size).

        :raises: NotFound, BadStoreUri, BackendUnavailable, AuthorizationFailure
        """
        loc = self.parse(location)
        headers = {}
        if offset or length is not None:
            if length == 0:
                return iter(()), self.get_size(location)
            end = "" if length is None else str(offset + length - 1)
            headers["Range"] = "bytes=%d-%s" % (offset, end)
        conn = self.connect(loc)
        try:
            resp_headers, body = conn.get_object(loc.container, loc.obj, headers=headers,
                                                 resp_chunk_size=self.chunk_size)
        except swiftclient.ClientException as e:
            if e.http_status == 416:  # offset at or past the end
                return iter(()), self.get_size(location)
            reraise(e, loc.obj)
        except ERRORS as e:
            reraise(e, loc.obj)
        self.remember(conn)
        total = int(resp_headers.get("content-length", 0))
        content_range = resp_headers.get("content-range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        return base.BodyIterator(body, body, ERRORS, reraise, loc.obj), total

    def get_size(self, location):
        """Return the object size (HEAD).

        :raises: NotFound, BadStoreUri, BackendUnavailable, AuthorizationFailure
        """
        loc = self.parse(location)
        conn = self.connect(loc)
        try:
            headers = conn.head_object(loc.container, loc.obj)
        except ERRORS as e:
            reraise(e, loc.obj)
        self.remember(conn)
        return int(headers.get("content-length", 0))

    # --- delete ----------------------------------------------------------------

    def delete(self, location):
        """Delete the object and all its segments, even if the manifest is missing.

        Used also to clean up after a failed upload whose partial data could not be
        removed at the time: any ``<id>-NNNNN`` segment is deleted.
        :raises: NotFound (nothing at all was there), BadStoreUri, BackendUnavailable,
                 AuthorizationFailure
        """
        loc = self.parse(location)
        conn = self.connect(loc)
        try:
            found = self._delete(conn, loc)
        except ERRORS as e:
            reraise(e, loc.obj)
        self.remember(conn)
        if not found:
            raise exceptions.NotFound(message="Swift could not find image at URI.")

    def _delete(self, conn, loc):
        found = False
        try:
            headers = conn.head_object(loc.container, loc.obj)
        except swiftclient.ClientException as e:
            if e.http_status != 404:
                raise
            headers = None
        if headers is not None:
            found = True
            if str(headers.get("x-static-large-object", "")).lower() == "true":
                conn.delete_object(loc.container, loc.obj,
                                   query_string="multipart-manifest=delete")
            else:
                manifest = headers.get("x-object-manifest")
                if manifest and manifest != "%s/%s-" % (loc.container, loc.obj):
                    seg_container, prefix = manifest.split("/", 1)
                    self._delete_segments(conn, seg_container, prefix, loose=True)
                delete_ignoring_404(conn, loc.container, loc.obj)
        # Segments of ours: of this manifest, or left by a failed upload.
        found = self._delete_segments(conn, loc.container, loc.obj + "-") or found
        return found

    @staticmethod
    def _delete_segments(conn, container, prefix, loose=False, first=1):
        """Delete ``prefix``NNNNN segments (any name under ``prefix`` when ``loose``)."""
        try:
            _, listing = conn.get_container(container, prefix=prefix, full_listing=True)
        except swiftclient.ClientException as e:
            if e.http_status == 404:
                return False
            raise
        found = False
        for entry in listing:
            suffix = entry["name"][len(prefix) - 1:]
            if loose or (_SEGMENT_SUFFIX.fullmatch(suffix) and int(suffix[1:]) >= first):
                found = delete_ignoring_404(conn, container, entry["name"]) or found
        return found

    # --- writes ----------------------------------------------------------------

    def begin_add(self, image_id, size):
        """Return a SwiftWriter for ``image_id`` (creating the container if allowed).

        :raises: BackendUnavailable, AuthorizationFailure, BackendException
        """
        loc = self.location_for(image_id)
        conn = self.connect(loc)
        try:
            self._ensure_container(conn, loc.container)
        except ERRORS as e:
            reraise(e, loc.container)
        self.remember(conn)
        segmented = size is None or size >= self.large_object_size
        return SwiftWriter(self, loc, size, segmented)

    def _ensure_container(self, conn, container):
        try:
            conn.head_container(container)
        except swiftclient.ClientException as e:
            if e.http_status != 404:
                raise
            if not self.store_conf.swift_store_create_container_on_put:
                raise exceptions.BackendException(
                    message="The container %s does not exist in Swift. Please set the "
                            "swift_store_create_container_on_put option to add container "
                            "to Swift automatically." % container) from None
            LOG.info("Creating swift container %s", container)
            conn.put_container(container)
