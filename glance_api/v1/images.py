"""/v1/images, /v1/images/detail and /v1/images/{id}: the Images API v1 (the map's §2.1-2.6).

Every call goes through the same registry client, policy rules, property protections,
quotas, upload and download code as /v2; only the wire format (``x-image-meta-*`` headers,
``{"image": ...}`` bodies, ``is_public``) is v1's.
"""

import functools

import falcon

from glance_api import exceptions as exc
from glance_api import notifier
from glance_api.data import downloads
from glance_api.data import image_data
from glance_api.images import resources as v2_images
from glance_api.images import updates as image_updates
from glance_api.rules import policy
from glance_api.rules import quota
from glance_api.v1 import headers as meta
from glance_api.v1 import listing
from glance_api.v1 import sources
from glance_api.web.bodies import has_body, write_json
from glance_registry import exceptions as reg_exc
from glance_server import bodies
from stores import exceptions as store_exc

OCTET_STREAM = 'application/octet-stream'
# Queens' v1 router mapped "/" and "/shared-images/{m}" with no method condition.
ANY_METHOD = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH')
_EMPTY = 'text/html; charset=UTF-8'
# Core fields a v1 create or update writes to the registry as they are.
_COLUMNS = ('name', 'disk_format', 'container_format', 'min_ram', 'min_disk', 'protected')


def lookup(api, ctx, image_id):
    """Return a visible image (``get_image`` policy applied; deleted ones for admins).

    :raises: NotFound "Image with identifier X not found"
    """
    message = 'Image with identifier %s not found' % image_id
    try:
        # NOTE: deleted rows are visible to admins only, as in Queens (HEAD shows them).
        image = api.registry.image_get(ctx, image_id, include_deleted=ctx.is_admin)
    except reg_exc.ImageNotFound:
        raise exc.NotFound(message) from None
    try:
        policy.enforce_image(api.policy, ctx, 'get_image', image)
    except exc.NotFound:
        raise exc.NotFound(message) from None
    return image


def view(api, ctx, image):
    """Return the v1 JSON image as ``ctx`` may read it (read-protected properties gone)."""
    props = image.get('properties') or {}
    if api.protections is not None:
        props = api.protections.checker(ctx).readable(props)
    return meta.v1_image(image, props)


def ignore_body(req):
    """Read and drop a body the answer does not use (Queens ignored it).

    NOTE: a body left unread would be parsed as the connection's next request.
    """
    if has_body(req):
        bodies.drain(req.stream)


def _drain_on_refusal(responder):
    """Drop what is left of the body when a create or update is refused (4xx), so the
    client, still sending, reads the answer instead of a reset connection."""
    @functools.wraps(responder)
    def wrapper(self, req, resp, *args, **kwargs):
        try:
            return responder(self, req, resp, *args, **kwargs)
        except exc.ApiError:
            bodies.drain(req.stream)
            raise
    return wrapper


def _write_image(resp, image_view, status=200):
    write_json(resp, {'image': image_view}, status=status)
    if image_view.get('checksum'):
        resp.set_header('ETag', image_view['checksum'])


class ImagesResource:
    """GET (brief list) and POST (create) /v1/images."""

    allowed = ('GET', 'POST')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp):
        """List images: id, name, formats, checksum and size."""
        images = listing.visible_images(self.api, req)
        write_json(resp, {'images': [
            {key: image.get(key) for key in ('id', 'name', 'disk_format', 'container_format',
                                             'checksum')} | {'size': image.get('size') or 0}
            for image in images]})

    @_drain_on_refusal
    def on_post(self, req, resp):
        """Create an image: a reservation, with data, a location or a copy-from URL (201)."""
        api, ctx = self.api, req.context.ctx
        core, props = meta.read(req)
        meta.check_formats(api.conf, core)
        source = sources.Source.of(api, req, core)
        _check_create(api, ctx, core, props, source)
        image = _reserve(api, ctx, core, props, source)
        api.notifier.image('image.create', image)
        image = source.apply(api, ctx, image, core)
        _write_image(resp, view(api, ctx, image), status=201)
        resp.set_header('Location', '%s://%s/v1/images/%s' % (req.scheme, req.netloc,
                                                              image['id']))


