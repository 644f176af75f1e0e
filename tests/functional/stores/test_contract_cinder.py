"""The store contract on the cinder driver: a real Cinder (tools/cinder.sh) whose RBD
volume driver uses the Ceph of tools/ceph.sh; volumes are attached with os-brick's RBD
connector (librbd, no kernel device)."""

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from oslo_config import cfg

from stores import exceptions
from tests.conftest import REPO_ROOT
from tests.functional.stores.contract import StoreContract, free_port, payload, read_all

# tools/cinder.sh exits with these when Cinder cannot be installed or run here at all.
CANNOT_RUN = ("pip could not install", "RabbitMQ is not reachable", "apt-get could not install",
              "cannot run here")


pytest_plugins = ["tests.functional.stores.conftest_rbd"]


@pytest.fixture(scope="session")
def cinder_url(ceph_conf):
    """Start (or reuse) the machine-wide Cinder; return its v3 URL.

    ``ceph_conf`` links the rados/rbd bindings into this venv and this process: os-brick's
    RBD connector reads and writes the volumes through them.
    """
    pytest.importorskip("os_brick", reason="os-brick is not installed (tools/cinder.sh "
                                           "installs it into the venv)")
    env = dict(os.environ, VENV=str(Path(sys.executable).parent.parent))
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "cinder.sh"), "start"],
                          capture_output=True, text=True, timeout=1200, env=env)
    if proc.returncode != 0:
        if any(text in proc.stderr for text in CANNOT_RUN):
            pytest.skip("Cinder cannot run here: " + proc.stderr.strip()[-500:])
        raise RuntimeError(f"tools/cinder.sh start failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1].split("=", 1)[1]


def make_cinder_store(url, **overrides):
    from stores.cinder import CinderStore
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-test", default_config_files=[])
    store = CinderStore(conf, "volumes")
    if url:
        conf.set_override("cinder_endpoint_template", url, "volumes")
    conf.set_override("cinder_volume_type", "ceph", "volumes")
    for name, value in overrides.items():
        conf.set_override(name, value, "volumes")
    store.configure()
    return store


class TestCinderContract(StoreContract):
    # NOTE: each add makes its own volume (glance_store): see test_duplicate_rules.
    duplicate = "separate"

    @pytest.fixture
    def store(self, cinder_url):
        return make_cinder_store(cinder_url)

    def unavailable_store(self, store):
        return make_cinder_store("http://127.0.0.1:%d/v3" % free_port(),
                                 cinder_http_retries=1)

    def bad_auth_store(self, store):
        pytest.skip("Cinder runs with noauth here")

    def test_duplicate_rules(self, store):
        """Adding the same image id twice gives two volumes, each with its own data."""
        name = str(uuid.uuid4())
        first, second = payload(1000, seed=1), payload(2000, seed=2)
        url = store.add(name, io.BytesIO(first), len(first)).url
        try:
            url2 = store.add(name, io.BytesIO(second), len(second)).url
            try:
                assert url2 != url
                assert read_all(store.get(url)[0]) == first
                assert read_all(store.get(url2)[0]) == second
            finally:
                store.delete(url2)
        finally:
            store.delete(url)


def test_location_and_volume_metadata(cinder_url):
    import requests
    store = make_cinder_store(cinder_url)
    data = payload(123457)
    image_id = str(uuid.uuid4())
    added = store.add(image_id, io.BytesIO(data), len(data))
    url = added.url
    try:
        assert url.startswith("cinder://volumes/")
        assert added.metadata == {"store": "volumes"}
        volume_id = url.rsplit("/", 1)[1]
        volume = requests.get(cinder_url + "/volumes/" + volume_id, timeout=30,
                              headers={"X-Auth-Token": "glance:glance"}).json()["volume"]
        assert volume["name"] == "image-" + image_id
        assert volume["size"] == 1 and volume["status"] == "available"
        assert volume["metadata"]["glance_image_id"] == image_id
        assert volume["metadata"]["image_size"] == str(len(data))
    finally:
        store.delete(url)
    with pytest.raises(exceptions.NotFound):
        store.get_size(url)


class _UnsizedStream:
    """``size`` bytes (a 1 MiB pattern, repeated) through read(); no length told."""

    block = payload(1024 * 1024, seed=7)

    def __init__(self, size):
        self.position, self.size = 0, size

    def read(self, n=-1):
        offset = self.position % len(self.block)
        n = len(self.block) if n is None or n < 0 else n
        n = min(n, len(self.block) - offset, self.size - self.position)
        self.position += n
        return self.block[offset:offset + n]


def test_unknown_size_upload_extends_the_volume(cinder_url):
    """As glance_store: a 1 GiB volume grows a GiB at a time while the data arrives."""
    import hashlib

    import requests
    store = make_cinder_store(cinder_url)
    size = 1024 ** 3 + 5 * 1024 * 1024 + 3
    added = store.add(str(uuid.uuid4()), _UnsizedStream(size), None)
    url = added.url
    try:
        assert added.size == size
        volume_id = url.rsplit("/", 1)[1]
        volume = requests.get(cinder_url + "/volumes/" + volume_id, timeout=30,
                              headers={"X-Auth-Token": "glance:glance"}).json()["volume"]
        assert (volume["size"], volume["status"]) == (2, "available")
        assert volume["metadata"]["image_size"] == str(size)
        assert store.get_size(url) == size
        expected, got = hashlib.md5(), hashlib.md5()
        for chunk in iter(_UnsizedStream(size).read, b""):
            expected.update(chunk)
        chunks, total = store.get(url)
        for chunk in chunks:
            got.update(chunk)
        assert total == size and got.hexdigest() == expected.hexdigest()
        # The extended part reads back too, from an offset inside the second GiB.
        tail, _ = store.get(url, offset=size - 10, length=10)
        start = (size - 10) % len(_UnsizedStream.block)
        assert read_all(tail) == (_UnsizedStream.block * 2)[start:start + 10]
    finally:
        store.delete(url)


# --- service-user mode: Keystone auth, Cinder from the catalog --------------------------

KEYSTONE_PASSWORD = "secret"   # tools/keystone.sh's accounts


@pytest.fixture(scope="session")
def cinder_keystone(cinder_url):
    """A Keystone-auth cinder-api beside the noauth one; return the Keystone URL."""
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "cinder.sh"), "keystone-api"],
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        if "keystone.sh" in proc.stderr and "venv" in proc.stderr:
            pytest.skip("Keystone cannot run here: " + proc.stderr.strip()[-500:])
        raise RuntimeError(f"tools/cinder.sh keystone-api failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    keystone = subprocess.run(["bash", str(REPO_ROOT / "tools" / "keystone.sh"), "url"],
                              capture_output=True, text=True, timeout=60)
    return keystone.stdout.strip()


