"""A real Keystone (tools/keystone.sh) and stacks running `[paste_deploy] flavor = keystone`.

One Keystone serves every worker (and tempest); it is started, never stopped, by the session
fixture. The stacks' `[keystone_authtoken]` sections are the install guides' own text
(etc/install-guide/), with `controller` and `GLANCE_PASS` filled in.
"""
import base64
import contextlib
import datetime
import os
import re
import subprocess
import uuid

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.conftest import Stack, User

KEYSTONE_SH = REPO_ROOT / "tools" / "keystone.sh"
GUIDES = REPO_ROOT / "etc" / "install-guide"
PASSWORD = "secret"
# user -> project of the accounts tools/keystone.sh creates (domain Default)
ACCOUNTS = {"admin": "admin", "glance": "service", "demo": "demo", "alt_demo": "alt_demo",
            "demo_reader": "demo"}


def keystone_sh(*args, timeout=60):
    """Run tools/keystone.sh; return the finished process."""
    return subprocess.run(["bash", str(KEYSTONE_SH), *args], capture_output=True, text=True,
                          timeout=timeout)


class Keystone:
    """The running Keystone: its URL and tokens of the test accounts."""

    def __init__(self, url):
        self.url = url
        self._tokens = {}

    def issue(self, user, project=None):
        """Return a new project-scoped token of ``user``: (token, project_id, user_id)."""
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": project or ACCOUNTS[user],
                                  "domain": {"name": "Default"}}}}}
        resp = requests.post(self.url + "/v3/auth/tokens", json=body, timeout=60)
        assert resp.status_code == 201, resp.text
        token = resp.json()["token"]
        return resp.headers["X-Subject-Token"], token["project"]["id"], token["user"]["id"]

    def token(self, user):
        """Return a (cached) token of ``user``: (token, project_id, user_id)."""
        if user not in self._tokens:
            self._tokens[user] = self.issue(user)
        return self._tokens[user]

    def revoke(self, token):
        """Revoke ``token`` (DELETE /v3/auth/tokens)."""
        resp = requests.delete(self.url + "/v3/auth/tokens", timeout=60,
                               headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert resp.status_code == 204, resp.text

    def validate(self, token):
        """Return the status Keystone answers when admin validates ``token`` (200/404)."""
        resp = requests.get(self.url + "/v3/auth/tokens", timeout=60, headers={
            "X-Auth-Token": self.token("admin")[0], "X-Subject-Token": token})
        return resp.status_code

    def register(self, image_url, region="RegionOne"):
        """Point the catalog's image endpoints of ``region`` at ``image_url``."""
        proc = keystone_sh("register", image_url, region)
        assert proc.returncode == 0, proc.stderr

    def pgid(self):
        """Return the process group of the Keystone gunicorn (master and workers)."""
        proc = keystone_sh("pid")
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip())

    def user(self, base_url, name):
        """Return a TokenUser of account ``name`` against ``base_url``."""
        token, project_id, user_id = self.token(name)
        return TokenUser(base_url, token, project_id, user_id)


class TokenUser(User):
    """A caller of the api that sends only its Keystone token (no identity headers)."""

    def __init__(self, base_url, token, project_id, user_id):
        super().__init__(base_url, project_id=project_id)
        self.token = token
        self.user_id = user_id
        self.session.headers.clear()
        self.session.headers.update({"X-Auth-Token": token, "Accept": "application/json"})


@pytest.fixture(scope="session")
def keystone():
    """Start (or find) the shared Keystone; skip if its venv cannot be built."""
    proc = keystone_sh("start", timeout=1800)
    if proc.returncode != 0:
        if "pip could not install" in proc.stderr or "MariaDB is not reachable" in proc.stderr:
            pytest.skip("tools/keystone.sh start failed: %s" % proc.stderr[-500:])
        raise RuntimeError("tools/keystone.sh start failed:\n" + proc.stderr[-3000:])
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("KEYSTONE_URL="), proc.stdout
    return Keystone(last.split("=", 1)[1])


