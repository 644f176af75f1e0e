"""The store contract on the Swift driver against a Swift that authenticates with Keystone.

A second proxy of the project's Swift (``tools/swift.sh keystone-proxy``: keystonemiddleware
authtoken + swift keystoneauth, accounts ``AUTH_<project id>``) and the real Keystone of
tools/keystone.sh, registered there as ``object-store``. The store acts as the glance
service user (project ``service``), as every production Glance does, configured three ways:

* a ``swift_store_config_file`` reference in the install guides' style (auth v3);
* the plain ``swift_store_*`` options;
* an application credential of user glance, created through Keystone's REST API.
"""
import contextlib
import io
import subprocess
import uuid

import pytest
import requests
import swiftclient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from stores import exceptions
from stores.swift import SwiftStore
from tests.conftest import REPO_ROOT
from tests.functional.stores.conftest import make_store, unique
from tests.functional.stores.contract import free_port, payload, read_all
from tests.functional.stores.test_contract_swift import CONTAINER, SwiftContractBase

pytestmark = pytest.mark.keystone

PASSWORD = "secret"  # tools/keystone.sh's accounts
KEYSTONE_CONTAINER = CONTAINER + "-ks"
# tools/keystone.sh / tools/swift.sh exit with these when they cannot run here at all.
CANNOT_RUN = ("pip could not install", "python3 -m venv failed", "MariaDB is not reachable")


