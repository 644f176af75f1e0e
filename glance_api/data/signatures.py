"""Signed images: Glance's ``img_signature*`` properties checked while the bytes stream.

An image that carries all four of ``img_signature``, ``img_signature_hash_method``,
``img_signature_key_type`` and ``img_signature_certificate_uuid`` (cursive's
``should_create_verifier``) gets a verifier when its data arrives: the certificate comes from
the key manager (castellan, ``[key_manager] backend``; Barbican in production, reached as the
caller with its own token, ``[barbican] auth_endpoint``), the verifier is fed every byte beside
md5 and the secure hash, and the signature is checked before the image becomes active.

Any failure (a malformed property, an unknown or unreadable certificate, a signature that does
not match) is Glance's 400 "Signature verification failed for image <id>: <reason>"; the
upload's own clean-up then deletes what was written and the image returns to queued.

Glance hands cursive its global ``cfg.CONF``; here the key manager is built from the service's
own configuration once, at start (``Signatures(conf)`` in glance_api.wiring), and cursive's
other pieces (signature decoding, hash and key-type tables, verifier construction) are used
as they are.
"""

import logging

from glance_api import exceptions

LOG = logging.getLogger(__name__)

SIGNATURE_PROPERTIES = ('img_signature', 'img_signature_hash_method',
                        'img_signature_key_type', 'img_signature_certificate_uuid')


class SignatureFailed(exceptions.BadRequest):
    """400: the data does not carry the signature its image claims (or it cannot be checked)."""

    def __init__(self, image_id, reason):
        super().__init__('Signature verification failed for image %s: %s'
                         % (image_id, reason))


class Verifier:
    """A hashlib-like ``update`` over the data, then :meth:`check` before activation."""

    name = 'signature'

    def __init__(self, image_id, context):
        self._image_id = image_id
        self._context = context

    def update(self, chunk):
        self._context.update(chunk)

    def check(self):
        """:raises: SignatureFailed when the data does not match the signature."""
        from cryptography import exceptions as crypto_exc
        try:
            self._context.verify()
        except crypto_exc.InvalidSignature:
            raise SignatureFailed(self._image_id, 'Signature verification failed') from None
        LOG.info('Successfully verified signature for image %s', self._image_id)


class Signatures:
    """Builds the verifier of a signed image (None for an unsigned one)."""

    def __init__(self, conf):
        from castellan import key_manager   # NOTE: heavy; only the api process needs it
        self._manager = key_manager.API(conf)

    def verifier(self, ctx, image):
        """Return a :class:`Verifier` for ``image`` (an image dict), or None if unsigned.

        ``ctx`` is the caller's request context: its token reads the certificate.

        :raises: SignatureFailed (400) when the properties or the certificate are unusable
        """
        from cursive import exception as cursive_exc
        from cursive import signature_utils
        props = image.get('properties') or {}
        if not signature_utils.should_create_verifier(props):
            return None
        try:
            signature = signature_utils.get_signature(props['img_signature'])
            hash_method = signature_utils.get_hash_method(props['img_signature_hash_method'])
            key_type = signature_utils.SignatureKeyType.lookup(props['img_signature_key_type'])
            certificate = self._certificate(ctx, props['img_signature_certificate_uuid'])
            public_key = certificate.public_key()
            if not isinstance(public_key, key_type.public_key_type):
                raise cursive_exc.SignatureVerificationError(
                    reason='Invalid public key type for signature key type: %s'
                    % key_type.name)
            context = key_type.create_verifier(signature, hash_method, public_key)
        except cursive_exc.SignatureVerificationError as e:
            raise SignatureFailed(image['id'], e) from None
        if not context:
            raise SignatureFailed(image['id'], 'Error occurred while creating the verifier')
        return Verifier(image['id'], context)

    def _certificate(self, ctx, cert_uuid):
        """The X.509 certificate ``cert_uuid`` of the key manager, read as the caller.

        :raises: cursive's SignatureVerificationError, with cursive's reasons
        """
        from castellan.common import exception as km_exc
        from cryptography import x509
        from cursive import exception as cursive_exc
        from cursive import signature_utils
        try:
            cert = self._manager.get(_oslo_context(ctx), cert_uuid)
        except km_exc.ManagedObjectNotFoundError:
            raise cursive_exc.SignatureVerificationError(
                reason='Certificate not found with ID: %s' % cert_uuid) from None
        except (km_exc.CastellanException, Exception) as e:  # noqa: B014 - never a 500
            LOG.error('Unable to retrieve certificate with ID %s: %s', cert_uuid, e)
            raise cursive_exc.SignatureVerificationError(
                reason='Unable to retrieve certificate with ID: %s' % cert_uuid) from None
        if cert.format not in signature_utils.CERTIFICATE_FORMATS:
            raise cursive_exc.SignatureVerificationError(
                reason='Invalid certificate format: %s' % cert.format)
        # castellan always encodes certificates in DER
        return x509.load_der_x509_certificate(cert.get_encoded())


def _oslo_context(ctx):
    """The caller as castellan expects it: an oslo.context RequestContext with its token."""
    from oslo_context import context as oslo_context
    return oslo_context.RequestContext(auth_token=ctx.auth_token, project_id=ctx.project_id,
                                       user_id=ctx.user_id, is_admin=ctx.is_admin)
