"""``POST /v2/images/{image_id}/import`` (Glance 33's ImagesController.import_image), the
routes of interoperable import and its options.

The request is checked in Glance's order (docs/glance-api.md §5.2); then the import lock
``os_glance_import_task`` is taken with one compare-and-swap on the image status (the
image becomes ``importing`` at once; copy-image keeps ``active``), the
``api_image_import`` task is recorded and run in the api worker's task pool
(:mod:`glance_api.imports.flows`).

A glance-direct import of data staged on another api node (its ``os_glance_stage_host``
is not this node's ``worker_self_reference_url``/``public_endpoint``) is replayed against
that node, as Glance's ``_proxy_request_to_host``: staging areas are local to a node.
"""

import datetime
import logging
import uuid

import requests

from glance_api.web import errors
from glance_api import exceptions as exc
from glance_api.imports import flows as import_flows
from glance_api.imports import plugins as import_plugins
from glance_api.rules import policy
from glance_api.rules import quota
from glance_api.imports import remote_images
from glance_api.imports import staging
from glance_api.tasks import lifecycle as tasks
from glance_api.rules import url_filter
from glance_api.web.bodies import read_json, write_empty
from glance_api.images.resources import get_image
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

LOCK_EXPIRY = datetime.timedelta(minutes=60)
BUSTABLE = ('pending', 'processing', 'success', 'failure')
# NOTE: Glance's PROXYABLE_HOSTS, checked in this order.
PROXYABLE_HOSTS = (staging.STAGE_HOST, 'os_glance_hash_op_host')
PROXY_TIMEOUT = 60
# The caller's identity headers, passed on with the token. Glance's keystoneauth session
# sends only X-Auth-Token (keystonemiddleware on the other node rebuilds the rest and
# drops these); in noauth mode these headers are the identity, so they go too. Unlike
# Glance, X-Image-Meta-Store goes as well: without it the other node would import to its
# default store instead of the one the caller named.
PROXIED_HEADERS = ('X-Auth-Token', 'X-Identity-Status', 'X-Roles', 'X-Role',
                   'X-Service-Roles', 'X-User-Id', 'X-User', 'X-Project-Id', 'X-Tenant-Id',
                   'X-Tenant', 'X-Domain-Id', 'X-User-Domain-Id', 'X-Project-Domain-Id',
                   'X-Is-Admin-Project', 'X-Service-Catalog', 'X-Image-Meta-Store')


def register_opts(conf):
    """Register the staging and import plugin options on conf."""
    staging.register_opts(conf)
    import_plugins.register_opts(conf)


def list_opts():
    """Return the options for oslo-config-generator."""
    return staging.list_opts() + import_plugins.list_opts()


def routes(api):
    """Return the import routes."""
    return [('/v2/images/{image_id}/stage', staging.StageResource(api, api.staging)),
            ('/v2/images/{image_id}/import', ImportResource(api))]


def validate_body(conf, body):
    """Glance's _validate_import_body.

    :raises: BadRequest
    """
    method = body.get('method') if isinstance(body, dict) else None
    if method is None:
        raise exc.BadRequest("Import request requires a 'method' field.")
    if not isinstance(method, dict) or 'name' not in method:
        raise exc.BadRequest("Import request requires a 'name' field.")
    if method['name'] not in conf.enabled_import_methods:
        raise exc.BadRequest("Unknown import method name '%s'." % method['name'])
    for key, default in (('all_stores_must_succeed', True), ('all_stores', False)):
        if not isinstance(body.get(key, default), bool):
            raise exc.BadRequest("'%s' must be boolean value only" % key)


def check_image(image, method_name, method):
    """Glance's status and format checks, in its order.

    :raises: Conflict, BadRequest
    """
    status = image['status']
    if status == 'active' and method_name != 'copy-image':
        raise exc.Conflict('Image with status active cannot be target for import')
    if status != 'active' and method_name == 'copy-image':
        raise exc.Conflict('Only images with status active can be targeted for copying')
    if status != 'queued' and method_name in ('web-download', 'glance-download'):
        raise exc.Conflict("Image needs to be in 'queued' state to use '%s' method"
                           % method_name)
    if status != 'uploading' and method_name == 'glance-direct':
        raise exc.Conflict("Image needs to be staged before 'glance-direct' method can be "
                           "used")
    for key in ('container_format', 'disk_format'):
        if not image.get(key):
            raise exc.Conflict("'%s' needs to be set before import" % key)
    if method_name == 'glance-download':
        for key in ('glance_region', 'glance_image_id'):
            if key not in method:
                raise exc.BadRequest("'%s' needs to be set for glance-download import "
                                     "method" % key)
        try:
            uuid.UUID(str(method['glance_image_id']))
        except ValueError:
            raise exc.BadRequest('Remote image id does not look like a UUID: %s'
                                 % method['glance_image_id']) from None
        method.setdefault('glance_service_interface', 'public')


