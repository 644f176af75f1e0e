"""A store that keeps each image in its own Cinder volume (glance_store's cinder driver).

The volume is created through the Cinder API, attached with os-brick and written as a
file. Only Cinder backends whose os-brick connector needs no kernel device are usable
here: RBD, whose connector hands back a librbd-backed file object.

An upload of unknown size starts with a 1 GiB volume; when the data outgrows it, the
volume is detached, extended by a GiB (``os-extend``) and attached again, as glance_store
does, so the volume ends at the smallest whole number of GiB that holds the image.

Authentication: glance_store's service-user mode (``cinder_store_auth_address`` with a
user, password and project or an application credential; Cinder found in the catalog),
or Cinder's noauth (token ``<user>:<project>``, ``cinder_endpoint_template``).
NOTE: glance_store's third mode, acting with each request's own token, is not
implemented: the store interface carries no request context.
"""

import logging
import math
import socket
import time

import requests

from stores import base
from stores import config
from stores import exceptions

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3
API_VERSION = "volume 3.54"   # attachments API with attach mode (as glance_store)


def service_user_auth(store_conf):
    """Return keystoneauth1 auth for glance_store's service-user options, or None.

    As glance_store's ``is_user_overriden``: an application credential (id, secret) or a
    user, password and project, each with ``cinder_store_auth_address``.
    """
    from keystoneauth1.identity import v3   # NOTE: only needed in this mode
    address = store_conf.cinder_store_auth_address
    if not address:
        return None
    if (store_conf.cinder_store_application_credential_id
            and store_conf.cinder_store_application_credential_secret):
        return v3.ApplicationCredential(
            auth_url=address,
            application_credential_id=store_conf.cinder_store_application_credential_id,
            application_credential_secret=(
                store_conf.cinder_store_application_credential_secret))
    if (store_conf.cinder_store_user_name and store_conf.cinder_store_password
            and store_conf.cinder_store_project_name):
        return v3.Password(
            auth_url=address, username=store_conf.cinder_store_user_name,
            password=store_conf.cinder_store_password,
            user_domain_name=store_conf.cinder_store_user_domain_name,
            project_name=store_conf.cinder_store_project_name,
            project_domain_name=store_conf.cinder_store_project_domain_name)
    return None


