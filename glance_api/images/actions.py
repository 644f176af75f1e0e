"""POST /v2/images/{image_id}/actions/deactivate and /reactivate."""

from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.web.bodies import write_empty
from glance_api.images.resources import get_image
from glance_registry import exceptions as reg_exc

# action -> (policy rule, status it needs, status it sets)
ACTIONS = {
    'deactivate': ('deactivate', 'active', 'deactivated'),
    'reactivate': ('reactivate', 'deactivated', 'active'),
}


class ImageActionResource:
    """Deactivate or reactivate an image (204, no body)."""

    allowed = ('POST',)
    body_reject = ('POST',)

    def __init__(self, api, action):
        self.api = api
        self.rule, self.from_status, self.to_status = ACTIONS[action]
        self.action = action

    def on_post(self, req, resp, image_id):
        """Change the image status with a compare-and-swap."""
        ctx = req.context.ctx
        image = get_image(self.api.registry, ctx, image_id)
        policy.enforce_image(self.api.policy, ctx, self.rule, image)
        status = image['status']
        if status != self.to_status:
            if status != self.from_status:
                raise exc.Forbidden("Not allowed to %s image in status '%s'"
                                    % (self.action, status))
            try:
                self.api.registry.image_update(ctx, image_id, {'status': self.to_status},
                                               from_state=self.from_status)
            except reg_exc.ImageNotFound:
                raise exc.NotFound('No image found with ID %s' % image_id) from None
            except reg_exc.Conflict:
                self._lost(ctx, image_id)
        # NOTE: Glance saves (and so sends image.update) even when nothing changed.
        self.api.notifier.image('image.update', dict(image, status=self.to_status))
        write_empty(resp)

    def _lost(self, ctx, image_id):
        """Answer as Glance when another request changed the status first.

        Glance saves without a compare-and-swap: a racing request that set the same status
        succeeded alongside this one; any other status is what Glance's check refuses.
        """
        current = get_image(self.api.registry, ctx, image_id)
        if current['status'] != self.to_status:
            raise exc.Forbidden("Not allowed to %s image in status '%s'"
                                % (self.action, current['status']))