def request_stores(api, req, body):
    """Glance's get_stores_from_request: the target store ids ([None] single-store).

    :raises: BadRequest, Conflict (unknown store)
    """
    if not api.conf.enabled_backends:
        return [None]
    header = req.get_header('X-Image-Meta-Store')
    if body.get('all_stores', False):
        if 'stores' in body or header is not None:
            raise exc.BadRequest("All_stores parameter can't be used with x-image-meta-store "
                                 "header or stores parameter")
        ids = [sid for sid in api.stores.store_ids()
               if not api.stores.for_store(sid).read_only]
    elif 'stores' in body:
        if header is not None:
            raise exc.BadRequest("Stores parameter and x-image-meta-store header can't be "
                                 "both specified")
        ids = body['stores']
    else:
        ids = [header or api.conf.glance_store.default_backend]
    for sid in ids:
        try:
            api.stores.for_store(sid)
        except store_exc.UnknownStore as e:
            raise exc.Conflict(e.msg) from e
    return list(ids)


class ImportResource:
    """POST /v2/images/{image_id}/import → 202."""

    allowed = ('POST',)

    def __init__(self, api):
        self.api = api

    def on_post(self, req, resp, image_id):
        """Check the request, take the import lock, start the task; answer 202."""
        api, ctx = self.api, req.context.ctx
        body = read_json(req)
        validate_body(api.conf, body)
        method = body['method']
        name = method['name']
        quota.enforce(api.conf, api.registry, ctx, {quota.IMAGE_SIZE_TOTAL: 0})
        image = get_image(api.registry, ctx, image_id)
        check_image(image, name, method)
        policy.enforce_image(api.policy, ctx,
                             'copy_image' if name == 'copy-image' else 'modify_image', image)
        stolen = None
        if import_flows.LOCK in image['properties']:
            stolen = _enforce_lock(api, ctx, image)
        stores = request_stores(api, req, body)
        if name == 'copy-image':
            present = [(loc.get('metadata') or {}).get('store')
                       for loc in image.get('locations') or ()]
            if body.get('all_stores', False):
                stores = [s for s in stores if s not in present]
                if not stores:
                    LOG.info('Exiting copying workflow as image is available in all '
                             'configured stores.')
                    write_empty(resp, 202)
                    return
            for sid in present:
                if sid in stores:
                    raise exc.BadRequest("Image is already present at store '%s'" % sid)
        if not body.get('all_stores_must_succeed', True) and not api.conf.enabled_backends:
            raise exc.BadRequest('All_stores_must_succeed can only be set with '
                                 'enabled_backends %s' % method.get('uri'))
        host = proxy_host(api.conf, image)
        if host and name == 'glance-direct':
            # NOTE: staged on another node: replay the request there, as the caller.
            proxy_import(req, resp, host, body)
            return
        if name == 'web-download' and not url_filter.passes(method.get('uri'), api.conf):
            raise exc.BadRequest('URI for web-download does not pass filtering: %s'
                                 % method.get('uri'))
        if name == 'glance-download' and getattr(ctx, 'service_catalog', None) is None:
            # NOTE: the task finds the remote endpoint in the caller's catalog.
            ctx.service_catalog = remote_images.catalog_from_header(
                req.get_header('X-Service-Catalog'))
        task = _start(api, ctx, image, {'image_id': image_id, 'import_req': body,
                                        'backend': stores}, stolen)
        api.task_pool.spawn(import_flows.run, api, ctx, task)
        write_empty(resp, 202)


def proxy_host(conf, image):
    """Glance's is_proxyable: the node holding the image's data, when not this one."""
    here = staging.self_reference_url(conf)
    for key in PROXYABLE_HOSTS:
        host = (image.get('properties') or {}).get(key)
        if host and host != here:
            return host
    return None