def guide_authtoken(guide, keystone_url):
    """Return the `[keystone_authtoken]` section of an install-guide file, filled in.

    `controller:5000` becomes the Keystone URL, GLANCE_PASS the glance password; the
    optional `memcached_servers` line is dropped (keystonemiddleware then caches tokens in
    process).
    """
    text = (GUIDES / guide).read_text()
    section = re.search(r"^\[keystone_authtoken\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(0)
    section = section.replace("http://controller:5000", keystone_url)
    section = section.replace("GLANCE_PASS", PASSWORD)
    return "".join(line for line in section.splitlines(True)
                   if not line.startswith("memcached_servers"))


KEYSTONE_FLAVOR = "\n[paste_deploy]\nflavor = keystone\n\n"


class KeystoneStack(Stack):
    """A glance-registry + glance-api pair with `flavor = keystone` against ``keystone``."""

    def __init__(self, root, db_url, name, keystone, workers=2, api_extra="", api_port=None,
                 registry_extra=""):
        workers_text = "\n[DEFAULT]\nworkers = %d\n" % workers
        super().__init__(
            root, db_url, name,
            api_extra=workers_text + KEYSTONE_FLAVOR
            + guide_authtoken("glance-api.conf", keystone.url) + api_extra,
            registry_extra=workers_text + KEYSTONE_FLAVOR
            + guide_authtoken("glance-registry.conf", keystone.url) + registry_extra,
            api_port=api_port)
        self.keystone = keystone


@contextlib.contextmanager
def keystone_stack(tmp_path_factory, keystone, name, workers=2, api_extra="", api_port=None,
                   registry_extra=""):
    """Run a KeystoneStack over a fresh SQLite database for the with-block.

    ``api_extra`` and ``registry_extra`` continue the `[keystone_authtoken]` section.
    """
    root = tmp_path_factory.mktemp(name)
    running = KeystoneStack(root, f"sqlite:///{root}/glance.sqlite", name, keystone,
                            workers=workers, api_extra=api_extra, api_port=api_port,
                            registry_extra=registry_extra)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def ks_stack(tmp_path_factory, keystone):
    """A keystone-flavor stack shared by the tests of a worker."""
    with keystone_stack(tmp_path_factory, keystone, "ks-stack") as running:
        yield running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the log tails of the keystone stacks a failed test used to its report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, KeystoneStack):
                report.sections.append((f"{value.name} stack logs", value.log_tail()))


def unique(prefix):
    """Return a unique image name."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def clean_env(home):
    """Return os.environ without OS_* variables, with HOME at ``home`` (no clouds.yaml)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)
    return env


def tool_value(script, command, key):
    """Run ``tools/<script> <command>``; return the value of its last ``KEY=value`` line.

    Skips the test when the tool could not install what it needs (pip), fails otherwise.
    """
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / script), command],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        if "pip could not install" in proc.stderr:
            pytest.skip("tools/%s %s failed: %s" % (script, command, proc.stderr[-500:]))
        raise RuntimeError("tools/%s %s failed:\n%s" % (script, command, proc.stderr[-3000:]))
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(key + "="), proc.stdout
    return last.split("=", 1)[1]


@pytest.fixture(scope="session")
def barbican(keystone):
    """Start (or find) the real Barbican of tools/barbican.sh; return its URL."""
    return tool_value("barbican.sh", "start", "BARBICAN_URL")


class Signer:
    """An RSA key whose self-signed certificate the demo user stored in Barbican."""

    def __init__(self, keystone):
        from barbicanclient import client
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        from keystoneauth1 import identity, session
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "image-signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(self.key, hashes.SHA256()))
        # as Glance's docs store it: the PEM file, base64-encoded
        pem = cert.public_bytes(serialization.Encoding.PEM)
        sess = session.Session(auth=identity.Password(
            auth_url=keystone.url + "/v3", username="demo", password=PASSWORD,
            project_name="demo", user_domain_name="Default", project_domain_name="Default"))
        secret = client.Client(session=sess).secrets.create(
            name="image-signer", payload=base64.b64encode(pem).decode(),
            secret_type="certificate", payload_content_type="application/octet-stream",
            payload_content_encoding="base64")
        self.cert_uuid = secret.store().rsplit("/", 1)[1]

    def properties(self, data, **override):
        """The four img_signature properties of ``data`` (RSA-PSS, SHA-256)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        signature = self.key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=padding.PSS.MAX_LENGTH),
                                  hashes.SHA256())
        props = {"img_signature": base64.b64encode(signature).decode(),
                 "img_signature_hash_method": "SHA-256",
                 "img_signature_key_type": "RSA-PSS",
                 "img_signature_certificate_uuid": self.cert_uuid}
        props.update(override)
        return props


@pytest.fixture(scope="session")
def signer(keystone, barbican):
    """A signing key whose certificate the demo user stored in Barbican."""
    return Signer(keystone)