class RootResource:
    """Any method on /v1 and /v1/: the brief list, as Queens' router answered "/"."""

    allowed = ANY_METHOD

    def __init__(self, api):
        self.images = ImagesResource(api)

    def _list(self, req, resp):
        """List images as GET /v1/images does, whatever the method."""
        ignore_body(req)
        self.images.on_get(req, resp)

    on_get = on_head = on_post = on_put = on_delete = on_patch = _list


def _check_create(api, ctx, core, props, source):
    owner = core.get('owner', ctx.project_id) if ctx.is_admin else ctx.project_id
    target = {'project_id': owner, 'owner': owner, 'member_id': None,
              'visibility': 'public' if core.get('is_public') else 'shared'}
    api.policy.enforce(ctx, 'add_image', target)
    if core.get('is_public'):
        api.policy.enforce(ctx, 'publicize_image', target)
    source.enforce(api, ctx, target)
    if api.protections is not None:
        checker = api.protections.checker(ctx)
        for key in props:
            _require(checker, key, 'create')
    image_updates.check_property_quota(api.conf, props)
    quota.enforce(api.conf, api.registry, ctx, {quota.IMAGE_COUNT_TOTAL: 1})
    source.size_location(api, core.get('size'))   # last: it reaches out to the URL


def _reserve(api, ctx, core, props, source):
    values = {key: core[key] for key in _COLUMNS if key in core}
    values['visibility'] = 'public' if core.get('is_public') else 'shared'
    values['owner'] = core.get('owner', ctx.project_id) if ctx.is_admin else ctx.project_id
    values['size'] = core.get('size') or 0
    values['status'] = 'active' if core.get('size') == 0 and source.kind is None \
        else 'queued'
    values['properties'] = props
    values['id'] = core.get('id') or image_updates.new_id()
    try:
        return api.registry.image_create(ctx, values)
    except reg_exc.Duplicate:
        raise exc.Conflict('An image with identifier %s already exists' % values['id']) \
            from None


class DetailResource:
    """GET /v1/images/detail: the full images."""

    allowed = ('GET', 'HEAD')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp):
        """List images with every field and the readable properties."""
        ctx = req.context.ctx
        images = listing.visible_images(self.api, req)
        write_json(resp, {'images': [view(self.api, ctx, i) for i in images]})

    def on_head(self, req, resp):
        """Queens' 405 for HEAD on the detail list, with ``Allow: GET``."""
        raise exc.MethodNotAllowed(('GET',))


