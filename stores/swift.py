"""A store that keeps each image as an object in OpenStack Swift (single-tenant mode).

Options, location URIs and the object layout are glance_store's: an image smaller than
``swift_store_large_object_size`` is one object ``<container>/<image id>``; a larger one (or
one of unknown size) is written as segments ``<image id>-00001, -00002, ...`` in the same
container plus a Dynamic Large Object manifest ``<image id>`` (``X-Object-Manifest:
<container>/<image id>-``), so images written by real Glance are readable here and the
other way round. Locations are ``swift+config://<reference>/<container>/<id>`` when
``swift_store_config_file`` names the accounts, else ``swift+http(s)://<user>:<key>@<auth
address without scheme>/<container>/<id>`` (glance_store puts the credentials in the URI;
with an application credential it puts none and the configured one is used).

Authentication: auth version 1 (tempauth-style ``/auth/v1.0``) through swiftclient; auth
versions 3 and 2 through a keystoneauth session per account, as glance_store's connection
manager does: a password (``project:user`` and key, with the user/project domains) or a v3
application credential, the storage URL from the catalog (``swift_store_service_type``,
``swift_store_endpoint_type``, ``swift_store_region``) unless ``swift_store_endpoint`` is
set. The session keeps the token and renews it before it expires.

Data streams through in chunks (stores/swift_upload.py): each segment is sent by a helper
thread fed through a small bounded queue, so a few segments can be in flight at once (one
finishing on the server while the next streams) and memory stays at a few chunks per
thread.
"""

import logging
import re
import threading
import urllib.parse

import swiftclient

from stores import base
from stores import config
from stores import exceptions
from stores import swift_auth
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
        self._sessions = {}
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
            self.references = swift_auth.load_references(sc.swift_store_config_file,
                                                         sc.swift_store_auth_version)
            return
        # The plain options, as glance_store: an application credential if both halves
        # are set, else user and key.
        raw = {"auth_address": sc.swift_store_auth_address}
        if sc.swift_store_application_credential_id and \
                sc.swift_store_application_credential_secret:
            raw.update(application_credential_id=sc.swift_store_application_credential_id,
                       application_credential_secret=(
                           sc.swift_store_application_credential_secret),
                       project_name=sc.swift_store_project_name,
                       project_id=sc.swift_store_project_id)
        else:
            raw.update(user=sc.swift_store_user, key=sc.swift_store_key)
        ref = swift_auth.account_settings(raw, sc.swift_store_auth_version)
        if ref is not None:
            self.references = {sc.default_swift_reference: ref}

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
            return SwiftLocation(scheme, ref["auth_address"], ref.get("user"),
                                 ref.get("key"), parts[0], parts[1], reference=netloc)
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
        return SwiftLocation("swift+http", ref["auth_address"], ref.get("user"),
                             ref.get("key"), container, str(image_id), reference=reference)

    # --- connections -----------------------------------------------------------

    def account(self, loc):
        """Return the account (swift_auth.account_settings) ``loc`` is read with.

        A ``swift+config`` location uses its reference. A location with ``user:key@`` uses
        those with the auth version and domains of the default reference; one without
        credentials uses the application credential of the default reference (glance_store
        falls back to the configured one the same way).
        :raises: BadStoreUri
        """
        if loc.reference:
            return self.references[loc.reference]
        sc = self.store_conf
        default = self.references.get(sc.default_swift_reference)
        if loc.user and loc.key:
            creds = {"user": loc.user, "key": loc.key}
            ref = swift_auth.account_settings(
                dict(default or {}, auth_address=loc.auth_address, **creds),
                (default or {}).get("auth_version") or sc.swift_store_auth_version)
        elif default and default["application_credential_id"]:
            ref = dict(default)
        else:
            raise exceptions.BadStoreUri(
                message="Location is missing user:password or application credential "
                        "information.")
        ref["auth_address"] = loc.auth_address
        return ref

    def connect(self, loc):
        """Return a swiftclient Connection for the account of ``loc``.

        Auth v1 tokens are cached here; Keystone tokens by the account's session.
        :raises: BadStoreUri
        """
        ref = self.account(loc)
        version = ref["auth_version"]
        sc = self.store_conf
        common = dict(insecure=self.insecure, cacert=self.cacert,
                      ssl_compression=sc.swift_store_ssl_compression, retries=RETRIES,
                      starting_backoff=STARTING_BACKOFF, max_backoff=2, timeout=TIMEOUT)
        if version != "1":
            os_options = dict(self.os_options)
            if sc.swift_store_endpoint:
                os_options["object_storage_url"] = sc.swift_store_endpoint
            conn = swiftclient.Connection(session=self._session(ref), os_options=os_options,
                                          **common)
            conn.cache_key = None
            return conn
        key = (ref["auth_address"], ref["user"], ref["key"])
        with self._tokens_lock:
            cached = self._tokens.get(key)
        endpoint = sc.swift_store_endpoint
        conn = swiftclient.Connection(
            authurl=ref["auth_address"], user=ref["user"], key=ref["key"],
            auth_version=version, os_options=dict(self.os_options),
            preauthurl=endpoint or (cached[0] if cached else None),
            preauthtoken=cached[1] if cached else None, **common)
        conn.cache_key = key
        return conn

    def _session(self, ref):
        """Return the (cached) keystoneauth session of a Keystone account.

        :raises: BadStoreUri (a user without its project)
        """
        key = tuple(sorted(ref.items()))
        with self._tokens_lock:
            sess = self._sessions.get(key)
        if sess is not None:
            return sess
        sess = swift_auth.keystone_session(ref, self.insecure, self.cacert, TIMEOUT)
        with self._tokens_lock:
            return self._sessions.setdefault(key, sess)

    def remember(self, conn):
        """Keep the auth v1 token of ``conn`` for the next connections to the account."""
        if conn.cache_key and conn.url and conn.token:
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
