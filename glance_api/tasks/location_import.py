"""The v2.17 location API: POST/GET /v2/images/{image_id}/locations, and the
``location_import`` task that POST starts (Glance 33's async_/flows/location_import.py).

The task, in the api worker's task pool: add the location (size from the store), then
  - ``do_secure_hash`` with validation_data: queued→importing, hash the data, compare,
    importing→active;
  - ``do_secure_hash`` without: queued→active, then hash the data into the active image;
  - otherwise: copy validation_data into the image, queued→active.
Every status move is a compare-and-swap. On failure the task is ``failure`` and the image is
back in ``queued`` with no hash (an http location stays, as in Glance: that store cannot
delete).
"""

import hashlib
import logging
import time
import urllib.parse

import jsonschema

from glance_api import exceptions as exc
from glance_api.images import locations_patch
from glance_api.rules import policy
from glance_api.tasks import lifecycle as tasks
from glance_api.rules import url_filter
from glance_api.web.bodies import read_json, write_empty, write_json
from glance_api.images.resources import get_image
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc
from stores.hashing import ParallelHasher

LOG = logging.getLogger(__name__)

HASH_ALGOS = ['sha1', 'sha256', 'sha512', 'md5']
# NOTE: Glance's get_add_location_properties(), validated as {"add_location": body}
# against a PermissiveSchema named "location" (so the error texts match).
LOCATION_SCHEMA = {
    'name': 'location',
    'properties': {'add_location': {
        'type': 'object',
        'description': 'Values of location url, do_secure_hash and validation_data for new '
                       'add location API',
        'properties': {
            'url': {'type': 'string', 'readOnly': True,
                    'description': 'The URL of the new location to be added in the image.'},
            'validation_data': {
                'description': 'Values to be used to populate the corresponding image '
                               'properties.do_secure_hash is not True then image checksum and '
                               'hash will not be calculated so it is the responsibility of '
                               'the consumer of location ADD API to provide the correct '
                               'values in the validation_data parameter',
                'type': 'object',
                'writeOnly': True,
                'additionalProperties': False,
                'properties': {
                    'os_hash_algo': {'type': 'string', 'maxLength': 64, 'enum': HASH_ALGOS},
                    'os_hash_value': {'type': 'string', 'maxLength': 128},
                },
                'dependentRequired': {'os_hash_value': ['os_hash_algo'],
                                      'os_hash_algo': ['os_hash_value']},
            },
        },
        'required': ['url'],
    }},
    'additionalProperties': {'type': 'string'},
}
_VALIDATOR = jsonschema.validators.validator_for(LOCATION_SCHEMA)(LOCATION_SCHEMA)
# Seconds between checks that the image still exists while its data is hashed.
CANCEL_CHECK_INTERVAL = 2.0


class HashMismatch(Exception):
    """The data's hash differs from the validation_data given."""


class ImageGone(Exception):
    """The image was deleted while its data was being hashed."""


def http_store_configured(conf, url):
    """Glance's is_http_store_configured: an http URL and an http store enabled."""
    if not url.startswith('http'):
        return False
    if conf.enabled_backends:
        return 'http' in conf.enabled_backends.values()
    return 'http' in (getattr(conf.glance_store, 'stores', None) or ())


def check_validation_data(conf, data):
    """Glance's _validate_hashing_data: hex, and the digest size of the algorithm."""
    if 'os_hash_value' not in data:
        return
    try:
        value = bytearray.fromhex(data['os_hash_value'])
    except ValueError:
        raise exc.BadRequest('os_hash_value (%s) is not a valid hexadecimal value'
                             % data['os_hash_value']) from None
    algo = data.get('os_hash_algo', conf.hashing_algorithm)
    want = hashlib.new(algo).digest_size
    if len(value) != want:
        raise exc.BadRequest('os_hash_value: (%s) is not the correct size for (%s) '
                             '(should be (%d) bytes)' % (data['os_hash_value'], algo, want))