def _run(*args, timeout=1200):
    return subprocess.run(["bash", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def swift_keystone(swift_url):
    """Start (or reuse) the Keystone-auth Swift proxy; return (keystone URL, proxy URL)."""
    proc = _run(REPO_ROOT / "tools" / "swift.sh", "keystone-proxy")
    if proc.returncode != 0:
        if any(text in proc.stderr for text in CANNOT_RUN):
            pytest.skip("Keystone-auth Swift cannot run here: " + proc.stderr.strip()[-500:])
        raise RuntimeError("tools/swift.sh keystone-proxy failed (%d):\n%s\n%s"
                           % (proc.returncode, proc.stdout, proc.stderr))
    lines = [x for x in proc.stdout.splitlines() if x.startswith("SWIFT_KEYSTONE_URL=")]
    assert lines, proc.stdout
    keystone = _run(REPO_ROOT / "tools" / "keystone.sh", "url", timeout=60)
    assert keystone.returncode == 0, keystone.stderr
    return keystone.stdout.strip(), lines[-1].split("=", 1)[1]


def login(keystone_url, user, project):
    """A keystoneauth session of one of tools/keystone.sh's accounts."""
    return ks_session.Session(auth=v3.Password(
        auth_url=keystone_url + "/v3", username=user, password=PASSWORD,
        project_name=project, user_domain_name="Default", project_domain_name="Default"),
        timeout=60)


def project_id(keystone_url, name):
    """The id of project ``name``, looked up with the admin's token."""
    admin = login(keystone_url, "admin", "admin")
    projects = admin.get("/projects?name=" + name, endpoint_filter={
        "service_type": "identity", "interface": "public"}).json()["projects"]
    assert len(projects) == 1, projects
    return projects[0]["id"]


def glance_swift(keystone_url):
    """A swiftclient connection of user glance (project service), through the catalog."""
    return swiftclient.Connection(session=login(keystone_url, "glance", "service"),
                                  retries=0)


@contextlib.contextmanager
def application_credential(keystone_url):
    """An application credential of user glance (project service): (id, secret)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "glance", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "service", "domain": {"name": "Default"}}}}}
    resp = requests.post(keystone_url + "/v3/auth/tokens", json=body, timeout=60)
    assert resp.status_code == 201, resp.text
    token, user_id = resp.headers["X-Subject-Token"], resp.json()["token"]["user"]["id"]
    base = keystone_url + "/v3/users/%s/application_credentials" % user_id
    created = requests.post(base, headers={"X-Auth-Token": token}, timeout=60, json={
        "application_credential": {"name": "glance-swift-" + uuid.uuid4().hex[:12]}})
    assert created.status_code == 201, created.text
    credential = created.json()["application_credential"]
    try:
        yield credential["id"], credential["secret"]
    finally:
        requests.delete(base + "/" + credential["id"], headers={"X-Auth-Token": token},
                        timeout=60)


@pytest.fixture(scope="module")
def credential(swift_keystone):
    """An application credential of user glance for this module's tests: (id, secret)."""
    with application_credential(swift_keystone[0]) as credential:
        yield credential


class KeystoneContractBase(SwiftContractBase):
    """The Swift contract with the Keystone-auth proxy; objects checked as user glance."""

    container = KEYSTONE_CONTAINER

    @pytest.fixture
    def store(self, swift_keystone):
        self.keystone_url, self.swift_url = swift_keystone
        return self.make(KEYSTONE_CONTAINER)

    def client(self):
        return glance_swift(self.keystone_url)

    def unavailable_store(self, store):
        return self.make(KEYSTONE_CONTAINER,
                         auth_address="http://127.0.0.1:%d/v3" % free_port())

    def url_for(self, other, url):
        loc = other.parse(url)
        if loc.reference:
            return url
        new = other.location_for(loc.obj)
        new.container = loc.container
        return new.uri()


class TestSwiftKeystoneConfigFileContract(KeystoneContractBase):
    """A ``swift_store_config_file`` reference as the install guides write it (auth v3)."""

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp_path = tmp_path

    def options(self, container, auth_address=None, key=PASSWORD):
        path = self.tmp_path / ("glance-swift-%s.conf" % unique("accounts"))
        path.write_text(
            "[ref1]\n"
            "user = service:glance\n"
            "key = %s\n"
            "user_domain_id = default\n"
            "project_domain_id = default\n"
            "auth_version = 3\n"
            "auth_address = %s\n" % (key, auth_address or self.keystone_url + "/v3"))
        return {"swift_store_config_file": str(path), "default_swift_reference": "ref1"}

    def test_location_format(self, store):
        assert store.location_for("abc").uri() == "swift+config://ref1/%s/abc" % (
            KEYSTONE_CONTAINER)


class TestSwiftKeystoneOptionsContract(KeystoneContractBase):
    """The plain ``swift_store_*`` options: locations carry the credentials."""

    def options(self, container, auth_address=None, key=PASSWORD):
        return {"swift_store_auth_version": "3",
                "swift_store_auth_address": auth_address or self.keystone_url + "/v3",
                "swift_store_user": "service:glance", "swift_store_key": key}

    def test_location_format(self, store):
        url = store.location_for("abc").uri()
        host = self.keystone_url.split("://", 1)[1]
        assert url == "swift+http://service%%3Aglance:secret@%s/v3/%s/abc" % (
            host, KEYSTONE_CONTAINER)


class TestSwiftKeystoneApplicationCredentialContract(KeystoneContractBase):
    """``swift_store_application_credential_id``/``_secret``: locations carry nothing."""

    @pytest.fixture
    def store(self, swift_keystone, credential):
        self.keystone_url, self.swift_url = swift_keystone
        self.credential = credential
        return self.make(KEYSTONE_CONTAINER)

    def options(self, container, auth_address=None, key=None):
        return {"swift_store_auth_address": auth_address or self.keystone_url + "/v3",
                "swift_store_application_credential_id": self.credential[0],
                "swift_store_application_credential_secret": key or self.credential[1]}

    def test_location_format(self, store):
        url = store.location_for("abc").uri()
        host = self.keystone_url.split("://", 1)[1]
        assert url == "swift+http://%s/v3/%s/abc" % (host, KEYSTONE_CONTAINER)


# --- where the objects land, and the other reference forms ------------------------------


def _roundtrip(store, data):
    added = store.add(str(uuid.uuid4()), io.BytesIO(data), len(data))
    url = added.url
    try:
        assert added.size == len(data)
        assert read_all(store.get(url)[0]) == data
        assert store.get_size(url) == len(data)
    finally:
        store.delete(url)
    with pytest.raises(exceptions.NotFound):
        store.get_size(url)
    return url


def test_objects_land_in_the_service_project_account(swift_keystone):
    """The image is in AUTH_<service project id>, which the admin's token cannot read."""
    keystone_url, proxy_url = swift_keystone
    store = make_store(SwiftStore, "swift1", swift_store_container=KEYSTONE_CONTAINER,
                       swift_store_create_container_on_put=True,
                       swift_store_auth_address=keystone_url + "/v3",
                       swift_store_user="service:glance", swift_store_key=PASSWORD)
    data = payload(4321, seed=7)
    image_id = str(uuid.uuid4())
    url = store.add(image_id, io.BytesIO(data), len(data)).url
    try:
        service, admin_project = (project_id(keystone_url, "service"),
                                  project_id(keystone_url, "admin"))
        path = "/v1/AUTH_%s/%s/%s" % (service, KEYSTONE_CONTAINER, image_id)
        glance_token = login(keystone_url, "glance", "service").get_token()
        resp = requests.get(proxy_url + path, headers={"X-Auth-Token": glance_token},
                            timeout=60)
        assert resp.status_code == 200 and resp.content == data
        admin_token = login(keystone_url, "admin", "admin").get_token()
        resp = requests.get(proxy_url + path, headers={"X-Auth-Token": admin_token},
                            timeout=60)
        assert resp.status_code == 403
        resp = requests.get(proxy_url + "/v1/AUTH_%s/%s/%s" % (
            admin_project, KEYSTONE_CONTAINER, image_id),
            headers={"X-Auth-Token": admin_token}, timeout=60)
        assert resp.status_code == 404
    finally:
        store.delete(url)
    resp = requests.head(proxy_url + path, headers={"X-Auth-Token": glance_token}, timeout=60)
    assert resp.status_code == 404


def test_reference_with_domain_names(swift_keystone, tmp_path):
    """``user_domain_name``/``project_domain_name`` instead of the ids."""
    keystone_url, _ = swift_keystone
    path = tmp_path / "glance-swift.conf"
    path.write_text("[ref1]\nuser = service:glance\nkey = %s\nuser_domain_name = Default\n"
                    "project_domain_name = Default\nauth_version = 3\nauth_address = %s/v3\n"
                    % (PASSWORD, keystone_url))
    store = make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                       swift_store_container=KEYSTONE_CONTAINER,
                       swift_store_create_container_on_put=True)
    _roundtrip(store, payload(1000, seed=8))
    path.write_text(path.read_text().replace("= Default", "= Nowhere"))
    bad = make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                     swift_store_container=KEYSTONE_CONTAINER)
    with pytest.raises(exceptions.AuthorizationFailure):
        bad.add(str(uuid.uuid4()), io.BytesIO(b"abc"), 3)


