"""/v2/images and /v2/images/{id}: list, create, show, update, delete."""

import logging

from glance_api import exceptions as exc
from glance_api.images import listing as image_list
from glance_api.images import updates as image_updates
from glance_api.data import locations as location_data
from glance_api import notifier
from glance_api.images import patch
from glance_api.rules import policy
from glance_api.rules import quota
from glance_api.web.bodies import read_json, write_empty, write_json
from glance_api.images.views import active_locations
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

DISALLOWED_ON_CREATE = ('direct_url', 'self', 'file', 'schema', 'stores')
CREATE_BASE = ('checksum', 'created_at', 'container_format', 'disk_format', 'id', 'min_disk',
               'min_ram', 'name', 'size', 'virtual_size', 'status', 'tags', 'owner',
               'updated_at', 'visibility', 'protected', 'os_hidden')
READ_ONLY_ON_CREATE = ('created_at', 'updated_at', 'status', 'checksum', 'size',
                       'virtual_size')
# NOTE: real Glance 33 accepts these on create and then shows the (null) attribute.
IGNORED_ON_CREATE = ('os_hash_algo', 'os_hash_value')
RESERVED_EXTRA = ('location', 'deleted', 'deleted_at')
RESERVED_ON_CREATE = ('owner', 'locations', 'deleted', 'deleted_at', 'direct_url', 'self',
                      'file', 'schema')


def get_image(registry, ctx, image_id, message=None):
    """Fetch a visible image.

    :raises: NotFound with message (Glance's 'No image found with ID x' by default).
    """
    try:
        return registry.image_get(ctx, image_id)
    except reg_exc.ImageNotFound:
        raise exc.NotFound(message or 'No image found with ID %s' % image_id) from None


class ImagesResource:
    """GET (list) and POST (create) /v2/images."""

    allowed = ('GET', 'POST')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp):
        """List the images visible to the caller."""
        api, ctx = self.api, req.context.ctx
        query = image_list.parse_list_query(api.conf, req.query_string)
        api.policy.enforce(ctx, 'get_images', {'project_id': ctx.project_id})
        images = []
        if query['limit']:
            try:
                images = api.registry.image_list(ctx, query)
            except reg_exc.MarkerNotFound:
                raise exc.BadRequest('No image found with ID %s' % query['marker']) from None
        db_count = len(images)
        images = [i for i in images if api.policy.check(
            ctx, 'get_image', policy.image_target_for(ctx, i))]
        next_marker = images[-1]['id'] if images and db_count == query['limit'] else None
        first, nxt = image_list.links(req.query_string, next_marker)
        body = {'images': [api.view.render(i, ctx) for i in images], 'first': first,
                'schema': '/v2/schemas/images'}
        if nxt:
            body['next'] = nxt
        write_json(resp, body)

    def on_post(self, req, resp):
        """Create an image record (status queued)."""
        api, ctx = self.api, req.context.ctx
        body = read_json(req)
        if not isinstance(body, dict):
            raise exc.BadRequest('Provided object does not match schema \'image\': '
                                 '%r is not of type \'object\'' % (body,))
        for key in DISALLOWED_ON_CREATE:
            if key in body:
                raise exc.ReadOnlyAttribute(key)
        api.schema.validate(body)
        base, extra, tags = _split_create_body(body)
        base.setdefault('owner', ctx.project_id)
        _enforce_create(api.policy, ctx, base)
        quota.enforce(api.conf, api.registry, ctx, {quota.IMAGE_COUNT_TOTAL: 1})
        if api.protections is not None:
            api.protections.checker(ctx).require_all(extra, 'create')
        values = _create_values(api.conf, base, extra, tags)
        try:
            image = api.registry.image_create(ctx, values)
        except reg_exc.Duplicate:
            raise exc.Conflict('Image ID %s already exists!' % values['id']) from None
        api.notifier.image('image.create', image)
        write_json(resp, api.view.render(image, ctx), status=201)
        resp.set_header('Location', '%s://%s/v2/images/%s' % (req.scheme, req.netloc,
                                                              image['id']))
        if api.conf.enabled_import_methods:
            resp.set_header('OpenStack-image-import-methods',
                            ','.join(api.conf.enabled_import_methods))
        if api.conf.enabled_backends:
            resp.set_header('OpenStack-image-store-ids', ','.join(api.conf.enabled_backends))


