"""Images API v1's ``x-image-meta-*`` headers and JSON image (the map's §3).

Reading: the accepted core names, ``x-image-meta-property-<key>``, percent-decoding (python-
glanceclient 2.17.1 percent-encodes every name and value), strict booleans and integers,
formats from ``[image_format]``. Writing: one header per non-null core field and readable
property, ``True``/``False`` spellings, ASCII only (py3 clients read header bytes as
latin-1, so anything else is percent-encoded).
"""

import re
import urllib.parse

from glance_api import exceptions as exc
from glance_api.images.listing import parse_isotime

PREFIX = 'x-image-meta-'
PROPERTY_PREFIX = 'x-image-meta-property-'
CORE = ('id', 'name', 'status', 'size', 'virtual_size', 'disk_format', 'container_format',
        'checksum', 'min_ram', 'min_disk', 'owner', 'is_public', 'protected', 'deleted',
        'created_at', 'updated_at', 'deleted_at', 'location', 'copy_from', 'uri', 'store')
INT_FIELDS = ('size', 'min_disk', 'min_ram', 'virtual_size')
BOOL_FIELDS = ('is_public', 'protected', 'deleted')
TIME_FIELDS = ('created_at', 'updated_at', 'deleted_at')
# What a v1 answer shows, in Queens' order of its JSON image (§3.2).
SHOWN = ('id', 'name', 'status', 'size', 'virtual_size', 'disk_format', 'container_format',
         'checksum', 'min_disk', 'min_ram', 'owner', 'is_public', 'protected', 'deleted',
         'created_at', 'updated_at', 'deleted_at')
_TRUE = ('true', '1')
_FALSE = ('false', '0')
_AMI = ('aki', 'ari', 'ami')
MAX_INT = 2147483647
_UUID_RE = re.compile(r'^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$',
                      re.I)


def looks_like_uuid(value):
    """Return True when ``value`` has the shape of a UUID (Glance's is_uuid_like)."""
    return bool(value) and bool(_UUID_RE.match(value))


def _decode(text):
    """Percent-decode a header name or value read as latin-1 bytes, then read it as UTF-8.

    :raises: BadRequest when the result is no UTF-8 text.
    """
    raw = text.encode('latin-1', 'replace')
    try:
        return urllib.parse.unquote_to_bytes(raw).decode('utf-8')
    except UnicodeDecodeError:
        raise exc.BadRequest('Header values must be UTF-8 text (percent-encoded or '
                             'not).') from None


def parse_bool(name, value):
    """Return a v1 boolean header as a bool; glanceclient's literal ``None`` is False.

    SECURITY: strict, unlike Queens (anything but a true word was False): a typo such as
    ``x-image-meta-protected: ture`` is a 400, not an unprotected image.
    :raises: BadRequest
    """
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE or lowered == 'none':
        return False
    raise exc.BadRequest("Invalid value '%s' for parameter '%s': expected a boolean "
                         "(True or False)." % (value, name))


def _parse_int(name, value):
    if name == 'virtual_size' and value == 'None':
        return None
    try:
        number = int(value)
    except ValueError:
        raise exc.BadRequest("Invalid value '%s' for parameter '%s': Cannot convert image "
                             "%s '%s' to an integer." % (value, name, name, value)) from None
    if number < 0:
        raise exc.BadRequest("Invalid value '%s' for parameter '%s': Cannot be a negative "
                             "value." % (value, name))
    if name in ('min_disk', 'min_ram') and number > MAX_INT:
        raise exc.BadRequest("Failed to reserve image. Got error: '%s' value out of range, "
                             "must not exceed %d." % (name, MAX_INT))
    return number


