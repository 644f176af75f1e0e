"""Signed images (issue 16): ``img_signature*`` verified while the bytes stream, against a
real Barbican (tools/barbican.sh: its own venv, Keystone auth, the simple_crypto plugin).

The signer's certificate is stored in Barbican by the uploading user, as Glance's docs tell
users to do; the api reads it with the caller's token ([barbican] auth_endpoint, the
key-manager endpoint from the catalog). A good signature makes the image active; tampered
data, an unknown certificate or a malformed property is Glance 33's 400 "Signature
verification failed for image <id>: ..." with the image back in queued and no bytes left in
the store. glance-direct import and Images API v1 uploads are checked the same way.
"""
import base64
import datetime
import hashlib
import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.keystone.conftest import PASSWORD, keystone_stack

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
BARBICAN_SH = REPO_ROOT / "tools" / "barbican.sh"


@pytest.fixture(scope="session")
def barbican(keystone):
    proc = subprocess.run(["bash", str(BARBICAN_SH), "start"], capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        if "pip could not install" in proc.stderr:
            pytest.skip("tools/barbican.sh start failed: %s" % proc.stderr[-500:])
        raise RuntimeError("tools/barbican.sh start failed:\n" + proc.stderr[-3000:])
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("BARBICAN_URL="), proc.stdout
    return last.split("=", 1)[1]


@pytest.fixture(scope="module")
def signed_stack(tmp_path_factory, keystone, barbican):
    staging = tmp_path_factory.mktemp("signed-staging")
    extra = f"""
[barbican]
auth_endpoint = {keystone.url}/v3

[os_glance_staging_store]
filesystem_store_datadir = {staging}
"""
    with keystone_stack(tmp_path_factory, keystone, "signed", api_extra=extra) as running:
        yield running


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


@pytest.fixture(scope="module")
def signer(keystone, barbican):
    return Signer(keystone)


@pytest.fixture
def demo(signed_stack, keystone):
    return keystone.user(signed_stack.api_url, "demo")


def _signed_image(demo, signer, data, **override):
    return demo.create_image(name="signed-" + uuid.uuid4().hex[:8], disk_format="raw",
                             container_format="bare", **signer.properties(data, **override))


def _refused(stack, demo, image, resp, reason):
    assert resp.status_code == 400, resp.text
    assert (f"Signature verification failed for image {image['id']}: {reason}"
            in resp.text), resp.text
    shown = demo.show(image["id"])
    assert shown["status"] == "queued" and shown["checksum"] is None
    assert stack.stored_files(image["id"]) == []


def test_good_signature_goes_active(signed_stack, demo, signer):
    data = os.urandom(3 * 1024 * 1024 + 5)
    image = _signed_image(demo, signer, data)
    resp = demo.upload(image["id"], data)
    assert resp.status_code == 204, resp.text
    shown = demo.show(image["id"])
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["img_signature_certificate_uuid"] == signer.cert_uuid
    got = demo.get(f"/v2/images/{image['id']}/file")
    assert got.status_code == 200 and got.content == data


def test_tampered_data_is_refused_and_nothing_kept(signed_stack, demo, signer):
    data = bytearray(os.urandom(2 * 1024 * 1024))
    image = _signed_image(demo, signer, bytes(data))
    data[1024 * 1024] ^= 0x01
    resp = demo.upload(image["id"], bytes(data))
    _refused(signed_stack, demo, image, resp, "Signature verification failed")
    # back in queued, the same image takes the bytes its signature names
    assert demo.upload(image["id"], bytes(data[:1024 * 1024]) + bytes([data[1024 * 1024] ^ 1])
                       + bytes(data[1024 * 1024 + 1:])).status_code == 204
    assert demo.show(image["id"])["status"] == "active"


def test_unknown_certificate(signed_stack, demo, signer):
    data = os.urandom(4096)
    missing = str(uuid.uuid4())
    image = _signed_image(demo, signer, data, img_signature_certificate_uuid=missing)
    resp = demo.upload(image["id"], data)
    _refused(signed_stack, demo, image, resp,
             "Signature verification for the image failed: Certificate not found with ID: "
             + missing)


@pytest.mark.parametrize("override, reason", [
    ({"img_signature_hash_method": "SHA-1000"}, "Invalid signature hash method: SHA-1000"),
    ({"img_signature_key_type": "RSA-ZZZ"}, "Invalid signature key type: RSA-ZZZ"),
    ({"img_signature": "%%%not-base64"},
     "The signature data was not properly encoded using base64"),
    ({"img_signature_key_type": "DSA"},
     "Invalid public key type for signature key type: DSA"),
])
def test_malformed_properties(signed_stack, demo, signer, override, reason):
    data = os.urandom(4096)
    image = _signed_image(demo, signer, data, **override)
    _refused(signed_stack, demo, image, demo.upload(image["id"], data),
             "Signature verification for the image failed: " + reason)


def test_another_project_cannot_use_the_certificate(signed_stack, keystone, signer):
    """The certificate is read with the uploader's token: alt_demo cannot read demo's."""
    alt = keystone.user(signed_stack.api_url, "alt_demo")
    data = os.urandom(4096)
    image = _signed_image(alt, signer, data)
    resp = alt.upload(image["id"], data)
    assert resp.status_code == 400, resp.text
    assert f"Signature verification failed for image {image['id']}" in resp.text
    assert alt.show(image["id"])["status"] == "queued"


def _wait_task(user, image_id):
    deadline = time.monotonic() + 60
    while True:
        tasks = user.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        done = [t for t in tasks if t["status"] in ("success", "failure")]
        if done:
            return done[0]
        assert time.monotonic() < deadline, tasks
        time.sleep(0.2)


def test_glance_direct_import_checks_the_signature(signed_stack, demo, signer):
    good = os.urandom(1024 * 1024)
    bad_image = _signed_image(demo, signer, good)
    headers = {"Content-Type": "application/octet-stream"}
    assert demo.put(f"/v2/images/{bad_image['id']}/stage", data=good[:-1] + b"x",
                    headers=headers).status_code == 204
    assert demo.post(f"/v2/images/{bad_image['id']}/import",
                     json={"method": {"name": "glance-direct"}}).status_code == 202
    task = _wait_task(demo, bad_image["id"])
    # Glance's import tasks say no more than this; the api log names the cause
    assert (task["status"], task["message"]) == ("failure", "Task failed due to Internal Error")
    assert (f"Signature verification failed for image {bad_image['id']}"
            in signed_stack.log_tail("glance-api", 400))
    assert demo.show(bad_image["id"])["status"] == "queued"
    assert signed_stack.stored_files(bad_image["id"]) == []

    image = _signed_image(demo, signer, good)
    assert demo.put(f"/v2/images/{image['id']}/stage", data=good,
                    headers=headers).status_code == 204
    assert demo.post(f"/v2/images/{image['id']}/import",
                     json={"method": {"name": "glance-direct"}}).status_code == 202
    assert _wait_task(demo, image["id"])["status"] == "success"
    assert demo.show(image["id"])["status"] == "active"


def test_v1_upload_checks_the_signature(signed_stack, demo, signer):
    data = os.urandom(64 * 1024)
    headers = {"x-image-meta-name": "signed-v1", "x-image-meta-disk_format": "raw",
               "x-image-meta-container_format": "bare",
               "Content-Type": "application/octet-stream"}
    for key, value in signer.properties(data).items():
        headers["x-image-meta-property-" + key] = value
    resp = demo.post("/v1/images", data=data[:-1] + b"!", headers=headers)
    assert resp.status_code == 400, resp.text
    assert "Signature verification failed for image" in resp.text
    resp = demo.post("/v1/images", data=data, headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["image"]["status"] == "active"


def test_barbican_is_real(barbican):
    """The key manager these tests use is a running Barbican answering its versions."""
    resp = requests.get(barbican + "/", timeout=30)
    assert resp.status_code in (200, 300)
    assert "v1" in resp.text