def _split_create_body(body):
    tags = body.pop('tags', [])
    base = {key: body.pop(key) for key in CREATE_BASE if key in body}
    for key in body:
        if len(key) > 255:
            raise exc.BadRequest('Custom property should not be greater than 255 characters.')
        if key in RESERVED_EXTRA or key.startswith('os_glance'):
            raise exc.ReservedAttributeDetail(key)
    return base, body, tags


def _enforce_create(enforcer, ctx, base):
    target = {'project_id': base.get('owner'), 'owner': base.get('owner'),
              'visibility': base.get('visibility', 'shared'), 'member_id': None}
    if not enforcer.check(ctx, 'add_image', target):
        if base.get('owner') != ctx.project_id:
            raise exc.ForbiddenDetail("You are not permitted to create images owned by '%s'"
                                      % base.get('owner'))
        raise exc.PolicyForbidden('add_image')
    if 'visibility' in base:
        policy.enforce_visibility(enforcer, ctx, base['visibility'], target)
    if not enforcer.new_defaults and not ctx.is_admin and base.get('owner') != ctx.project_id:
        raise exc.Forbidden("You are not permitted to create images owned by '%s'."
                            % base.get('owner'))


def _create_values(conf, base, extra, tags):
    for key in READ_ONLY_ON_CREATE:
        if key in base:
            raise exc.ReadOnlyAttribute(key)
    for key in IGNORED_ON_CREATE:
        extra.pop(key, None)
    for key in RESERVED_ON_CREATE:
        if key in extra:
            raise exc.ReservedAttribute(key)
    for key in ('min_ram', 'min_disk'):
        image_updates.check_not_negative(key, base.get(key, 0))
    image_updates.check_property_quota(conf, extra)
    tags = image_updates.unique(tags)
    image_updates.check_tag_quota(conf, tags)
    values = {
        'name': base.get('name'), 'visibility': base.get('visibility', 'shared'),
        'protected': base.get('protected', False), 'os_hidden': base.get('os_hidden', False),
        'min_ram': base.get('min_ram', 0), 'min_disk': base.get('min_disk', 0),
        'disk_format': base.get('disk_format'),
        'container_format': base.get('container_format'), 'owner': base.get('owner'),
        'status': 'queued', 'properties': extra, 'tags': tags,
    }
    values['id'] = base.get('id') or image_updates.new_id()
    return values


