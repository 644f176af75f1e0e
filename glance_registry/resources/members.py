"""Member resources of the registry protocol."""

import falcon

from glance_registry.resources import bodies
from glance_registry.resources.images import render


class MembersResource:
    """``/images/{image_id}/members``: list and add members."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id):
        """List the live members, narrowed to one project by ``?member=``."""
        member = req.get_param('member') or None
        render(resp, {'members': self.repo.member_list(image_id, member=member)})

    def on_post(self, req, resp, image_id):
        """Add a member from ``{"member": P, "can_share": bool}``."""
        body = bodies.load(req, bodies.MEMBER_CREATE)
        member = self.repo.member_create(image_id, body['member'],
                                         can_share=body.get('can_share', False))
        render(resp, {'member': member}, falcon.HTTP_201)


class MemberResource:
    """``/images/{image_id}/members/{member}``: show, change status, remove."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id, member):
        """Show one member."""
        render(resp, {'member': self.repo.member_get(image_id, member)})

    def on_put(self, req, resp, image_id, member):
        """Set the member status from ``{"status": s}``."""
        status = bodies.load(req, bodies.MEMBER_UPDATE)['status']
        render(resp, {'member': self.repo.member_update(image_id, member, status)})

    def on_delete(self, req, resp, image_id, member):
        """Remove a member."""
        self.repo.member_delete(image_id, member)
        resp.status = falcon.HTTP_204
