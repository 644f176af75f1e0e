"""PUT/DELETE /v2/images/{image_id}/tags/{tag}."""

from glance_api import exceptions as exc
from glance_api.images import updates as image_updates
from glance_api.rules import policy
from glance_api.web.bodies import write_empty
from glance_api.images.resources import get_image
from glance_registry import exceptions as reg_exc


class ImageTagResource:
    """Add or remove one tag of an image."""

    allowed = ('PUT', 'DELETE')
    body_reject = ('PUT', 'DELETE')

    def __init__(self, api):
        self.api = api

    def _image(self, ctx, image_id, verb):
        image = get_image(self.api.registry, ctx, image_id, 'Image %s not found.' % image_id)
        try:
            policy.enforce_image(self.api.policy, ctx, 'modify_image', image)
        except exc.NotImageOwner:
            raise exc.Forbidden('Not allowed to %s tags for image %s.'
                                % (verb, image_id)) from None
        return image

    def on_put(self, req, resp, image_id, tag):
        """Add a tag (idempotent)."""
        ctx = req.context.ctx
        image = self._image(ctx, image_id, 'update')
        self.api.schema.validate({'tags': [tag]})
        tags = image.get('tags') or []
        if tag not in tags:
            maximum = self.api.conf.image_tag_quota
            if 0 <= maximum < len(tags) + 1:
                raise exc.LimitExceeded('Image tag limit exceeded for image %s: %s:' % (
                    image_id, image_updates.tag_limit_message(len(tags) + 1, maximum)))
            try:
                self.api.registry.image_tag_add(ctx, image_id, tag)
            except reg_exc.ImageNotFound:
                raise exc.NotFound('Image %s not found.' % image_id) from None
        self.api.notifier.image('image.update', dict(
            image, tags=tags if tag in tags else tags + [tag]))   # NOTE: Glance saves always
        write_empty(resp)

    def on_delete(self, req, resp, image_id, tag):
        """Remove a tag."""
        ctx = req.context.ctx
        image = self._image(ctx, image_id, 'delete')
        if tag not in (image.get('tags') or []):
            raise exc.NotFound()
        try:
            self.api.registry.image_tag_delete(ctx, image_id, tag)
        except reg_exc.TagNotFound:
            raise exc.NotFound() from None
        except reg_exc.ImageNotFound:
            raise exc.NotFound('Image %s not found.' % image_id) from None
        self.api.notifier.image('image.update', dict(
            image, tags=[t for t in image['tags'] if t != tag]))
        write_empty(resp)