class ImageResource:
    """GET, PATCH and DELETE /v2/images/{image_id}."""

    allowed = ('GET', 'PATCH', 'DELETE')
    body_reject = ('GET', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id):
        """Show one image."""
        image = get_image(self.api.registry, req.context.ctx, image_id)
        policy.enforce_image(self.api.policy, req.context.ctx, 'get_image', image)
        write_json(resp, self.api.view.render(image, req.context.ctx))

    def on_patch(self, req, resp, image_id):
        """Apply a JSON-patch to an image."""
        api, ctx = self.api, req.context.ctx
        draft = patch.check_media_type(req.content_type)
        changes = patch.parse_changes(read_json(req), draft, api.schema)
        image = get_image(api.registry, ctx, image_id)
        if changes:
            image = image_updates.apply(api, ctx, image, changes)
        api.notifier.image('image.update', image)   # NOTE: Glance saves (and sends) always
        write_json(resp, api.view.render(image, ctx))

    def on_delete(self, req, resp, image_id):
        """Delete an image and its data."""
        api, ctx = self.api, req.context.ctx
        message = 'Failed to find image %s to delete' % image_id
        image = get_image(api.registry, ctx, image_id, message)
        policy.enforce_image(api.policy, ctx, 'delete_image', image)
        if image['protected']:
            raise exc.Forbidden('Image %s is protected and cannot be deleted.' % image_id)
        try:
            delete_image(api, ctx, image)
        except store_exc.InUseByStore as e:
            # NOTE: Glance's words, e.g. an RBD snapshot that Nova/Cinder cloned.
            msg = ('Image %(id)s could not be deleted because it is in use: %(exc)s'
                   % {'id': image_id, 'exc': e.msg})
            LOG.warning(msg)
            raise exc.Conflict(msg) from None
        except store_exc.OperationTimeout as e:
            msg = ('Image %(id)s could not be deleted because the filesystem store '
                   'operation timed out: %(exc)s' % {'id': image_id, 'exc': e.msg})
            LOG.error(msg)
            raise exc.ServiceUnavailable(msg) from None
        gone = 'pending_delete' if api.conf.delayed_delete and active_locations(image) \
            else 'deleted'
        api.notifier.image('image.delete', dict(image, status=gone), notifier.deleted())
        if getattr(api, 'cache_downloads', False):   # Glance's cache middleware on DELETE
            api.image_cache.delete_cached_image(ctx, image_id)
        write_empty(resp)


# How often a delete starts over after another request changed the image's status.
DELETE_ATTEMPTS = 3


def delete_image(api, ctx, image):
    """Delete ``image``; deletes racing on one image all succeed, as in Glance 33.

    Glance's delete has no compare-and-swap, so overlapping deletes each answer 204. Here
    the one that loses the status CAS (or finds the row gone) returns as if it had done the
    work: another delete holds or finished the image. A status change by anything else
    (deactivate, an upload finishing) makes the delete start over from the new status.
    :raises: Forbidden (protected meanwhile), store errors, Conflict (still losing).
    """
    for attempt in range(DELETE_ATTEMPTS):
        try:
            _delete_once(api, ctx, image)
            return
        except reg_exc.ImageNotFound:
            return
        except reg_exc.Conflict:
            if attempt == DELETE_ATTEMPTS - 1:
                raise
        try:
            image = api.registry.image_get(ctx, image['id'])
        except reg_exc.ImageNotFound:
            return
        if image['status'] in ('pending_delete', 'deleted'):
            return
        if image['protected']:
            raise exc.Forbidden('Image %s is protected and cannot be deleted.' % image['id'])


def _delete_once(api, ctx, image):
    """Soft-delete the image row, then its bytes; an image never stays active without data.

    With data, the row first moves (CAS) to pending_delete; if a store refuses the delete
    (in use, unavailable) the status is rolled back and the error re-raised.
    """
    locations = active_locations(image)
    if not locations:
        api.registry.image_destroy(ctx, image['id'])
        if image['status'] == 'uploading' and getattr(api, 'staging', None) is not None:
            api.staging.discard(image['id'])   # NOTE: Glance deletes staged data too
        return
    if api.conf.delayed_delete:
        # NOTE: the scrubber deletes the data of pending_delete images later.
        api.registry.image_destroy(ctx, image['id'], status='pending_delete')
        return
    status = image['status']
    api.registry.image_update(ctx, image['id'], {'status': 'pending_delete'},
                              from_state=status)
    try:
        for loc in locations:
            location_data.delete_bytes(api.stores, loc['url'], loc.get('metadata'))
    except Exception:
        _rollback_status(api, ctx, image['id'], status)
        raise
    api.registry.image_destroy(ctx, image['id'], from_state='pending_delete')


def _rollback_status(api, ctx, image_id, status):
    try:
        api.registry.image_update(ctx, image_id, {'status': status},
                                  from_state='pending_delete')
    except Exception:  # NOTE: cleanup must never hide the original error.
        LOG.exception('Could not restore status %s of image %s', status, image_id)