def proxy_import(req, resp, host, body):
    """Replay this POST /import on ``host`` and answer as Glance's _proxy_request_to_host.

    The other node's request id replaces ours; a 2xx from it is our 202 (empty body);
    any other status is answered with that status and its reason, no message (as
    Glance's ProxiedResponse); an unreachable node is a 504, any other transport
    error a 502.
    """
    LOG.info('Proxying %s request to host %s which has image.', req.method, host)
    url = '%s%s' % (host, req.path)
    headers = {h: req.get_header(h) for h in PROXIED_HEADERS if req.get_header(h) is not None}
    try:
        remote = requests.post(url, json=body, headers=headers, timeout=PROXY_TIMEOUT,
                               allow_redirects=False)
    except (requests.exceptions.ConnectionError, requests.exceptions.ConnectTimeout) as e:
        LOG.error('Failed to proxy to %r: %s', url, e)
        errors.render(req, resp, 504, explanation='Stage host is unavailable')
        return
    except requests.exceptions.RequestException as e:
        LOG.error('Failed to proxy to %r: %s', url, e)
        errors.render(req, resp, 502, explanation='Stage host is unavailable')
        return
    remote_id = remote.headers.get('x-openstack-request-id')
    if remote_id:
        LOG.debug('Replying with remote request id %s', remote_id)
        req.context.request_id = remote_id
    if remote.status_code // 100 != 2:
        errors.render(req, resp, remote.status_code, explanation='')
        return
    write_empty(resp, 202)


def _enforce_lock(api, ctx, image):
    """Glance's _enforce_import_lock: return the stale task (or None) whose lock is taken.

    :raises: Conflict ('Image has active task') while the lock is valid
    """
    other = image['properties'][import_flows.LOCK]
    admin = _elevated(ctx)
    try:
        task = api.registry.task_get(admin, other)
    except reg_exc.TaskForbidden:
        # NOTE: with keystone the registry sees the caller's own roles: a task it may not
        # read is never taken for stale.
        raise exc.Conflict('Image has active task') from None
    except reg_exc.TaskNotFound:
        LOG.warning('Image %s has non-existent import task %s; considering it stale',
                    image['id'], other)
        return {'id': other, 'input': {}}
    expiry = LOCK_EXPIRY * (2 if task['status'] == 'pending' else 1)
    updated = datetime.datetime.fromisoformat(task['updated_at'])
    age = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - updated
    if task['status'] in BUSTABLE and age >= expiry:
        LOG.warning('Image %s has stale import task %s; taking its lock', image['id'], other)
        if task['status'] in tasks.UNFINISHED:
            tasks.fail(api, admin, task, 'Expired lock preempted', from_state=task['status'])
        return task
    raise exc.Conflict('Image has active task')


def _elevated(ctx):
    import copy
    admin = copy.copy(ctx)
    admin.is_admin = True
    admin.roles = list(dict.fromkeys(list(ctx.roles) + ['admin']))
    return admin


def _start(api, ctx, image, task_input, stolen):
    """Take the lock (CAS on the status) and record the task; return it.

    :raises: Conflict when another request took the image meanwhile
    """
    task_id = str(uuid.uuid4())
    props = {import_flows.LOCK: task_id}
    if stolen is not None:
        for key in (import_flows.IMPORTING, import_flows.FAILED):
            props[key] = import_flows.merge_stores(
                image['properties'], key, (stolen.get('input') or {}).get('backend') or (),
                subtract=True)
    values = {'properties': props}
    if task_input['import_req']['method']['name'] != 'copy-image':
        values['status'] = 'importing'
    try:
        api.registry.image_update(ctx, image['id'], values, from_state=image['status'])
    except reg_exc.Conflict:
        raise exc.Conflict("New operation on image '%s' is not permitted as prior "
                           "operation is still in progress" % image['id']) from None
    try:
        return tasks.create(api, ctx, import_flows.TASK_TYPE, task_input, image['id'],
                            task_id=task_id)
    except BaseException:
        _release(api, ctx, image)
        raise


def _release(api, ctx, image):
    try:
        current = api.registry.image_get(ctx, image['id'])
        props = {k: v for k, v in current['properties'].items() if k != import_flows.LOCK}
        api.registry.image_update(ctx, image['id'],
                                  {'status': image['status'], 'properties': props},
                                  from_state=current['status'], purge_props=True)
    except Exception:  # noqa: BLE001 - cleanup never hides the original error
        LOG.warning('Could not release the import lock of image %s', image['id'],
                    exc_info=True)