def keystone_store_options(keystone_url, **overrides):
    """glance_store's service-user options for tools/keystone.sh's glance account."""
    options = {"cinder_store_auth_address": keystone_url + "/v3",
               "cinder_store_user_name": "glance",
               "cinder_store_password": KEYSTONE_PASSWORD,
               "cinder_store_project_name": "service"}
    options.update(overrides)
    return options


def _admin_volume(keystone_url, volume_id):
    """The volume as an admin of the Keystone-auth api sees it (with its project)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    admin = session.Session(auth=v3.Password(
        auth_url=keystone_url + "/v3", username="admin", password=KEYSTONE_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default"))
    return admin.get("/volumes/%s" % volume_id, headers={"OpenStack-API-Version":
                                                          "volume 3.54"},
                     endpoint_filter={"service_type": "volumev3", "interface": "public"},
                     ).json()["volume"], admin


@pytest.mark.keystone
class TestCinderKeystoneContract(TestCinderContract):
    """The contract again, the store acting as a Keystone service user (no template)."""

    @pytest.fixture
    def store(self, cinder_keystone):
        return make_cinder_store(None, **keystone_store_options(cinder_keystone))

    def unavailable_store(self, store):
        return make_cinder_store(None, cinder_http_retries=1, **keystone_store_options(
            "http://127.0.0.1:%d" % free_port()))

    def bad_auth_store(self, store):
        return make_cinder_store(None, **keystone_store_options(
            store.store_conf.cinder_store_auth_address[:-len("/v3")],
            cinder_store_password="wrong"))


@pytest.mark.keystone
def test_service_user_volumes_belong_to_its_project(cinder_keystone):
    store = make_cinder_store(None, **keystone_store_options(cinder_keystone))
    data = payload(54321, seed=3)
    url = store.add(str(uuid.uuid4()), io.BytesIO(data), len(data)).url
    try:
        assert store.api.url.startswith("http://127.0.0.1:28777/v3/")  # from the catalog
        volume, admin = _admin_volume(cinder_keystone, url.rsplit("/", 1)[1])
        service = admin.get("/projects?name=service", endpoint_filter={
            "service_type": "identity", "interface": "public"}).json()["projects"][0]
        assert volume["os-vol-tenant-attr:tenant_id"] == service["id"]
        assert read_all(store.get(url)[0]) == data
    finally:
        store.delete(url)


@pytest.mark.keystone
def test_application_credential_mode(cinder_keystone):
    """cinder_store_application_credential_id/secret instead of a password."""
    import requests
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "glance", "domain": {"name": "Default"}, "password": KEYSTONE_PASSWORD}}},
        "scope": {"project": {"name": "service", "domain": {"name": "Default"}}}}}
    resp = requests.post(cinder_keystone + "/v3/auth/tokens", json=body, timeout=60)
    token, user_id = resp.headers["X-Subject-Token"], resp.json()["token"]["user"]["id"]
    created = requests.post(
        cinder_keystone + "/v3/users/%s/application_credentials" % user_id,
        headers={"X-Auth-Token": token}, timeout=60,
        json={"application_credential": {"name": "glance-store-" + uuid.uuid4().hex[:8]}})
    assert created.status_code == 201, created.text
    credential = created.json()["application_credential"]
    try:
        store = make_cinder_store(None, **{
            "cinder_store_auth_address": cinder_keystone + "/v3",
            "cinder_store_application_credential_id": credential["id"],
            "cinder_store_application_credential_secret": credential["secret"]})
        data = payload(4321, seed=4)
        url = store.add(str(uuid.uuid4()), io.BytesIO(data), len(data)).url
        try:
            assert read_all(store.get(url)[0]) == data
        finally:
            store.delete(url)
    finally:
        requests.delete(cinder_keystone + "/v3/users/%s/application_credentials/%s"
                        % (user_id, credential["id"]), headers={"X-Auth-Token": token},
                        timeout=60)


def test_neither_template_nor_service_user_is_a_configuration_error():
    with pytest.raises(exceptions.BadStoreConfiguration):
        make_cinder_store(None)