class CinderApi:
    """The few Cinder v3 calls the store makes, with errors as stores exceptions.

    Service-user mode (:func:`service_user_auth`): a keystoneauth1 session gets and renews
    the token, and the endpoint comes from the catalog (``cinder_catalog_info``,
    ``cinder_os_region_name``), as glance_store's cinderclient does. Otherwise noauth:
    token ``<user>:<project>`` and ``cinder_endpoint_template``.
    """

    def __init__(self, store_conf):
        self.store_conf = store_conf
        self.timeout = store_conf.cinder_state_transition_timeout
        self.retries = max(0, store_conf.cinder_http_retries)
        self.attach_attempts = store_conf.cinder_attachment_retry_attempts
        verify = (store_conf.cinder_ca_certificates_file
                  or not store_conf.cinder_api_insecure)
        self.headers = {"OpenStack-API-Version": API_VERSION}
        auth = service_user_auth(store_conf)
        if auth is not None:
            from keystoneauth1 import session as ks_session
            self.keystone = ks_session.Session(auth=auth, verify=verify)
            self.session = None
            self.url = None     # from the catalog at the first call
            return
        project = store_conf.cinder_store_project_name or "glance"
        user = store_conf.cinder_store_user_name or "glance"
        template = store_conf.cinder_endpoint_template or ""
        self.url = template % {"tenant": project, "project_id": project}
        self.keystone = None
        self.session = requests.Session()
        self.session.headers.update(dict(self.headers, **{
            "X-Auth-Token": "%s:%s" % (user, project)}))
        self.session.verify = verify

    @property
    def service_user(self):
        """True when calls authenticate as the configured Keystone service user."""
        return self.keystone is not None

    def _endpoint(self):
        """Return the Cinder URL (from the catalog in service-user mode).

        :raises: AuthorizationFailure, BackendUnavailable, BadStoreConfiguration
        """
        if self.url:
            return self.url
        from keystoneauth1 import exceptions as ks_exc
        service_type, service_name, interface = (
            self.store_conf.cinder_catalog_info.split(":") + ["", ""])[:3]
        try:
            url = self.keystone.get_endpoint(
                service_type=service_type, service_name=service_name or None,
                interface=interface.replace("URL", "") or "public",
                region_name=self.store_conf.cinder_os_region_name)
        except ks_exc.Unauthorized as e:
            raise exceptions.AuthorizationFailure(
                message="Keystone refused the cinder store's credentials: %s" % e) from e
        except ks_exc.ClientException as e:
            raise exceptions.BackendUnavailable(
                message="Keystone is unreachable: %s" % e) from e
        if not url:
            raise exceptions.BadStoreConfiguration(
                store_name="cinder", reason="Failed to find Cinder from a service catalog.")
        self.url = url.rstrip("/")
        return self.url

    def _send(self, method, path, body):
        if self.keystone is None:
            return self.session.request(method, self.url + path, json=body, timeout=60)
        from keystoneauth1 import exceptions as ks_exc
        try:
            return self.keystone.request(self._endpoint() + path, method, json=body,
                                         headers=self.headers, raise_exc=False,
                                         timeout=60)
        except ks_exc.Unauthorized as e:
            raise exceptions.AuthorizationFailure(
                message="Keystone refused the cinder store's credentials: %s" % e) from e
        except ks_exc.ClientException as e:
            raise requests.ConnectionError(str(e)) from e

    def call(self, method, path, body=None):
        """Send one request; return the decoded body (or None).

        :raises: BackendUnavailable, NotFound, InUseByStore, StorageFull,
                 AuthorizationFailure
        """
        for attempt in range(self.retries + 1):
            try:
                resp = self._send(method, path, body)
                break
            except requests.RequestException as e:
                if attempt == self.retries:
                    raise exceptions.BackendUnavailable(
                        message="Cinder is unreachable: %s" % e) from e
                time.sleep(0.5)
        if resp.status_code == 401:
            raise exceptions.AuthorizationFailure(
                message="Cinder refused the credentials: %s" % resp.text[:200])
        if resp.status_code == 404:
            raise exceptions.NotFound(message="Cinder: %s %s not found" % (method, path))
        if resp.status_code == 413:
            raise exceptions.StorageFull(message="Cinder refused: %s" % resp.text[:200])
        if resp.status_code == 400 and ("in-use" in resp.text or "attached" in resp.text
                                        or (method, path) == ("POST", "/attachments")):
            # NOTE: Cinder refuses an attachment with 400 only for the volume's state
            # (attaching, or attached to another reader and not multiattach).
            raise exceptions.InUseByStore()
        if resp.status_code >= 400:
            raise exceptions.BackendUnavailable(
                message="Cinder answered %s: %s" % (resp.status_code, resp.text[:200]))
        return resp.json() if resp.content else None

    def attach(self, body):
        """Create an attachment; return it. While Cinder refuses it for the volume's
        state, try again (``cinder_attachment_retry_attempts``, waits 1, 2, 4, 8, 10 s),
        as glance_store does: an image is read by one reader at a time, and the hash of
        an image Cinder just registered reads it first.

        :raises: InUseByStore (still refused), BackendUnavailable, NotFound
        """
        for attempt in range(1, self.attach_attempts + 1):
            try:
                return self.call("POST", "/attachments", body)["attachment"]
            except exceptions.InUseByStore:
                if attempt == self.attach_attempts:
                    raise
                LOG.debug("Volume %s cannot be attached yet (attempt %d/%d)",
                          body["attachment"]["volume_uuid"], attempt, self.attach_attempts)
                time.sleep(min(2 ** (attempt - 1), 10))
        raise AssertionError("unreachable")

    def wait(self, volume_id, wanted):
        """Poll the volume until its status is ``wanted``; return the volume."""
        deadline = time.monotonic() + self.timeout
        delay = 0.1
        while True:
            volume = self.call("GET", "/volumes/%s" % volume_id)["volume"]
            if volume["status"] == wanted:
                return volume
            if volume["status"].startswith("error") or time.monotonic() > deadline:
                raise exceptions.BackendUnavailable(
                    message="Volume %s is %s, expected %s"
                    % (volume_id, volume["status"], wanted))
            time.sleep(delay)
            delay = min(delay * 2, 1)


