"""glance_api.data.signatures on its own: the verifier of a signed image, with the key manager
replaced by an in-memory one (the functional tests use a real Barbican)."""
import base64
import datetime
import os

import pytest
from castellan.common import exception as km_exc
from castellan.common.objects import x_509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from glance_api.data import signatures
from glance_api.web.context import RequestContext


def _cert(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


class Manager:
    def __init__(self, certs, error=None):
        self.certs, self.error, self.contexts = certs, error, []

    def get(self, context, uuid):
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        if uuid not in self.certs:
            raise km_exc.ManagedObjectNotFoundError(uuid_value=uuid)
        return x_509.X509(self.certs[uuid].public_bytes(serialization.Encoding.DER))


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
CERTS = {"rsa": _cert(RSA_KEY), "ec": _cert(EC_KEY)}
CTX = RequestContext(project_id="p1", user_id="u1", auth_token="tok")


def _signatures(manager):
    sig = signatures.Signatures.__new__(signatures.Signatures)
    sig._manager = manager
    return sig


def _image(data, cert="rsa", **override):
    if cert == "ec":
        raw = EC_KEY.sign(data, ec.ECDSA(hashes.SHA256()))
        key_type = "ECC_SECP384R1"
    else:
        raw = RSA_KEY.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                             salt_length=padding.PSS.MAX_LENGTH),
                           hashes.SHA256())
        key_type = "RSA-PSS"
    props = {"img_signature": base64.b64encode(raw).decode(),
             "img_signature_hash_method": "SHA-256", "img_signature_key_type": key_type,
             "img_signature_certificate_uuid": cert}
    props.update(override)
    return {"id": "img-1", "properties": props}


def _feed(verifier, data):
    for i in range(0, len(data), 1000):
        verifier.update(memoryview(data)[i:i + 1000])


@pytest.mark.parametrize("cert", ["rsa", "ec"])
def test_good_data_verifies(cert):
    data = os.urandom(10_000)
    manager = Manager(CERTS)
    verifier = _signatures(manager).verifier(CTX, _image(data, cert))
    _feed(verifier, data)
    verifier.check()
    # read as the caller, with the caller's token
    assert manager.contexts[0].auth_token == "tok"
    assert manager.contexts[0].project_id == "p1"


def test_tampered_data_fails():
    data = bytearray(os.urandom(10_000))
    verifier = _signatures(Manager(CERTS)).verifier(CTX, _image(bytes(data)))
    data[5] ^= 1
    _feed(verifier, bytes(data))
    with pytest.raises(signatures.SignatureFailed) as err:
        verifier.check()
    assert err.value.message == ("Signature verification failed for image img-1: "
                                 "Signature verification failed")


def test_unsigned_images_get_no_verifier():
    sig = _signatures(Manager(CERTS))
    assert sig.verifier(CTX, {"id": "x", "properties": {}}) is None
    # three of the four properties are not a signed image (cursive's rule, as Glance)
    props = _image(b"x")["properties"]
    del props["img_signature_key_type"]
    assert sig.verifier(CTX, {"id": "x", "properties": props}) is None


@pytest.mark.parametrize("manager, reason", [
    (Manager({}), "Certificate not found with ID: rsa"),
    (Manager(CERTS, km_exc.KeyManagerError("down")), "Unable to retrieve certificate with ID: rsa"),
    (Manager(CERTS, km_exc.Forbidden()), "Unable to retrieve certificate with ID: rsa"),
    (Manager(CERTS, RuntimeError("unexpected")), "Unable to retrieve certificate with ID: rsa"),
])
def test_certificate_errors_are_400s(manager, reason):
    with pytest.raises(signatures.SignatureFailed) as err:
        _signatures(manager).verifier(CTX, _image(b"data"))
    assert err.value.message == ("Signature verification failed for image img-1: Signature "
                                 "verification for the image failed: %s." % reason)