def test_reference_with_application_credential(swift_keystone, tmp_path):
    """A reference with ``application_credential_id``/``_secret`` (no user, no key)."""
    keystone_url, _ = swift_keystone
    with application_credential(keystone_url) as (cred_id, secret):
        path = tmp_path / "glance-swift.conf"
        path.write_text("[ref1]\napplication_credential_id = %s\n"
                        "application_credential_secret = %s\nauth_address = %s/v3\n"
                        % (cred_id, secret, keystone_url))
        store = make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                           swift_store_container=KEYSTONE_CONTAINER,
                           swift_store_create_container_on_put=True)
        url = _roundtrip(store, payload(2000, seed=9))
        assert url.startswith("swift+config://ref1/%s/" % KEYSTONE_CONTAINER)
    # The credential is deleted: Keystone refuses it (after the session's token).
    fresh = make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                       swift_store_container=KEYSTONE_CONTAINER)
    with pytest.raises(exceptions.AuthorizationFailure):
        fresh.get_size(url)


def test_reference_without_credentials_is_left_out(swift_keystone, tmp_path):
    """As glance_store: a section without a usable credential is skipped, the others work."""
    keystone_url, _ = swift_keystone
    path = tmp_path / "glance-swift.conf"
    path.write_text("[ref1]\nuser = service:glance\nkey = %s\nauth_address = %s/v3\n\n"
                    "[broken]\napplication_credential_id = only-the-id\nauth_address = %s/v3\n"
                    % (PASSWORD, keystone_url, keystone_url))
    store = make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                       swift_store_container=KEYSTONE_CONTAINER,
                       swift_store_create_container_on_put=True)
    _roundtrip(store, payload(100, seed=10))
    with pytest.raises(exceptions.BadStoreUri):
        store.get_size("swift+config://broken/%s/x" % KEYSTONE_CONTAINER)
    with pytest.raises(exceptions.BadStoreConfiguration):
        make_store(SwiftStore, "swift1", swift_store_config_file=str(path),
                   default_swift_reference="broken")


def test_user_without_project_is_a_bad_location(swift_keystone):
    """glance_store needs ``project:user`` for Keystone: a bare user is a BadStoreUri."""
    keystone_url, _ = swift_keystone
    store = make_store(SwiftStore, "swift1", swift_store_container=KEYSTONE_CONTAINER,
                       swift_store_auth_address=keystone_url + "/v3",
                       swift_store_user="glance", swift_store_key=PASSWORD)
    with pytest.raises(exceptions.BadStoreUri):
        store.get_size(store.location_for("x").uri())
