"""Read and check the JSON bodies of registry requests, and render its answers.

The api validates user input; these schemas only keep what reaches the database well typed,
so a malformed or hostile request to the registry gets a 400 instead of a database error.
"""

import json

import falcon
import jsonschema

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    orjson = None

from glance_registry import exceptions

# NOTE: image properties are TEXT in Glance; 128 properties of 64 KiB fit well under this.
MAX_BODY = 16 * 1024 * 1024
INT32_MAX = 2 ** 31 - 1
INT64_MAX = 2 ** 63 - 1

_STR = {'type': 'string'}
_OPT_STR = {'type': ['string', 'null']}


def _opt_str(max_length):
    return {'type': ['string', 'null'], 'maxLength': max_length}


_SIZE = {'type': ['integer', 'null'], 'minimum': 0, 'maximum': INT64_MAX}
_MIN = {'type': 'integer', 'minimum': 0, 'maximum': INT32_MAX}
_STATUS = {'enum': ['queued', 'saving', 'active', 'killed', 'deleted', 'pending_delete',
                    'deactivated', 'uploading', 'importing']}
_LOCATION = {
    'type': 'object',
    'properties': {
        'id': {'type': 'integer'},
        'url': {'type': 'string', 'maxLength': 65535},
        'metadata': {'type': 'object'},
        'status': {'enum': ['active', 'pending_delete', 'deleted']},
    },
    'required': ['url'],
    'additionalProperties': False,
}

IMAGE_VALUES = {
    'type': 'object',
    'properties': {
        'id': {'type': 'string', 'minLength': 1, 'maxLength': 36},
        'name': _opt_str(255),
        'status': _STATUS,
        'visibility': {'enum': ['public', 'private', 'shared', 'community']},
        'protected': {'type': 'boolean'},
        'os_hidden': {'type': 'boolean'},
        'checksum': _opt_str(32),
        'os_hash_algo': _opt_str(64),
        'os_hash_value': _opt_str(128),
        'owner': _opt_str(255),
        'size': _SIZE,
        'virtual_size': _SIZE,
        'container_format': _opt_str(32),
        'disk_format': _opt_str(32),
        'min_ram': _MIN,
        'min_disk': _MIN,
        'created_at': _OPT_STR,
        'updated_at': _OPT_STR,
        'deleted_at': _OPT_STR,
        'deleted': {'type': 'boolean'},
        'properties': {
            'type': 'object',
            'propertyNames': {'maxLength': 255},
            'additionalProperties': {'type': ['string', 'null']},
        },
        'tags': {'type': 'array', 'items': {'type': 'string', 'maxLength': 255}},
        'locations': {'type': 'array', 'items': _LOCATION},
    },
    'additionalProperties': False,
}

IMAGE_CREATE = {
    'type': 'object',
    'properties': {'image': IMAGE_VALUES},
    'required': ['image'],
    'additionalProperties': False,
}

IMAGE_UPDATE = {
    'type': 'object',
    'properties': {
        'values': IMAGE_VALUES,
        'from_state': {'anyOf': [_STATUS, {'type': 'null'}]},
        'purge_props': {'type': 'boolean'},
    },
    'required': ['values'],
    'additionalProperties': False,
}

_OPS = frozenset(['eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte'])
_VISIBILITIES = frozenset([None, 'public', 'private', 'shared', 'community', 'all'])
_MEMBER_STATUSES = frozenset(['accepted', 'pending', 'rejected', 'all'])
_SCALARS = (str, int, float, bool, type(None))
# NOTE: what the api sends by default; the registry fills the gaps of a partial query.
SEARCH_DEFAULTS = {
    'filters': [], 'tags': [], 'visibility': None, 'member_status': 'accepted',
    'os_hidden': None, 'marker': None, 'limit': 25,
    'sort': [['created_at', 'desc'], ['id', 'desc']],
}


def _is_key(value):
    return isinstance(value, str) and 0 < len(value) <= 255


def _filter_problem(f):
    # NOTE: any string is a key: a property name no image has ('' or over 255 characters,
    # from "GET /v2/images?=x") matches nothing, as in Glance.
    if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str) and f[1] in _OPS):
        return 'filter %r is not [key, op, value]' % (f,)
    value = f[2]
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, _SCALARS) for v in values):
        return 'filter %r has a value that is not a scalar or a list of scalars' % (f,)
    if any(type(v) is int and abs(v) > INT64_MAX for v in values):
        # NOTE: no column holds it and the database refuses the parameter.
        return 'filter %r has an integer out of range' % (f,)
    return None


def _sort_problem(s):
    if not (isinstance(s, list) and len(s) == 2 and _is_key(s[0]) and s[1] in ('asc', 'desc')):
        return 'sort item %r is not [key, "asc"|"desc"]' % (s,)
    return None


def _tag_problem(t):
    # NOTE: a tag longer than any stored one (255) matches nothing; it is no error.
    return None if isinstance(t, str) else 'tag %r is not a string' % (t,)


