"""Format inspection of uploaded data, as Glance 33's ``ImageProxy.set_data`` does it.

Only ``bare`` containers are inspected. Each chunk the store reads is shown to
oslo.utils' format inspectors on its way through (same object, no copy); after the store
has written everything, :func:`virtual_size` decides, in Glance's order: which format
matched, whether it may carry ``disk_format``, the safety checks, and the virtual size.
"""

import logging

from oslo_utils.imageutils import format_inspector

from glance_api import exceptions

LOG = logging.getLogger(__name__)


def wrap(image, reader):
    """Return an :class:`InspectingReader` over ``reader`` for a bare image, else None."""
    if image.get('container_format') != 'bare':
        return None  # NOTE: as Glance 33, other containers are not inspected
    return InspectingReader(reader)


class InspectingReader:
    """read()-style view of ``source`` that shows every chunk to all format inspectors."""

    def __init__(self, source):
        # NOTE: InspectWrapper.read returns the very chunk object ``source`` returned
        # (the store hands it to the digest threads); the inspectors keep only the few
        # header/footer regions they need.
        self._wrapper = format_inspector.InspectWrapper(source)

    def read(self, size=-1):
        """Return the next chunk of ``source`` after the inspectors have seen it."""
        return self._wrapper.read(size)

    def finish(self):
        """Tell the inspectors the stream ended; return the oslo.utils wrapper."""
        self._wrapper.close()
        return self._wrapper


def virtual_size(reader, disk_format, image_format_conf):
    """Return the virtual size to record (None for none) for data read through ``reader``.

    ``reader`` is what :func:`wrap` returned (None: not inspected); ``image_format_conf``
    is the ``[image_format]`` group.

    :raises: exceptions.InvalidImageData (415) when the data is refused
    """
    if reader is None:
        return None
    data = reader.finish()
    require_match = image_format_conf.require_image_format_match
    size = 0
    inspector = fmt = None
    try:
        inspector = _matched(data)
        fmt = str(inspector)
        size = _size_for(inspector, fmt, disk_format)
        inspector.safety_check()
    except format_inspector.ImageFormatError as e:
        if require_match:
            raise exceptions.InvalidImageData(str(e)) from e
        LOG.warning('Image format %s did not match; unable to calculate virtual size',
                    disk_format)
    except format_inspector.SafetyCheckFailed as e:
        fatal = e.failures.keys() - set(image_format_conf.gpt_safety_checks_nonfatal)
        if disk_format in ('aki', 'ari'):
            # Kernels and ramdisks may carry an intentionally invalid MBR (Glance's rule).
            fatal.discard('mbr')
        if inspector.NAME == 'gpt' and not fatal:
            LOG.warning('Non-fatal %s', e)
        else:
            LOG.warning('Image %s %s', fmt, e)
            raise exceptions.InvalidImageData('Image failed safety checks') from e
    except Exception as e:  # noqa: BLE001 - Glance's catch-all, same answer
        LOG.error('Unable to determine stream format because: %s', e)
        if require_match:
            raise exceptions.InvalidImageData('Image format inspection failed') from e
    return size or None


def _matched(data):
    matched = {str(i): i for i in data.formats}
    if matched.keys() == {'iso', 'gpt'}:
        # A bootable-as-block ISO can legitimately have a GPT bootloader in front.
        return matched['iso']
    return data.format  # raises ImageFormatError for any other multiple match


def _size_for(inspector, fmt, disk_format):
    if fmt == disk_format:
        return inspector.virtual_size
    if fmt == 'raw' and disk_format not in format_inspector.ALL_FORMATS:
        return 0  # e.g. ami/aki/ari: not inspectable, and the data is not a known format
    if disk_format == 'raw':
        LOG.warning('Image claims raw disk_format but is actually %r', fmt)
        return inspector.actual_size  # a rich format passed off as raw: its byte count
    raise format_inspector.ImageFormatError(
        'Image disk_format %s does not match stream data %s' % (disk_format, fmt))