class ImageResource:
    """HEAD (metadata), GET (data), PUT (update/upload) and DELETE /v1/images/{id}."""

    allowed = ('GET', 'HEAD', 'PUT', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_head(self, req, resp, image_id):
        """Answer the image's metadata as x-image-meta-* headers."""
        ctx = req.context.ctx
        image = lookup(self.api, ctx, image_id)
        for name, value in meta.to_headers(view(self.api, ctx, image)).items():
            resp.set_header(name, value)
        resp.content_type = _EMPTY
        resp.content_length = 0

    def on_get(self, req, resp, image_id):
        """Send the image data with its metadata headers (always 200, Range ignored)."""
        api, ctx = self.api, req.context.ctx
        image = lookup(api, ctx, image_id)
        if image['status'] == 'deactivated':
            raise exc.Forbidden('Image %s is deactivated' % image_id)
        if image['status'] != 'active':
            policy.enforce_image(api.policy, ctx, 'download_image', image)
            raise exc.NotFound('Image %s is not active' % image_id)
        image_view = view(api, ctx, image)
        body, length = b'', 0
        if image.get('size') != 0:
            plan = downloads.prepare(api.registry, api.stores, ctx, image_id,
                                     enforcer=api.policy,
                                     cache=api.image_cache if api.cache_downloads else None)
            if plan.status == 204:
                raise exc.NotFound('Image %s has no data' % image_id)
            body, length = plan.body, plan.length
            image_view['size'] = length
            if plan.image is not None:
                body = notifier.count_sent(body, image_data.sent_callback(
                    api.notifier, api.stores, ctx, plan))
        else:
            policy.enforce_image(api.policy, ctx, 'download_image', image)
        for name, value in meta.to_headers(image_view).items():
            resp.set_header(name, value)
        resp.content_type = OCTET_STREAM
        resp.content_length = length
        if body:
            resp.stream = body
        else:
            resp.data = b''

    @_drain_on_refusal
    def on_put(self, req, resp, image_id):
        """Update the metadata, and upload data into a queued image (200)."""
        api, ctx = self.api, req.context.ctx
        core, props = meta.read(req)
        meta.check_formats(api.conf, core)
        purge = meta.parse_bool('x-glance-registry-purge-props',
                                req.get_header('x-glance-registry-purge-props') or 'true')
        image = lookup(api, ctx, image_id)
        policy.enforce_image(api.policy, ctx, 'modify_image', image)
        if core.get('is_public'):
            api.policy.enforce(ctx, 'publicize_image', policy.image_target_for(ctx, image))
        _check_update(ctx, image, core)   # NOTE: Queens' refusals come before the source's
        source = sources.Source.of(api, req, core, image)
        source.enforce(api, ctx, policy.image_target_for(ctx, image))
        source.size_location(api, core.get('size'))
        values = _update_values(api, ctx, image, core, props, purge and source.kind is None)
        try:
            image = api.registry.image_update(ctx, image_id, values,
                                              purge_props='properties' in values and purge
                                              and source.kind is None)
        except reg_exc.ImageNotFound:
            raise exc.NotFound('Image with identifier %s not found' % image_id) from None
        image = source.apply(api, ctx, image, core)
        api.notifier.image('image.update', image)
        _write_image(resp, view(api, ctx, image))

    def on_delete(self, req, resp, image_id):
        """Delete the image and its data (200, empty body)."""
        api, ctx = self.api, req.context.ctx
        image = lookup(api, ctx, image_id)
        policy.enforce_image(api.policy, ctx, 'delete_image', image)
        if image['protected']:
            raise exc.Forbidden('Image is protected')
        if image['status'] == 'pending_delete':
            raise exc.Forbidden('Forbidden to delete a pending_delete image.')
        if image['status'] == 'deleted':
            raise exc.NotFound('Image %s not found.' % image_id)
        try:
            v2_images.delete_image(api, ctx, image)
        except store_exc.InUseByStore as e:
            raise exc.Conflict('Image %s could not be deleted because it is in use: %s'
                               % (image_id, e.msg)) from None
        api.notifier.image('image.delete', dict(image, status='deleted'))
        if api.cache_downloads:
            api.image_cache.delete_cached_image(ctx, image_id)
        resp.status = falcon.HTTP_200
        resp.content_type = _EMPTY
        resp.data = b''


def _check_update(ctx, image, core):
    if image['status'] == 'deleted':
        raise exc.Forbidden('Forbidden to update deleted image.')
    for key in ('status', 'id'):
        if key in core and core[key] != image.get(key):
            raise exc.Forbidden("Forbidden to modify '%s' of image." % key)
    if not ctx.is_admin and image['status'] in ('active', 'deactivated'):
        for key in ('size', 'checksum'):
            if key in core and core[key] != image.get(key):
                raise exc.Forbidden("Forbidden to modify '%s' of active image." % key)


def _require(checker, key, op):
    """Raise v1's 403 "Property 'k' is protected" unless the caller may do ``op`` on key."""
    if not checker.can(key, op):
        raise exc.Forbidden("Property '%s' is protected" % key)


def _update_values(api, ctx, image, core, props, purge):
    values = {key: core[key] for key in _COLUMNS if key in core}
    if 'is_public' in core:
        values['visibility'] = 'public' if core['is_public'] else 'shared'
    if 'owner' in core and ctx.is_admin:
        values['owner'] = core['owner']
    old = image.get('properties') or {}
    checker = api.protections.checker(ctx) if api.protections is not None else None
    if checker is not None:
        for key, value in props.items():
            if key not in old:
                _require(checker, key, 'create')
                continue
            # NOTE: Queens let a caller resend a readable value it may not update.
            _require(checker, key, 'read')
            if old[key] != value:
                _require(checker, key, 'update')
    if purge:
        for key in old:
            if key not in props and checker is not None:
                if not checker.can(key, 'read'):
                    props[key] = old[key]   # NOTE: read-protected ones are silently kept
                else:
                    _require(checker, key, 'delete')
        if props != old:
            values['properties'] = props
        image_updates.check_property_quota(api.conf, props)
    elif props:
        values['properties'] = props
        image_updates.check_property_quota(api.conf, {**old, **props})
    return values
