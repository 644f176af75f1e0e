"""Legacy PATCH operations on /locations (only with show_multiple_locations=True)."""

import hashlib
import logging
import urllib.parse

from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.rules import url_filter
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

# SECURITY: CVE-2014-9493/CVE-2015-1195/CVE-2014-5356: never let users point at host files.
REFUSED_SCHEMES = ('file', 'filesystem', 'swift+config')


def _invisible(api, verb):
    if not api.conf.show_multiple_locations:
        raise exc.Forbidden("It's not allowed to %s locations if locations are invisible."
                            % verb)


def trusted(ctx):
    """True for the callers that may name data of any project: admins and services."""
    return bool(ctx.is_admin) or 'service' in set(ctx.roles) | set(ctx.service_roles or ())


def _foreign(store, ctx, url):
    """True when ``url`` names data of a project other than the caller's.

    SECURITY: a cinder:// location is a volume the store reads (and deletes with the
    image) as its own service user, which sees every project's volumes: a user may name
    only volumes of its own project. Cinder's image_upload_use_cinder_backend adds its
    locations with its [glance] service user, which ``trusted`` lets through.
    """
    if trusted(ctx):
        return False
    owner = store.location_project(url)
    if owner is not None and owner != ctx.project_id:
        LOG.warning('Refused location %s of project %r for project %s', url, owner,
                    ctx.project_id)
        return True
    return False


def _check_location(api, ctx, location):
    url = location['url']
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in REFUSED_SCHEMES or api.stores is None:
        raise exc.BadRequest('Invalid location')
    # SECURITY: OSSA-2026-004: http(s) locations pass [import_filtering_opts] before any
    # request is made to them (Glance's validate_external_location).
    if scheme in ('http', 'https') and not url_filter.passes(url, api.conf):
        raise exc.BadRequest('The Store URI was malformed.')
    try:
        store = api.stores.for_location(url)
        size = 0 if _foreign(store, ctx, url) else store.get_size(url)
    except (store_exc.UnknownScheme, store_exc.NotFound, store_exc.BadStoreUri,
            store_exc.BackendUnavailable):
        size = 0
    if not size or size <= 0:
        raise exc.BadRequest('Invalid location')
    return size


def _hex(name, value):
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError):
        raise exc.Conflict('%s (%s) is not a valid hexadecimal value' % (name, value)) from None


def _validation_data(api, draft, locations):
    """Return the checksum/hash values the locations bring that the image lacks.

    As Glance 33: values equal to the image's are ignored; a different value for one the
    image has, two locations disagreeing, or a new value for an image that is not queued
    is a 409, and so is a malformed checksum or hash (wrong algorithm, not hex, wrong size).
    """
    given = {}
    for loc in locations:
        for key, value in (loc.get('validation_data') or {}).items():
            if given.get(key, value) != value:
                raise exc.Conflict('Conflicting values for %s' % key)
            given[key] = value
    new = {}
    for key, value in given.items():
        current = draft.attrs.get(key, draft.image.get(key))
        if value == current:
            continue
        if current:
            raise exc.Conflict('%s is already set with a different value' % key)
        new[key] = value
    if not new:
        return {}
    if draft.status != 'queued':
        raise exc.Conflict("New value(s) for %s may only be provided when image status is "
                           "'queued'" % ', '.join(new))
    if 'checksum' in new and len(_hex('checksum', new['checksum'])) != 16:
        raise exc.Conflict('checksum (%s) is not the correct size for md5 (should be 16 '
                           'bytes)' % new['checksum'])
    algo = new.get('os_hash_algo')
    if algo != api.conf.hashing_algorithm:
        raise exc.Conflict('os_hash_algo must be %s, not %s'
                           % (api.conf.hashing_algorithm, algo))
    value = new.get('os_hash_value')
    want = hashlib.new(algo).digest_size
    if len(_hex('os_hash_value', value)) != want:
        raise exc.Conflict('os_hash_value (%s) is not the correct size for %s (should be %d '
                           'bytes)' % (value, algo, want))
    return new


def _duplicates(locations):
    # NOTE: Glance counts a location twice only when url AND metadata are equal.
    for i, loc in enumerate(locations):
        if any(loc['url'] == other['url'] and (loc.get('metadata') or {}) ==
               (other.get('metadata') or {}) for other in locations[:i]):
            raise exc.BadRequest('The location %s already exists' % loc['url'])


def _new_locations(api, ctx, draft, locations, data, check=True):
    sizes = [_check_location(api, ctx, loc) for loc in locations] if check else []
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
    data = _validation_data(api, draft, value)
    _check_quota(api, len(value))
    current = _current(draft)
    same_urls = sorted(loc['url'] for loc in value) == sorted(loc['url'] for loc in current)
    if current and not same_urls:
        # NOTE: Glance 33 shows its internal location dicts (id, url, metadata, status).
        shown = [{'id': loc.get('id'), 'url': loc['url'], 'metadata': loc.get('metadata'),
                  'status': loc.get('status', 'active')} for loc in current]
        raise exc.BadRequest('Original locations is not empty: %s' % shown)
    if not same_urls:
        _duplicates(value)
    # NOTE: the same URLs again only update the metadata; nothing is re-checked.
    draft.locations = _new_locations(api, ctx, draft, value, data, check=not same_urls)


def _add(api, ctx, draft, pos, value):
    policy.enforce_image(api.policy, ctx, 'set_image_location', draft.image)
    _invisible(api, 'add')
    if draft.status not in ('active', 'queued'):
        raise exc.Conflict("It's not allowed to add locations if image status is %s."
                           % draft.status)
    data = _validation_data(api, draft, [value])
    current = _current(draft)
    if pos == '-':
        index = len(current)
    elif pos.isdigit() and int(pos) <= len(current):
        index = int(pos)
    else:
        raise exc.BadRequest('Invalid position for adding a location.')
    _check_quota(api, len(current) + 1)
    new = _new_locations(api, ctx, draft, [value], data)[0]
    _duplicates(current + [new])
    current.insert(index, new)
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
    # NOTE: the bytes go once the image is saved without this location (delete_removed).
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