def read(req):
    """Return (core, properties) of the request's x-image-meta-* headers.

    ``core`` maps field names to parsed values (None for an empty value); ``properties``
    maps lower-case keys to str or None.
    :raises: BadRequest (400) with Glance's messages.
    """
    core, props = {}, {}
    for raw_name, raw_value in req.headers.items():
        name = raw_name.lower()
        if not name.startswith(PREFIX):
            continue
        name, value = _decode(name), _decode(raw_value)
        if name.startswith(PROPERTY_PREFIX):
            key = name[len(PROPERTY_PREFIX):].replace('-', '_')
            if not key or len(key) > 255:
                raise exc.BadRequest('Bad header: %s' % name)
            props[key] = value or None
            continue
        field = name[len(PREFIX):].replace('-', '_')
        if field not in CORE:
            raise exc.BadRequest('Bad header: %s' % name)
        core[field] = value
    return _parse_core(core), props


def _parse_core(core):
    parsed = {}
    for field, value in core.items():
        if value == '' and field not in BOOL_FIELDS:
            if field == 'size':
                raise exc.BadRequest("Invalid value '' for parameter 'size': Cannot convert "
                                     "image size '' to an integer.")
            parsed[field] = None
        elif field in INT_FIELDS:
            parsed[field] = _parse_int(field, value)
        elif field in BOOL_FIELDS:
            parsed[field] = parse_bool(field, value)
        elif field in TIME_FIELDS:
            try:
                when = parse_isotime(value)
            except ValueError:
                when = None
            if when is None or when.year < 1900:
                raise exc.BadRequest('Invalid time format for %s.' % field)
            parsed[field] = when.isoformat()
        else:
            parsed[field] = value
    _check_lengths(parsed)
    return parsed


def _check_lengths(parsed):
    name = parsed.get('name')
    if name is not None and len(name) > 255:
        raise exc.BadRequest('Image name too long: %d' % len(name))
    checksum = parsed.get('checksum')
    if checksum is not None and len(checksum) > 32:
        raise exc.BadRequest("Invalid checksum '%s': can't exceed 32 characters" % checksum)
    if 'id' in parsed and not looks_like_uuid(parsed['id']):
        raise exc.BadRequest('Failed to reserve image. Got error: Invalid image id format')


def check_formats(conf, core):
    """Validate disk/container formats against ``[image_format]`` (Glance's rules).

    :raises: BadRequest
    """
    disk, container = core.get('disk_format'), core.get('container_format')
    if disk is not None and disk not in conf.image_format.disk_formats:
        raise exc.BadRequest("Invalid disk format '%s' for image." % disk)
    if container is not None and container not in conf.image_format.container_formats:
        raise exc.BadRequest("Invalid container format '%s' for image." % container)
    if disk in _AMI or container in _AMI:
        if disk is None:
            core['disk_format'] = container
        elif container is None:
            core['container_format'] = disk
        elif disk != container:
            raise exc.BadRequest('Invalid mix of disk and container formats. When setting a '
                                 "disk or container format to one of 'aki', 'ari', or 'ami',"
                                 ' the container and disk formats must match.')


def v1_image(image, properties):
    """Return the v1 JSON image (§3.2) of a registry image dict."""
    out = {key: image.get(key) for key in SHOWN if key != 'is_public'}
    out['is_public'] = image.get('visibility') == 'public'
    out['size'] = image.get('size') or 0
    out['min_disk'] = image.get('min_disk') or 0
    out['min_ram'] = image.get('min_ram') or 0
    out['updated_at'] = image.get('updated_at') or image.get('created_at')
    out['properties'] = dict(properties)
    return out


def _ascii(value):
    return urllib.parse.quote(value, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")


def to_headers(view):
    """Return the x-image-meta-* headers of a v1 JSON image (None values omitted)."""
    headers = {}
    for key in SHOWN:
        value = view.get(key)
        if value is not None:
            headers[PREFIX + key] = _ascii(str(value))
    for key, value in view['properties'].items():
        if value is not None:
            headers[PROPERTY_PREFIX + _ascii(key.lower())] = _ascii(str(value))
    if view.get('checksum'):
        headers['ETag'] = view['checksum']
    return headers