class LocationsResource:
    """POST (add, async) and GET (list) /v2/images/{image_id}/locations."""

    # NOTE: Glance answers 405 for the other methods with "Allow: POST" (a quirk).
    allowed = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD')

    def __init__(self, api):
        self.api = api

    def _refuse(self, req, resp, image_id):
        raise exc.MethodNotAllowed(('POST',))

    on_put = on_patch = on_delete = on_head = _refuse

    def on_get(self, req, resp, image_id):
        """List the image's locations (url and metadata)."""
        api, ctx = self.api, req.context.ctx
        image = get_image(api.registry, ctx, image_id)
        policy.enforce_image(api.policy, ctx, 'fetch_image_location', image)
        locations = [{'url': loc['url'], 'metadata': loc.get('metadata') or {}}
                     for loc in image.get('locations') or ()
                     if loc.get('status', 'active') == 'active']
        write_json(resp, locations)

    def on_post(self, req, resp, image_id):
        """Check the request, record a location_import task and start it; answer 202."""
        api, ctx = self.api, req.context.ctx
        body = read_json(req)
        error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors({'add_location': body}))
        if error is not None:
            raise exc.InvalidObject('location', str(error))
        url, validation = body.get('url'), body.get('validation_data', {})
        image = get_image(api.registry, ctx, image_id)
        if image['status'] != 'queued':
            raise exc.Conflict("It's not allowed to add locations if image status is %s."
                               % image['status'])
        policy.enforce_image(api.policy, ctx, 'add_image_location', image)
        if 'service' not in set(ctx.roles) | set(ctx.service_roles) and \
                not http_store_configured(api.conf, url):
            raise exc.Forbidden('http store must be enabled to use location API by normal '
                                'user.')
        if validation is not None:
            check_validation_data(api.conf, validation)
        if urllib.parse.urlparse(url).scheme in ('http', 'https') and \
                not url_filter.passes(url, api.conf):
            raise exc.BadRequest('URI for add location does not pass filtering: %s' % url)
        if any(t['status'] in tasks.UNFINISHED for t in api.registry.image_tasks(ctx, image_id)):
            raise exc.Conflict('Image has active task')
        task_input = {'image_id': image_id, 'loc_url': url, 'validation_data': validation}
        task = tasks.create(api, ctx, 'location_import', task_input, image_id)
        api.task_pool.spawn(run_location_import, api, ctx, task)
        write_empty(resp, 202)


# --- the location_import task

def _input_problem(task):
    """Glance's unpack_task_input for location_import (None when the input is usable)."""
    task_input = task.get('input') or {}
    task_input = {k: v for k, v in task_input.items() if k != tasks.HOST_KEY}
    if not task_input:
        return 'Input to location_import task is empty.'
    for key in ('image_id', 'loc_url', 'validation_data'):
        if key not in task_input:
            return "Input does not contain '%s' field" % key
    return None


def run_location_import(api, ctx, task):
    """Run a location_import task to its end (success or failure); never raises."""
    try:
        task = tasks.begin(api, ctx, task)
    except (reg_exc.Conflict, reg_exc.TaskNotFound):
        return   # NOTE: another worker (or recovery) took it.
    problem = _input_problem(task)
    if problem:
        tasks.fail(api, ctx, task, problem)
        return
    inp = task['input']
    image_id = inp['image_id']
    progress = {'importing': False}
    try:
        _import(api, ctx, image_id, inp['loc_url'], inp.get('validation_data') or {},
                progress)
    except Exception as e:  # noqa: BLE001 - any error fails the task
        LOG.warning('location_import task %s for image %s failed: %r', task['id'],
                    image_id, e)
        if progress['importing']:
            # NOTE: only what this task did is undone: a task that lost the race for
            # the image must not send the winner's image back to queued.
            revert(api.registry, ctx, image_id)
        tasks.fail(api, ctx, task, tasks.INTERNAL_ERROR)
        return
    try:
        tasks.succeed(api, ctx, task, {'image_id': image_id})
    except Exception:  # noqa: BLE001
        LOG.exception('Could not mark task %s successful', task['id'])


def _update(api, ctx, image_id, values, from_state):
    return api.registry.image_update(ctx, image_id, values, from_state=from_state)


def _import(api, ctx, image_id, url, validation, progress):
    image = api.registry.image_get(ctx, image_id)
    store = _add_location(api, ctx, image, url)
    algo = validation.get('os_hash_algo') or api.conf.hashing_algorithm
    if api.conf.do_secure_hash and validation:
        _update(api, ctx, image_id, {'status': 'importing', 'os_hash_algo': algo}, 'queued')
        progress['importing'] = True
        checksum, value = _hash_with_retries(api, ctx, store, url, image_id, algo)
        _update(api, ctx, image_id, {'checksum': checksum, 'os_hash_value': value},
                'importing')
        if validation['os_hash_value'] != value:
            raise HashMismatch('os_hash_value: (%s) not matched with actual os_hash_value: '
                               '(%s)' % (validation['os_hash_value'], value))
        _update(api, ctx, image_id, {'status': 'active'}, 'importing')
    elif api.conf.do_secure_hash:
        # NOTE: one update, so a client seeing "active" also sees os_hash_algo.
        _update(api, ctx, image_id, {'status': 'active', 'os_hash_algo': algo}, 'queued')
        try:
            checksum, value = _hash_with_retries(api, ctx, store, url, image_id, algo)
        except (store_exc.StoreError, OSError) as e:
            # NOTE: as Glance: the location add succeeded; an active image keeps no hash.
            LOG.warning('Hash calculation failed for image %s data: %s', image_id, e)
            return
        _update(api, ctx, image_id, {'checksum': checksum, 'os_hash_value': value}, 'active')
    else:
        values = {'status': 'active'}
        values.update({k: v for k, v in validation.items()
                       if k in ('os_hash_algo', 'os_hash_value')})
        _update(api, ctx, image_id, values, 'queued')


