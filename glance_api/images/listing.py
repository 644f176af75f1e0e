"""GET /v2/images query parsing (Glance's rules and messages) and first/next links."""

import datetime
import re
import urllib.parse

import iso8601

from glance_api import exceptions as exc
from glance_api.web.bodies import validate_limit

SORT_KEYS = ('name', 'status', 'container_format', 'disk_format', 'size', 'id',
             'created_at', 'updated_at')
INT_COLUMNS = frozenset(('size', 'virtual_size', 'min_ram', 'min_disk'))
# The largest value each integer column holds (BIGINT or INT, as Glance's schema).
_COLUMN_MAX = {'size': 2 ** 63 - 1, 'virtual_size': 2 ** 63 - 1, 'min_ram': 2 ** 31 - 1,
               'min_disk': 2 ** 31 - 1}
_IN_OPERATOR_KEYS = ('name', 'id', 'status', 'container_format', 'disk_format')
_DATE_OPS = ('gt', 'gte', 'lt', 'lte', 'neq', 'eq')
_QUOTED_RE = re.compile(r'''
    "([^\"\\]*(?:\\.[^\"\\]*)*)",?    # a double-quoted value, comma maybe
    | ([^,]+),?                       # else any non-comma run, comma maybe
    | ,                               # a lone comma: an empty value
    ''', re.VERBOSE)


class _Params:
    """An ordered multi-dict of query parameters with WebOb's pop/get semantics."""

    def __init__(self, items):
        self.items = list(items)

    def __contains__(self, key):
        return any(k == key for k, _ in self.items)

    def pop(self, key, default=None):
        for i, (k, v) in enumerate(self.items):
            if k == key:
                del self.items[i]
                return v
        return default

    def last(self):
        return dict(self.items)


def parse_isotime(value):
    """Parse an ISO 8601 time into a naive UTC datetime (ValueError if it is not one)."""
    try:
        parsed = iso8601.parse_date(value)
        # NOTE: a time near year 1 or 9999 with an offset has no UTC equivalent.
        return parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    except (iso8601.ParseError, TypeError, OverflowError) as e:
        raise ValueError(str(e)) from None


def split_filter_op(expression):
    """Split 'op:value' (a bare ISO timestamp counts as 'eq')."""
    left, sep, right = expression.partition(':')
    if not sep:
        return 'eq', left
    try:
        parse_isotime(expression)
        return 'eq', expression
    except ValueError:
        return left, right


def _validate_quotes(value):
    open_quotes = True
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == '\\'):
            continue
        if open_quotes and i and value[i - 1] != ',':
            raise exc.BadRequest('Invalid filter value %s. There is no comma before opening '
                                 'quotation mark.' % value)
        if not open_quotes and i + 1 != len(value) and value[i + 1] != ',':
            raise exc.BadRequest('Invalid filter value %s. There is no comma after closing '
                                 'quotation mark.' % value)
        open_quotes = not open_quotes
    if not open_quotes:
        raise exc.BadRequest('Invalid filter value %s. The quote is not closed.' % value)


def split_in_values(value):
    """Split an 'in:' list on commas, honouring double quotes."""
    _validate_quotes(value)
    return [m[0] or m[1] for m in _QUOTED_RE.findall(value)]


def _bool_filter(name, value, lower=False):
    norm = value.lower() if lower else value
    if norm not in ('true', 'false'):
        raise exc.BadRequest("Invalid value '%s' for '%s' filter. Valid values are 'true' "
                             "or 'false'." % (value, name))
    return norm == 'true'


def _int_value(key, value):
    try:
        number = int(value)
    except ValueError:
        raise exc.BadRequest("Invalid value '%s' for filter '%s'." % (value, key)) from None
    if abs(number) > _COLUMN_MAX[key]:
        # NOTE: no row can hold it; the database would refuse the parameter (a 500).
        raise exc.BadRequest("Invalid value '%s' for filter '%s'." % (value, key))
    return number


def _range_filter(key, value):
    column = key[:-4]
    try:
        number = int(value)
    except ValueError:
        raise exc.BadRequest('Unable to filter on a range with a non-numeric value.') from None
    if column not in INT_COLUMNS:
        raise exc.BadRequest('Unable to filter on a range with a non-numeric value.')
    # NOTE: a bound past what the column holds means the same as the column's limit (as
    # MySQL compares it); passed as it is, the database refuses the parameter (a 500).
    limit = _COLUMN_MAX[column]
    number = max(-limit, min(limit, number))
    return [column, 'gte' if key.endswith('_min') else 'lte', number]


def _date_filter(key, value):
    op, isotime = split_filter_op(value)
    try:
        parsed = parse_isotime(isotime)
    except ValueError:
        raise exc.BadRequest('Bad "%s" query filter format. Use ISO 8601 DateTime notation.'
                             % key) from None
    if op not in _DATE_OPS:
        raise exc.BadRequest('Unable to filter on a unknown operator.')
    return [key, op, parsed.isoformat()]


