"""PATCH /v2/images/{id}: parsing both JSON-patch media types and checking each change."""

import re

from glance_api import exceptions as exc

MEDIA_TYPES = {
    'application/openstack-images-v2.0-json-patch': 4,
    'application/openstack-images-v2.1-json-patch': 10,
}
OPERATIONS = ('add', 'remove', 'replace')
READ_ONLY = frozenset(('created_at', 'updated_at', 'status', 'checksum', 'size',
                       'virtual_size', 'direct_url', 'self', 'file', 'schema', 'id',
                       'os_hash_algo', 'os_hash_value'))
RESERVED = frozenset(('location', 'deleted', 'deleted_at'))
RESERVED_PREFIX = 'os_glance'
_PATH_DEPTH = {'locations': {'add': 2, 'remove': 2, 'replace': 1}}


def check_media_type(content_type):
    """Return the JSON-schema draft of a PATCH media type.

    :raises: UnsupportedMediaType (415 with Accept-Patch) for any other type.
    """
    draft = MEDIA_TYPES.get((content_type or '').split(';', 1)[0].strip())
    if draft is None:
        allowed = ', '.join(sorted(MEDIA_TYPES))
        raise exc.UnsupportedMediaType('Image PATCH expects Content-Type one of: %s' % allowed,
                                       headers={'Accept-Patch': allowed})
    return draft


def _operation_d10(raw):
    op = raw.get('op')
    if op is None:
        raise exc.BadRequest('Unable to find `op` in JSON Schema change. It must be one of '
                             'the following: %s.' % ', '.join(OPERATIONS))
    if op not in OPERATIONS:
        raise exc.BadRequest('Invalid operation: `%s`. It must be one of the following: %s.'
                             % (op, ', '.join(OPERATIONS)))
    if 'path' not in raw:
        raise exc.BadRequest("Unable to find 'path' in JSON Schema change")
    return op, raw['path']


def _operation_d4(raw):
    found = [key for key in OPERATIONS if key in raw]
    if len(found) > 1:
        raise exc.BadRequest('Operation objects must contain only one member named "add", '
                             '"remove", or "replace".')
    if not found:
        raise exc.BadRequest('Operation objects must contain exactly one member named "add", '
                             '"remove", or "replace".')
    return found[0], raw[found[0]]


def _validate_pointer(pointer):
    if not isinstance(pointer, str):
        raise exc.BadRequest('Pointer `%s` does not start with "/".' % (pointer,))
    if not pointer.startswith('/'):
        raise exc.BadRequest('Pointer `%s` does not start with "/".' % pointer)
    if re.search(r'/\s*?/', pointer[1:]):
        raise exc.BadRequest('Pointer `%s` contains adjacent "/".' % pointer)
    if len(pointer) > 1 and pointer.endswith('/'):
        raise exc.BadRequest('Pointer `%s` end with "/".' % pointer)
    if pointer[1:].strip() == '/':
        raise exc.BadRequest('Pointer `%s` does not contains valid token.' % pointer)
    if re.search('~[^01]', pointer) or pointer.endswith('~'):
        raise exc.BadRequest('Pointer `%s` contains "~" not part of a recognized escape '
                             'sequence.' % pointer)


def decode_pointer(pointer):
    """Split a JSON pointer into unescaped, stripped segments."""
    _validate_pointer(pointer)
    return [part.replace('~1', '/').replace('~0', '~').strip()
            for part in pointer.lstrip('/').split('/')]


def _check_root(root):
    if root in READ_ONLY:
        raise exc.ReadOnlyAttribute(root)
    if root in RESERVED or root.startswith(RESERVED_PREFIX):
        raise exc.ReservedAttribute(root)


def _validate_value(schema, op, path, value):
    if op == 'remove':
        return
    root = path[0]
    if len(path) == 1:
        schema.validate({root: value})
    elif schema.properties.get(root, {}).get('type') == 'array':
        schema.validate({root: [value]})


def parse_changes(body, draft, schema):
    """Turn a JSON-patch body into [{'op', 'path', 'value', 'draft'}], validating each.

    :raises: BadRequest, ReadOnlyAttribute, ReservedAttribute, InvalidObject.
    """
    if not isinstance(body, list):
        raise exc.BadRequest('Request body must be a JSON array of operation objects.')
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise exc.BadRequest('Operations must be JSON objects.')
        op, pointer = _operation_d10(raw) if draft == 10 else _operation_d4(raw)
        path = decode_pointer(pointer)
        if len(path) != _PATH_DEPTH.get(path[0], {}).get(op, 1):
            raise exc.BadRequest("Invalid JSON pointer for this resource: '/%s'"
                                 % '/'.join(path))
        change = {'op': op, 'path': path, 'draft': draft}
        if op != 'remove':
            if 'value' not in raw:
                raise exc.BadRequest('Operation "%s" requires a member named "value".' % op)
            change['value'] = raw['value']
        _check_root(path[0])
        _validate_value(schema, op, path, change.get('value'))
        changes.append(change)
    return changes
