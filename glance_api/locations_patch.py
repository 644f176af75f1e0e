"""Legacy PATCH operations on /locations (only with show_multiple_locations=True)."""

import urllib.parse

from glance_api import exceptions as exc
from glance_api import policy
from stores import exceptions as store_exc

# SECURITY: CVE-2014-9493/CVE-2015-1195/CVE-2014-5356: never let users point at host files.
REFUSED_SCHEMES = ('file', 'filesystem', 'swift+config')


def _invisible(api, verb):
    if not api.conf.show_multiple_locations:
        raise exc.Forbidden("It's not allowed to %s locations if locations are invisible."
                            % verb)


def _check_location(api, location):
    url = location['url']
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in REFUSED_SCHEMES or api.stores is None:
        raise exc.BadRequest('Invalid location')
    try:
        size = api.stores.for_location(url).get_size(url)
    except (store_exc.UnknownScheme, store_exc.NotFound, store_exc.BadStoreUri,
            store_exc.BackendUnavailable):
        size = 0
    if not size or size <= 0:
        raise exc.BadRequest('Invalid location')
    return size


def _validation_data(api, draft, locations):
    data = {}
    for loc in locations:
        val = loc.get('validation_data')
        if not val:
            continue
        if val.get('os_hash_algo') != api.conf.hashing_algorithm:
            raise exc.BadRequest('os_hash_algo must be %s' % api.conf.hashing_algorithm)
        if draft.status != 'queued':
            current = {k: draft.image.get(k) for k in val}
            if current != val:
                raise exc.BadRequest('os_hash_value, checksum and os_hash_algo must match '
                                     'the image')
        data.update(val)
    return data


def _new_locations(api, draft, locations):
    sizes = [_check_location(api, loc) for loc in locations]
    data = _validation_data(api, draft, locations)
    if draft.status == 'queued':
        if not (draft.image.get('disk_format') or draft.attrs.get('disk_format')) or \
                not (draft.image.get('container_format') or
                     draft.attrs.get('container_format')):
            raise exc.BadRequest('Properties disk_format, container_format must be set prior '
                                 'to saving data.')
        draft.attrs.update(data)
        draft.status = 'active'
        if draft.image.get('size') is None and sizes:
            draft.attrs['size'] = sizes[0]
    return [{'url': loc['url'], 'metadata': loc.get('metadata') or {}, 'status': 'active'}
            for loc in locations]


def _current(draft):
    if draft.locations is not None:
        return list(draft.locations)
    return [loc for loc in draft.image.get('locations') or ()
            if loc.get('status', 'active') == 'active']


def _check_quota(api, count):
    maximum = api.conf.image_location_quota
    if 0 <= maximum < count:
        raise exc.LimitExceeded('The limit has been exceeded on the number of allowed image '
                                'locations. Attempted: %d, Maximum: %d' % (count, maximum))


def _replace(api, ctx, draft, value):
    if not value:
        raise exc.ForbiddenDetail('Cannot set locations to empty list.')
    policy.enforce_image(api.policy, ctx, 'set_image_location', draft.image)
    _invisible(api, 'update')
    if draft.status not in ('active', 'queued'):
        raise exc.Conflict("It's not allowed to replace locations if image status is %s."
                           % draft.status)
    urls = [loc['url'] for loc in value]
    if len(set(urls)) != len(urls):
        raise exc.BadRequest('The location %s already exists' % urls[-1])
    _check_quota(api, len(value))
    draft.locations = _new_locations(api, draft, value)


def _add(api, ctx, draft, pos, value):
    policy.enforce_image(api.policy, ctx, 'set_image_location', draft.image)
    _invisible(api, 'add')
    if draft.status not in ('active', 'queued'):
        raise exc.Conflict("It's not allowed to add locations if image status is %s."
                           % draft.status)
    current = _current(draft)
    if pos == '-':
        index = len(current)
    elif pos.isdigit() and int(pos) <= len(current):
        index = int(pos)
    else:
        raise exc.BadRequest('Invalid position for adding a location.')
    if any(loc['url'] == value['url'] for loc in current):
        raise exc.BadRequest('The location %s already exists' % value['url'])
    _check_quota(api, len(current) + 1)
    current.insert(index, _new_locations(api, draft, [value])[0])
    draft.locations = current


def _remove(api, ctx, draft, pos):
    policy.enforce_image(api.policy, ctx, 'delete_image_location', draft.image)
    _invisible(api, 'remove')
    if draft.status != 'active':
        raise exc.Conflict("It's not allowed to remove locations if image status is %s."
                           % draft.status)
    current = _current(draft)
    if len(current) == 1:
        raise exc.ForbiddenDetail('Cannot remove last location in the image.')
    index = len(current) - 1 if pos == '-' else int(pos) if pos.isdigit() else -1
    if not 0 <= index < len(current):
        raise exc.BadRequest('Invalid position for removing a location.')
    # NOTE: the bytes stay in the store; Glance's scrubber-less delete path would
    # remove them, which this clone leaves to a later issue.
    del current[index]
    draft.locations = current


def apply(api, ctx, draft, change):
    """Apply one /locations change to the draft."""
    op, path = change['op'], change['path']
    if op == 'replace':
        _replace(api, ctx, draft, change['value'])
    elif op == 'add':
        _add(api, ctx, draft, path[1], change['value'])
    else:
        _remove(api, ctx, draft, path[1])
