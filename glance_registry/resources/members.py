"""Member resources of the registry protocol.

Glance's rules (glance_registry.rights): the members of an image the caller cannot see are a
404; its owner (or an admin) sees every member and adds or removes them; anyone else sees
only its own membership, and only the member itself changes its status.
"""

import falcon

from glance_registry import exceptions, rights
from glance_registry.resources import bodies
from glance_registry.resources.bodies import render
from glance_registry.resources.images import visible_image


class MembersResource:
    """``/images/{image_id}/members``: list and add members."""

    checks_rights = True   # rights.ServiceGate

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id):
        """List the live members the caller may see, narrowed to one by ``?member=``."""
        ctx = req.context.ctx
        image = visible_image(self.repo, ctx, image_id)
        member = req.get_param('member') or None
        found = self.repo.member_list(image_id, member=member)
        render(resp, {'members': rights.visible_members(ctx, image, found)})

    def on_post(self, req, resp, image_id):
        """Add a member from ``{"member": P, "can_share": bool}``."""
        body = bodies.load(req, bodies.MEMBER_CREATE)
        ctx = req.context.ctx
        rights.check_share(ctx, visible_image(self.repo, ctx, image_id))
        rights.require_service(ctx)
        member = self.repo.member_create(image_id, body['member'],
                                         can_share=body.get('can_share', False))
        render(resp, {'member': member}, falcon.HTTP_201)


class MemberResource:
    """``/images/{image_id}/members/{member}``: show, change status, remove."""

    checks_rights = True   # rights.ServiceGate

    def __init__(self, repo):
        self.repo = repo

    def _visible(self, ctx, image_id, member):
        image = visible_image(self.repo, ctx, image_id)
        if not rights.visible_members(ctx, image, [{'member': member}]):
            raise exceptions.MemberNotFound(
                'Member %s not found for image %s' % (member, image_id))
        return image

    def on_get(self, req, resp, image_id, member):
        """Show one member."""
        self._visible(req.context.ctx, image_id, member)
        render(resp, {'member': self.repo.member_get(image_id, member)})

    def on_put(self, req, resp, image_id, member):
        """Set the member status from ``{"status": s}``."""
        status = bodies.load(req, bodies.MEMBER_UPDATE)['status']
        ctx = req.context.ctx
        self._visible(ctx, image_id, member)
        rights.check_member_status(ctx, member)
        rights.require_service(ctx)
        render(resp, {'member': self.repo.member_update(image_id, member, status)})

    def on_delete(self, req, resp, image_id, member):
        """Remove a member."""
        ctx = req.context.ctx
        rights.check_share(ctx, visible_image(self.repo, ctx, image_id))
        rights.require_service(ctx)
        self.repo.member_delete(image_id, member)
        resp.status = falcon.HTTP_204