_SCALAR_CHECKS = (
    ('visibility', lambda v: v in _VISIBILITIES, 'unknown visibility'),
    ('member_status', lambda v: v in _MEMBER_STATUSES, 'unknown member_status'),
    ('os_hidden', lambda v: isinstance(v, (bool, type(None))), 'os_hidden must be a boolean'),
    ('marker', lambda v: isinstance(v, (str, type(None))), 'marker must be a string'),
    ('limit', lambda v: type(v) is int and 0 <= v <= INT32_MAX,
     'limit must be a non-negative integer'),
)
_LIST_CHECKS = (('filters', _filter_problem), ('tags', _tag_problem), ('sort', _sort_problem))


def _search_problem(query):
    """Return what is wrong with a list query (internals §2.1), or None."""
    unknown = set(query) - set(SEARCH_DEFAULTS)
    if unknown:
        return 'unknown keys %s' % sorted(unknown)
    for name, check, problem in _SCALAR_CHECKS:
        if name in query and not check(query[name]):
            return problem
    for name, item_problem in _LIST_CHECKS:
        items = query.get(name, [])
        if not isinstance(items, list):
            return '%s must be a list' % name
        for item in items:
            problem = item_problem(item)
            if problem:
                return problem
    return None


def search_query(req):
    """Read a list query with every key of internals §2.1 filled in.

    :raises exceptions.BadRequest: not JSON or not the shape of a list query.
    """
    # PERF: checked by hand, not jsonschema: this is on every image-list (~10x faster).
    query = load(req)
    problem = _search_problem(query) if isinstance(query, dict) else 'not an object'
    if problem:
        raise exceptions.BadRequest('Invalid list query: %s' % problem)
    return {**SEARCH_DEFAULTS, **query}


MEMBER_CREATE = {
    'type': 'object',
    'properties': {
        'member': {'type': 'string', 'minLength': 1, 'maxLength': 255},
        'can_share': {'type': 'boolean'},
    },
    'required': ['member'],
    'additionalProperties': False,
}

MEMBER_UPDATE = {
    'type': 'object',
    'properties': {'status': {'enum': ['pending', 'accepted', 'rejected']}},
    'required': ['status'],
    'additionalProperties': False,
}

# One validator per schema a resource module registers at import (never built lazily).
_VALIDATORS = {}


def register(*schemas):
    """Build the validators of ``schemas`` once, for ``load(req, schema)``."""
    for schema in schemas:
        _VALIDATORS[id(schema)] = jsonschema.Draft202012Validator(schema)


register(IMAGE_CREATE, IMAGE_UPDATE, MEMBER_CREATE, MEMBER_UPDATE)


def _reject_constant(name):
    # NOTE: Python's json accepts NaN/Infinity, which no database column can hold.
    raise ValueError('%s is not valid JSON' % name)


def _finite_float(text):
    value = float(text)
    if value in (float('inf'), float('-inf')):
        raise ValueError('number %s is out of range' % text)
    return value


def _decode(raw):
    """Decode a JSON document that every column of every database can hold.

    Beyond json.loads: UTF-8 only, no lone UTF-16 surrogate in any string (json.loads makes
    one from an escape such as ``"\\ud800"``; MariaDB cannot store it), no NaN or infinity
    (``1e999`` included), no nesting deeper than the interpreter's recursion limit. Integers
    beyond 64 bits stay: a filter may compare with one; the schemas bound stored ones.
    :raises ValueError: with what is wrong.
    """
    text = raw.decode('utf-8')
    try:
        body = json.loads(text, parse_constant=_reject_constant,
                          parse_float=_finite_float)
        if '\\u' in text:
            json.dumps(body, ensure_ascii=False).encode('utf-8')
    except RecursionError:
        raise ValueError('nested too deeply') from None
    return body


def load(req, schema=None):
    """Parse the request body as JSON and check it against ``schema`` when given.

    :raises exceptions.BadRequest: unreadable, oversized, not JSON or not the schema's shape.
    """
    length = req.content_length
    if length is not None and length > MAX_BODY:
        raise exceptions.BadRequest('Request body too large (%d bytes)' % length)
    raw = req.bounded_stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise exceptions.BadRequest('Request body too large')
    try:
        body = _decode(raw)
    except ValueError as e:  # includes UnicodeDecodeError and UnicodeEncodeError
        raise exceptions.BadRequest('Malformed JSON in request body: %s' % e) from None
    if schema is None:
        return body
    error = jsonschema.exceptions.best_match(_VALIDATORS[id(schema)].iter_errors(body))
    if error is not None:
        where = '/'.join(str(p) for p in error.absolute_path) or 'body'
        raise exceptions.BadRequest('Invalid %s: %s' % (where, error.message))
    return body


def render(resp, body, status=falcon.HTTP_200):
    """Answer ``body`` as compact UTF-8 JSON."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = dumps(body)


def dumps(body):
    """Return ``body`` as compact UTF-8 JSON bytes.

    A lone UTF-16 surrogate (stored before decoding refused them) becomes U+FFFD instead of
    failing the answer.
    """
    if orjson is not None:
        # PERF: orjson is ~5x faster than json; json still takes what orjson refuses
        # (integers beyond 64 bits, lone surrogates).
        try:
            return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    text = json.dumps(body, ensure_ascii=False, separators=(',', ':'))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace').encode()
