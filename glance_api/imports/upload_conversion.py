"""Conversion of plain uploads (``[image_conversion] convert_plain_uploads``, not a Glance
option; off by default).

``PUT /v2/images/{image_id}/file`` of a ``bare`` image whose disk_format qemu-img can read
and differs from ``[image_conversion] output_format``: the body is written to the staging
area, checked and converted exactly as the ``image_conversion`` import plugin does
(format inspection, qemu-img info checks), the image's disk_format becomes the output
format and the converted file goes through the normal upload path (hashing, inspection
again, activation). A refusal is a 415 with the plugin's reason; nothing is left in the
staging area either way.
"""

import glob
import logging
import os

from glance_api import exceptions as exc
from glance_api.imports import plugins as import_plugins
from glance_api.rules import policy
from glance_api.data import uploads
from glance_api.images.resources import get_image

LOG = logging.getLogger(__name__)

CONVERTIBLE = ('qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'raw')
CHUNK = 1 << 20


def wanted(conf, image):
    """Return True if a plain upload of ``image`` is to be converted."""
    return (conf.image_conversion.convert_plain_uploads
            and image.get('container_format') == 'bare'
            and image.get('disk_format') in CONVERTIBLE
            and image.get('disk_format') != conf.image_conversion.output_format)


class Converter:
    """The plain-upload converter the upload resource is handed (glance_api.wiring)."""

    def __init__(self, conf, staging):
        self.conf = conf
        self.staging = staging   # where the received body and its conversion are written

    def upload(self, resource, ctx, image_id, stream, content_length, declared, store_id):
        """Convert and store the body for ``resource``; False when not to be converted."""
        return upload(resource, ctx, image_id, stream, content_length, declared, store_id,
                      self.staging)


def upload(resource, ctx, image_id, stream, content_length, declared, store_id, staging):
    """Convert and store the body for ``resource`` (an ImageDataResource).

    Returns False (nothing read) when the image is not to be converted.

    :raises: what uploads.upload raises; InvalidImageData (415) when refused
    """
    conf, registry = resource.conf, resource.registry
    image = get_image(registry, ctx, image_id)
    if not wanted(conf, image):
        return False
    try:
        policy.enforce_image(resource.enforcer, ctx, 'upload_image', image)
    except exc.NotImageOwner:
        raise exc.Forbidden('Not allowed to upload image data for image %s'
                            % image_id) from None
    uploads.check_uploadable(image)
    size = uploads.parse_size(declared)
    if size is None:
        size = content_length
    source = staging.path(image_id) + '.upload'
    try:
        out = open(source, 'xb')
    except FileExistsError:
        raise exc.InvalidImageStatusTransition('saving', 'saving') from None
    try:
        with out:
            _receive(conf, stream, out, size)
        try:
            path, _values = import_plugins.convert_file(conf, source, image['disk_format'])
        except import_plugins.PluginRefused as e:
            raise exc.InvalidImageData(str(e)) from e
        _store(resource, ctx, image, path, store_id)
    finally:
        for leftover in glob.glob(glob.escape(source) + '*'):
            os.unlink(leftover)
    return True


def _receive(conf, stream, out, size):
    reader = uploads.SizeLimitedReader(stream, conf.image_size_cap)
    written = 0
    for chunk in iter(lambda: reader.read(CHUNK), b''):
        written += len(chunk)
        out.write(chunk)
    if size is not None and written != size:
        raise exc.BadRequest('Size mismatch: expected %d bytes, got %d bytes'
                             % (size, written))


def _store(resource, ctx, image, path, store_id):
    target = resource.conf.image_conversion.output_format
    registry = resource.registry
    registry.image_update(ctx, image['id'], {'disk_format': target}, from_state='queued')
    try:
        with open(path, 'rb') as data:
            uploads.upload(resource.conf, registry, resource.stores, ctx, image['id'], data,
                           None, str(os.path.getsize(path)), store_id,
                           enforcer=resource.enforcer,
                           notifier=getattr(resource, 'notifier', None),
                           signatures=getattr(resource, 'signatures', None))
    except BaseException:
        try:
            registry.image_update(ctx, image['id'], {'disk_format': image['disk_format']},
                                  from_state='queued')
        except Exception:  # noqa: BLE001 - cleanup never hides the original error
            LOG.warning('Could not restore disk_format of image %s', image['id'],
                        exc_info=True)
        raise
