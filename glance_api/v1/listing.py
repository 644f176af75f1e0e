"""GET /v1/images[/detail] query parsing (the map's §2.1) into the registry list query."""

import urllib.parse

from glance_api import exceptions as exc
from glance_api.images.listing import SORT_KEYS, parse_isotime
from glance_api.rules import policy
from glance_api.v1.headers import MAX_INT, looks_like_uuid
from glance_api.web.bodies import validate_limit
from glance_registry import exceptions as reg_exc

_EQ_FILTERS = ('name', 'status', 'container_format', 'disk_format')
_INT_FILTERS = {'min_ram': ('min_ram', 'eq'), 'min_disk': ('min_disk', 'eq'),
                'size_min': ('size', 'gte'), 'size_max': ('size', 'lte')}
# NOTE: the columns' largest values (INTEGER, BIGINT): a larger filter would overflow the
# database's integer binding (a 500), so it is the same 400 as a negative one.
_INT_MAX = {'min_ram': MAX_INT, 'min_disk': MAX_INT, 'size_min': 2 ** 63 - 1,
            'size_max': 2 ** 63 - 1}
_BOOLS = {'true': True, '1': True, 'false': False, '0': False, 'none': None}


def _bad(name, value):
    return exc.BadRequest('Bad value passed to filter %s got %s' % (name, value))


def _int_filter(name, value):
    try:
        number = int(value)
    except ValueError:
        raise _bad(name, value) from None
    if number < 0 or number > _INT_MAX[name]:
        raise _bad(name, value)
    column, op = _INT_FILTERS[name]
    return [column, op, number]


def _bool(name, value):
    try:
        return _BOOLS[value.lower()]
    except KeyError:
        raise _bad(name, value) from None


def _paging(conf, params):
    limit = params.get('limit')
    limit = conf.limit_param_default if limit is None else validate_limit(limit)
    marker = params.get('marker')
    if marker is not None and not looks_like_uuid(marker):
        raise exc.BadRequest('Invalid marker format')
    sort_key = params.get('sort_key', 'created_at')
    if sort_key not in SORT_KEYS:
        raise exc.BadRequest('Unsupported sort_key. Acceptable values: %s'
                             % ', '.join(SORT_KEYS))
    sort_dir = params.get('sort_dir', 'desc')
    if sort_dir not in ('asc', 'desc'):
        raise exc.BadRequest('Unsupported sort_dir. Acceptable values: asc, desc')
    sort = [[sort_key, sort_dir]] + [[k, sort_dir] for k in ('created_at', 'id')
                                     if k != sort_key]
    return min(limit, conf.api_limit_max), marker, sort


def _filters(ctx, params):
    filters, visibility = [], None
    for name, value in params.items():
        if name in _EQ_FILTERS:
            filters.append([name, 'eq', value])   # NOTE: literal: no "in:" parsing (§6.10)
        elif name in _INT_FILTERS:
            filters.append(_int_filter(name, value))
        elif name == 'protected':
            flag = _bool(name, value)
            if flag is None:
                raise _bad(name, value)
            filters.append(['protected', 'eq', flag])
        elif name == 'is_public':
            flag = _bool(name, value)
            # NOTE: counts for admins only, as in Queens; true is the default view.
            if ctx.is_admin and flag is False:
                filters.append(['visibility', 'neq', 'public'])
        elif name == 'changes-since':
            try:
                since = parse_isotime(value)
            except ValueError:
                raise exc.BadRequest('Unrecognized changes-since value') from None
            filters.append(['updated_at', 'gt', since.isoformat()])
        elif name.startswith('property-') and len(name) > len('property-'):
            filters.append([name[len('property-'):], 'eq', value])
    return filters, visibility


def parse(conf, ctx, query_string):
    """Return the registry list query of a v1 list request (Glance's 400s otherwise)."""
    params = dict(urllib.parse.parse_qsl(query_string, keep_blank_values=True))
    limit, marker, sort = _paging(conf, params)
    filters, visibility = _filters(ctx, params)
    # NOTE: v1 ignores membership status and os_hidden (both are v2's).
    return {'filters': filters, 'tags': [], 'visibility': visibility,
            'member_status': 'all', 'os_hidden': None, 'marker': marker, 'limit': limit,
            'sort': sort}


def visible_images(api, req):
    """Return the images a v1 list shows to the caller (``get_images``, ``get_image``)."""
    ctx = req.context.ctx
    query = parse(api.conf, ctx, req.query_string)
    api.policy.enforce(ctx, 'get_images', {'project_id': ctx.project_id})
    if not query['limit']:
        return []
    try:
        images = api.registry.image_list(ctx, query)
    except reg_exc.MarkerNotFound:
        raise exc.BadRequest('Invalid marker. Image could not be found.') from None
    return [i for i in images
            if api.policy.check(ctx, 'get_image', policy.image_target_for(ctx, i))]