def _in_filter(key, value):
    op, rest = split_filter_op(value)
    if op == 'in':
        return [key, 'in', split_in_values(rest)]
    if op == 'eq':
        return [key, 'eq', rest]
    raise exc.BadRequest("Unable to filter by unknown operator '%s'." % op)


def _one_filter(key, value):
    if key.endswith('_min') or key.endswith('_max'):
        return _range_filter(key, value)
    if key in ('created_at', 'updated_at'):
        return _date_filter(key, value)
    if key in _IN_OPERATOR_KEYS:
        return _in_filter(key, value)
    if key in INT_COLUMNS:
        return [key, 'eq', _int_value(key, value)]
    return [key, 'eq', value]


def build_filters(params):
    """Turn the remaining query params into (filters, visibility, os_hidden)."""
    flat = params.last()
    visibility = flat.pop('visibility', None) or None   # validated by parse_list_query
    flat.pop('changes-since', None)
    os_hidden = _bool_filter('os_hidden', flat.pop('os_hidden', 'false'), lower=True)
    filters = []
    if 'protected' in flat:
        filters.append(['protected', 'eq', _bool_filter('protected', flat.pop('protected'))])
    for key in ('deleted', 'deleted_at'):
        flat.pop(key, None)   # NOTE: the api always lists live images only.
    for key, value in flat.items():
        filters.append(_one_filter(key, value))
    return filters, visibility, os_hidden


def _validate_sort_key(key):
    if key not in SORT_KEYS:
        raise exc.BadRequest('Invalid sort key: %s. It must be one of the following: %s.'
                             % (key, ', '.join(SORT_KEYS)))
    return key


def _validate_sort_dir(direction):
    if direction not in ('asc', 'desc'):
        raise exc.BadRequest('Invalid sort direction: %s' % direction)
    return direction


def parse_sort(params):
    """Pop sort params (new 'sort=k:d,...' or classic sort_key/sort_dir) -> (keys, dirs)."""
    keys, dirs = [], []
    if 'sort' in params:
        if 'sort_key' in params or 'sort_dir' in params:
            raise exc.BadRequest('Old and new sorting syntax cannot be combined')
        for part in params.pop('sort').strip().split(','):
            key, _sep, direction = part.partition(':')
            keys.append(_validate_sort_key(key.strip()))
            dirs.append(_validate_sort_dir(direction.strip() if direction else 'desc'))
    else:
        while 'sort_key' in params:
            keys.append(_validate_sort_key(params.pop('sort_key').strip()))
        while 'sort_dir' in params:
            dirs.append(_validate_sort_dir(params.pop('sort_dir').strip()))
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise exc.BadRequest('Number of sort dirs does not match the number of sort keys')
    return keys or ['created_at'], dirs or ['desc']


def _sort_pairs(keys, dirs):
    default_dir = dirs[0] if len(dirs) == 1 else 'desc'
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    pairs = [[k, d] for k, d in zip(keys, dirs, strict=False)]
    for key in ('created_at', 'id'):
        if key not in keys:
            pairs.append([key, default_dir])
    return pairs


def parse_list_query(conf, query_string):
    """Validate the GET /v2/images query string; return the registry list query (§2.1)."""
    params = _Params(urllib.parse.parse_qsl(query_string, keep_blank_values=True))
    limit = params.pop('limit')
    marker = params.pop('marker')
    member_status = params.pop('member_status', 'accepted')
    tags = []
    while 'tag' in params:
        tags.append(params.pop('tag').strip())
    flat = params.last()
    visibility = flat.get('visibility')
    if visibility and visibility not in ('community', 'public', 'private', 'shared', 'all'):
        raise exc.BadRequest('Invalid visibility value: %s' % visibility)
    if flat.get('changes-since'):
        raise exc.BadRequest('The "changes-since" filter is no longer available on v2.')
    if member_status not in ('pending', 'accepted', 'rejected', 'all'):
        raise exc.BadRequest('Invalid status: %s' % member_status)
    limit = conf.limit_param_default if limit is None else validate_limit(limit)
    keys, dirs = parse_sort(params)
    filters, visibility, os_hidden = build_filters(params)
    return {
        'filters': filters, 'tags': tags, 'visibility': visibility,
        'member_status': member_status, 'os_hidden': os_hidden, 'marker': marker,
        'limit': min(conf.api_limit_max, limit), 'sort': _sort_pairs(keys, dirs),
    }


def links(query_string, next_marker=None):
    """Return (first, next) hrefs: repeated params collapse to the last, marker last."""
    params = dict(urllib.parse.parse_qsl(query_string, keep_blank_values=True))
    params.pop('marker', None)
    query = urllib.parse.urlencode(params)
    first = '/v2/images?%s' % query if query else '/v2/images'
    nxt = None
    if next_marker is not None:
        params['marker'] = next_marker
        nxt = '/v2/images?%s' % urllib.parse.urlencode(params)
    return first, nxt
