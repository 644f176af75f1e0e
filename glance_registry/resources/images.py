"""Image resources of the registry protocol: create, search, show, update, destroy, tags."""

import falcon

from glance_registry import exceptions, rights
from glance_registry.resources import bodies
from glance_registry.resources.bodies import render


def visible_image(repo, ctx, image_id):
    """Return the image ``ctx`` can see; ImageNotFound (404) when it cannot."""
    return repo.image_get(image_id, project_id=ctx.project_id, is_admin=ctx.is_admin)


def writable_image(repo, ctx, image_id):
    """Return the image if ``ctx`` may change it and glance-api forwarded the call.

    :raises: ImageNotFound (invisible), Forbidden (not the owner, or not from glance-api).
    """
    image = visible_image(repo, ctx, image_id)
    rights.check_mutable(ctx, image)
    rights.require_service(ctx)
    return image


class ImagesResource:
    """``/images``: create an image (glance-api only; owned by the caller's project)."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Create an image from ``{"image": values}``."""
        values = bodies.load(req, bodies.IMAGE_CREATE)['image']
        values = rights.check_create(req.context.ctx, values)
        render(resp, {'image': self.repo.image_create(values)}, falcon.HTTP_201)


class ImageSearchResource:
    """``/images/search``: list the images a list query selects."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"images": [...]}`` for the list query of internals §2.1."""
        query = bodies.search_query(req)
        ctx = req.context.ctx
        images = self.repo.image_list(project_id=ctx.project_id, is_admin=ctx.is_admin,
                                      **query)
        render(resp, {'images': images})


class ImageResource:
    """``/images/{image_id}``: show, update and destroy one image."""

    checks_rights = True   # rights.ServiceGate

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id):
        """Show an image the caller can see; ``include_deleted`` is for admins."""
        ctx = req.context.ctx
        include_deleted = req.get_param_as_bool('include_deleted', default=False)
        if include_deleted and not ctx.is_admin:
            raise exceptions.Forbidden('include_deleted is only allowed to admins')
        image = self.repo.image_get(image_id, project_id=ctx.project_id,
                                    is_admin=ctx.is_admin, include_deleted=include_deleted)
        render(resp, {'image': image})

    def on_patch(self, req, resp, image_id):
        """Update an image, as a compare-and-swap when ``from_state`` is given."""
        body = bodies.load(req, bodies.IMAGE_UPDATE)
        ctx = req.context.ctx
        rights.check_update(ctx, visible_image(self.repo, ctx, image_id), body['values'])
        rights.require_service(ctx)
        image = self.repo.image_update(image_id, body['values'],
                                       from_state=body.get('from_state'),
                                       purge_props=body.get('purge_props', False))
        render(resp, {'image': image})

    def on_delete(self, req, resp, image_id):
        """Soft-delete an image and answer it as it was before.

        ``?status=pending_delete`` marks it for the scrubber (delayed delete).
        """
        kwargs = {'from_state': req.get_param('from_state') or None}
        status = req.get_param('status')
        if status is not None:
            if status not in ('deleted', 'pending_delete'):
                raise exceptions.BadRequest('status must be deleted or pending_delete')
            kwargs['status'] = status
        writable_image(self.repo, req.context.ctx, image_id)
        render(resp, {'image': self.repo.image_destroy(image_id, **kwargs)})


class ImageTagResource:
    """``/images/{image_id}/tags/{tag}``: add or remove one tag."""

    checks_rights = True   # rights.ServiceGate

    def __init__(self, repo):
        self.repo = repo

    @staticmethod
    def _check(tag):
        if not tag or len(tag) > 255:
            raise exceptions.BadRequest('A tag must be 1 to 255 characters long')

    def on_put(self, req, resp, image_id, tag):
        """Add a tag (idempotent)."""
        self._check(tag)
        writable_image(self.repo, req.context.ctx, image_id)
        self.repo.image_tag_add(image_id, tag)
        resp.status = falcon.HTTP_204

    def on_delete(self, req, resp, image_id, tag):
        """Remove a tag."""
        self._check(tag)
        writable_image(self.repo, req.context.ctx, image_id)
        self.repo.image_tag_delete(image_id, tag)
        resp.status = falcon.HTTP_204