class Attachment:
    """A volume attached through the attachments API and os-brick; ``file`` does I/O."""

    def __init__(self, api, volume_id, mode):
        from os_brick.initiator import connector   # NOTE: heavy optional SDK
        self.api, self.volume_id = api, volume_id
        body = {"attachment": {"volume_uuid": volume_id, "mode": mode,
                               "connector": _connector_properties()}}
        self.attachment = api.attach(body)
        self.file = self.device = None
        try:
            info = self.attachment["connection_info"]
            if info.get("driver_volume_type") != "rbd":
                raise exceptions.BackendUnavailable(
                    message="Cinder volume type %s needs a kernel device; only rbd "
                            "volumes are supported" % info.get("driver_volume_type"))
            self.info = info
            self.connector = connector.InitiatorConnector.factory(
                "RBD", "sudo", do_local_attach=False)
            self.device = self.connector.connect_volume(info)
            self.file = self.device["path"]
            api.call("POST", "/attachments/%s/action" % self.attachment["id"],
                     {"os-complete": None})
        except BaseException:
            self.close()
            raise

    def close(self):
        """Disconnect and delete the attachment (idempotent, never raises)."""
        try:
            if self.device is not None:
                self.connector.disconnect_volume(self.info, self.device)
        except Exception:
            LOG.exception("Could not disconnect volume %s", self.volume_id)
        self.device = self.file = None
        if self.attachment is not None:
            attachment_id, self.attachment = self.attachment["id"], None
            try:
                self.api.call("DELETE", "/attachments/%s" % attachment_id)
            except exceptions.StoreError:
                LOG.exception("Could not delete attachment %s", attachment_id)


def _connector_properties():
    host = socket.gethostname()
    return {"ip": "127.0.0.1", "host": host, "multipath": False, "enforce_multipath": False,
            "platform": "x86_64", "os_type": "linux", "do_local_attach": False}


class VolumeReader:
    """Iterate over the bytes of an attached volume; ``close`` detaches it."""

    def __init__(self, attachment, chunk_size, offset, end):
        self.attachment, self.chunk_size, self.offset, self.end = (
            attachment, chunk_size, offset, end)
        attachment.file.seek(offset)

    def __iter__(self):
        return self

    def __next__(self):
        if self.attachment is None or self.offset >= self.end:
            self.close()
            raise StopIteration
        chunk = self.attachment.file.read(min(self.chunk_size, self.end - self.offset))
        if not chunk:
            self.close()
            raise StopIteration
        self.offset += len(chunk)
        if self.offset >= self.end:
            # NOTE: detach before the last bytes leave, so a client that deletes the image
            # as soon as its download ends does not find the volume still in-use (409).
            self.close()
        return chunk

    def close(self):
        """Detach the volume (idempotent)."""
        if self.attachment is not None:
            attachment, self.attachment = self.attachment, None
            attachment.close()