def _add_location(api, ctx, image, url):
    """Append the location (with the image size from the store); return the store.

    :raises: store errors (unknown scheme, not found, unreachable), BadStoreUri when the
             URL no longer passes filtering.
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme in ('http', 'https') and not url_filter.passes(url, api.conf):
        raise store_exc.BadStoreUri(uri=url)
    if scheme in locations_patch.REFUSED_SCHEMES:
        # SECURITY: never let a task read a host file through a location.
        raise store_exc.BadStoreUri(uri=url)
    store = api.stores.for_location(url)
    size = store.get_size(url, **url_filter.fetch_kwargs(store, api.conf))
    metadata = {'store': store.store_id} if api.conf.enabled_backends else {}
    current = [loc for loc in image.get('locations') or ()
               if loc.get('status', 'active') == 'active']
    values = {'locations': current + [{'url': url, 'metadata': metadata,
                                       'status': 'active'}]}
    if image.get('size') is None and size:
        values['size'] = size
    _update(api, ctx, image['id'], values, 'queued')
    return store


def _hash_with_retries(api, ctx, store, url, image_id, algo):
    tries = max(1, api.conf.http_retries)
    for attempt in range(1, tries + 1):
        try:
            return _hash(api, ctx, store, url, image_id, algo)
        except (store_exc.BackendUnavailable, OSError) as e:
            LOG.debug('[%d/%d] Hash calculation failed due to %s', attempt, tries, e)
            if attempt == tries:
                raise
    raise AssertionError('unreachable')


def _hash(api, ctx, store, url, image_id, algo):
    """Return (md5 checksum, ``algo`` hex digest) of the data at ``url``.

    :raises: ImageGone when the image is deleted meanwhile (the hashing stops).
    """
    checksum, digest = hashlib.md5(usedforsecurity=False), hashlib.new(algo)
    chunks, _size = store.get(url, **url_filter.fetch_kwargs(store, api.conf))
    next_check = time.monotonic() + CANCEL_CHECK_INTERVAL
    try:
        # PERF: both digests in parallel threads, as on upload.
        with ParallelHasher((checksum, digest)) as hasher:
            for chunk in chunks:
                hasher.update(chunk)
                if time.monotonic() >= next_check:
                    _check_alive(api, ctx, image_id)
                    next_check = time.monotonic() + CANCEL_CHECK_INTERVAL
    finally:
        close = getattr(chunks, 'close', None)
        if close is not None:
            close()
    return checksum.hexdigest(), digest.hexdigest()


def _check_alive(api, ctx, image_id):
    try:
        api.registry.image_get(ctx, image_id)
    except reg_exc.ImageNotFound:
        raise ImageGone('Hash calculation for image %s has been canceled' % image_id) from None


def revert(registry, ctx, image_id):
    """Put an importing image back to queued, without hash (cleanup never raises)."""
    try:
        # NOTE: Glance 33 also shows no size again (the http location stays).
        values = {'status': 'queued', 'os_hash_algo': None, 'os_hash_value': None,
                  'checksum': None, 'size': None}
        registry.image_update(ctx, image_id, values, from_state='importing')
    except Exception:  # noqa: BLE001 - the task's error is the one to report
        LOG.debug('Could not revert image %s after a failed location import', image_id,
                  exc_info=True)


def run_other(api, ctx, task):
    """Tasks this api does not run (api_image_import): fail them as Glance would."""
    try:
        task = tasks.begin(api, ctx, task)
    except (reg_exc.Conflict, reg_exc.TaskNotFound):
        return
    task_input = {k: v for k, v in (task.get('input') or {}).items() if k != tasks.HOST_KEY}
    if not task_input:
        message = 'Input to %s task is empty.' % task['type']
    elif task['type'] == 'api_image_import' and 'image_id' not in task_input:
        message = "Missing required 'image_id' field"
    else:
        message = tasks.INTERNAL_ERROR
    tasks.fail(api, ctx, task, message)
