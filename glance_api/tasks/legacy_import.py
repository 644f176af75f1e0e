"""The legacy ``import`` task of POST /v2/tasks: a new image from an http(s) URL.

Input ``{import_from, import_from_format, image_properties}``. The task creates the image
(without an owner, as Glance 33) from ``image_properties``, streams ``import_from`` through
the http store into the default store (the upload path: queued→saving→active, hashed), and
succeeds with ``{"image_id": id}``. On failure the new image is deleted and the task fails.
"""

import logging

from glance_api.images import updates as image_updates
from glance_api.tasks import lifecycle as tasks
from glance_api.data import uploads
from glance_api.rules import url_filter
from glance_registry import exceptions as reg_exc

LOG = logging.getLogger(__name__)

INPUT_KEYS = ('import_from', 'import_from_format', 'image_properties')
BASE_KEYS = ('name', 'visibility', 'protected', 'os_hidden', 'min_ram', 'min_disk',
             'disk_format', 'container_format', 'id', 'tags')


def _values(ctx, props):
    props = dict(props or {})
    values = {key: props.pop(key) for key in BASE_KEYS if key in props}
    values.setdefault('visibility', 'shared')
    # NOTE: Glance 33 creates it without an owner (shown as "owner": null).
    values.update(owner=None, status='queued', properties=props,
                  tags=image_updates.unique(values.get('tags') or []))
    values['id'] = values.get('id') or image_updates.new_id()
    return values


def run(api, ctx, task):
    """Run a legacy import task to its end; never raises."""
    try:
        task = tasks.begin(api, ctx, task)
    except (reg_exc.Conflict, reg_exc.TaskNotFound):
        return
    task_input = task.get('input') or {}
    for key in INPUT_KEYS:
        if key not in task_input:
            tasks.fail(api, ctx, task, "Input does not contain '%s' field" % key)
            return
    url = task_input['import_from']
    if not url_filter.passes(url, api.conf):
        tasks.fail(api, ctx, task, 'URI for legacy import task does not pass filtering: %s'
                   % url)
        return
    image = None
    try:
        image = api.registry.image_create(ctx, _values(ctx, task_input['image_properties']))
        store = api.stores.for_location(url)
        chunks, size = store.get(url, **url_filter.fetch_kwargs(store, api.conf))
        try:
            uploads.upload(api.conf, api.registry, api.stores, ctx, image['id'],
                           uploads.ChunkReader(chunks), None, str(size) if size else None, None,
                           enforcer=api.policy, notifier=api.notifier,
                           signatures=api.signatures)
        finally:
            getattr(chunks, 'close', lambda: None)()
    except Exception as e:  # noqa: BLE001 - any error fails the task
        LOG.warning('Legacy import task %s failed: %r', task['id'], e)
        if image is not None:
            _discard(api, ctx, image['id'])
        tasks.fail(api, ctx, task, tasks.INTERNAL_ERROR)
        return
    try:
        tasks.succeed(api, ctx, task, {'image_id': image['id']})
    except Exception:  # noqa: BLE001
        LOG.exception('Could not mark task %s successful', task['id'])


def _discard(api, ctx, image_id):
    try:
        api.registry.image_destroy(ctx, image_id)
    except Exception:  # noqa: BLE001 - cleanup never hides the task's error
        LOG.debug('Could not delete image %s of a failed import', image_id, exc_info=True)