class CinderWriter(base.Writer):
    """Write a new volume through its attachment; commit records the image size.

    ``growable`` (the upload's size is unknown): a chunk that does not fit extends the
    volume first (:meth:`_extend`); otherwise it is StorageFull.
    """

    def __init__(self, store, volume_id, capacity, location, growable=False):
        self.store, self.volume_id, self.capacity, self.location = (
            store, volume_id, capacity, location)
        self.growable = growable
        self.written = 0
        self.attachment = Attachment(store.api, volume_id, "rw")

    def write(self, chunk):
        """Write ``chunk`` at the end of what is written, extending the volume if allowed.

        :raises: StorageFull, BackendUnavailable
        """
        if self.written + len(chunk) > self.capacity:
            if not self.growable:
                raise exceptions.StorageFull(
                    message="Image larger than its %d GiB volume" % (self.capacity // GiB))
            self._extend(self.written + len(chunk))
        self.attachment.file.write(bytes(chunk))
        self.written += len(chunk)

    def _extend(self, needed):
        """Detach, grow the volume to hold ``needed`` bytes, attach again at the end.

        Cinder extends only detached volumes; glance_store grows 1 GiB at a time the same
        way, so the volume never ends more than a GiB larger than the image.
        """
        new_size = math.ceil(needed / GiB)
        api = self.store.api
        self.attachment.file.flush()
        self.attachment.close()
        self.attachment = None
        api.wait(self.volume_id, "available")
        LOG.debug("Extending volume %s to %d GiB", self.volume_id, new_size)
        api.call("POST", "/volumes/%s/action" % self.volume_id,
                 {"os-extend": {"new_size": new_size}})
        volume = api.wait(self.volume_id, "available")
        if volume["size"] < new_size:
            raise exceptions.StorageFull(
                message="Volume %s was not extended to %d GiB" % (self.volume_id, new_size))
        self.capacity = volume["size"] * GiB
        self.attachment = Attachment(api, self.volume_id, "rw")
        self.attachment.file.seek(self.written)

    def commit(self):
        """Flush, detach, and store the byte count in the volume metadata."""
        try:
            self.attachment.file.flush()
        finally:
            self.attachment.close()
        self.store.api.call("POST", "/volumes/%s/metadata" % self.volume_id,
                            {"metadata": {"image_size": str(self.written)}})
        return self.location, {}

    def abort(self):
        """Detach and delete the volume."""
        if self.attachment is not None:
            self.attachment.close()
        try:
            self.store.delete(self.location)
        except exceptions.NotFound:
            pass


class CinderStore(base.Store):
    """Images as Cinder volumes, location ``cinder://[<backend>/]<volume id>``."""

    schemes = ("cinder",)
    type_name = "cinder"
    OPTIONS = config.CINDER_OPTS
    CAPABILITIES = frozenset({base.READ_ACCESS, base.READ_RANDOM, base.WRITE_ACCESS})

    def __init__(self, conf, backend_group=None):
        super().__init__(conf, backend_group)
        self.api = CinderApi(self.store_conf)

    def configure(self):
        """Check the endpoint option and os-brick.

        :raises: BadStoreConfiguration
        """
        self.api = CinderApi(self.store_conf)
        if not self.api.service_user and not self.store_conf.cinder_endpoint_template:
            raise exceptions.BadStoreConfiguration(
                store_name="cinder", reason="set cinder_endpoint_template (noauth Cinder), "
                "or cinder_store_auth_address with a service user or application "
                "credential (the per-request user-token mode is not implemented)")
        try:
            import os_brick  # noqa: F401
        except ImportError:
            raise exceptions.BadStoreConfiguration(
                store_name="cinder", reason="os-brick is not installed") from None

    def _volume_id(self, location):
        if base.scheme_of(location) != "cinder":
            raise exceptions.BadStoreUri(uri=location)
        volume_id = location[len("cinder://"):].rsplit("/", 1)[-1]
        if not volume_id:
            raise exceptions.BadStoreUri(uri=location)
        return volume_id

    def get_size(self, location):
        """Return ``image_size`` from the volume metadata (else the volume size)."""
        volume = self.api.call("GET", "/volumes/%s" % self._volume_id(location))["volume"]
        return int(volume["metadata"].get("image_size", volume["size"] * GiB))

    def location_project(self, location):
        """Return the project of the volume at ``location``; "" when Cinder does not show
        it (it shows ``os-vol-tenant-attr:tenant_id`` to admins only).

        :raises: NotFound, BadStoreUri, BackendUnavailable
        """
        volume = self.api.call("GET", "/volumes/%s" % self._volume_id(location))["volume"]
        return volume.get("os-vol-tenant-attr:tenant_id") or ""

    def get(self, location, offset=0, length=None):
        """Return (VolumeReader from ``offset``, image size); the volume stays attached
        read-only until the reader is closed."""
        size = self.get_size(location)
        end = size if length is None else min(size, offset + length)
        attachment = Attachment(self.api, self._volume_id(location), "ro")
        return VolumeReader(attachment, self.chunk_size, offset, end), size

    def delete(self, location):
        """Delete the volume.

        :raises: NotFound, InUseByStore, BackendUnavailable
        """
        volume_id = self._volume_id(location)
        self.api.call("DELETE", "/volumes/%s" % volume_id)
        try:
            self.api.wait(volume_id, "deleted")
        except exceptions.NotFound:
            return

    def begin_add(self, image_id, size):
        """Create a volume of ceil(size) GiB (1 GiB when unknown) and attach it; an
        unknown-size upload extends it as it grows."""
        capacity = max(1, math.ceil((size or 0) / GiB))
        body = {"volume": {"size": capacity, "name": "image-%s" % image_id,
                           "metadata": {"glance_image_id": str(image_id),
                                        "image_size": str(size or 0)}}}
        if self.store_conf.cinder_volume_type:
            body["volume"]["volume_type"] = self.store_conf.cinder_volume_type
        volume_id = self.api.call("POST", "/volumes", body)["volume"]["id"]
        prefix = "cinder://%s/" % self.backend_group if self.backend_group else "cinder://"
        location = prefix + volume_id
        try:
            self.api.wait(volume_id, "available")
            return CinderWriter(self, volume_id, capacity * GiB, location,
                                growable=not size)
        except BaseException:
            try:
                self.delete(location)
            except exceptions.StoreError:
                LOG.exception("Could not delete volume %s", volume_id)
            raise
