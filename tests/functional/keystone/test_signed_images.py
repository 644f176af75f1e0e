"""Signed images (issue 16): ``img_signature*`` verified while the bytes stream, against a
real Barbican (tools/barbican.sh: its own venv, Keystone auth, the simple_crypto plugin).

The signer's certificate is stored in Barbican by the uploading user, as Glance's docs tell
users to do; the api reads it with the caller's token ([barbican] auth_endpoint, the
key-manager endpoint from the catalog). A good signature makes the image active; tampered
data, an unknown certificate or a malformed property is Glance 33's 400 "Signature
verification failed for image <id>: ..." with the image back in queued and no bytes left in
the store. glance-direct import and Images API v1 uploads are checked the same way.
"""
import hashlib
import os
import time
import uuid

import pytest
import requests

from tests.functional.keystone.conftest import keystone_stack

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
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
