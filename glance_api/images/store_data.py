"""DELETE /v2/stores/{store_id}/{image_id}: drop an image's copy in one store (v2.10).

Glance's checks, codes and messages (docs/glance-api.md §6); then, unlike Glance, the image is
saved without the location *before* its data is deleted (compare-and-swap on ``active``),
and the data is queued for the scrubber first, so a failure at any point leaves neither an
image pointing at deleted data nor data nobody will delete. An RBD image that Nova cloned
(``InUseByStore``) keeps its location and answers Glance's 409.
"""

import logging

from glance_api import exceptions as exc
from glance_api.data import locations as location_data
from glance_api.rules import policy
from glance_api.web.bodies import write_empty
from glance_api.images.views import active_locations
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)


class StoreImageResource:
    """``/v2/stores/{store_id}/{image_id}``."""

    allowed = ('DELETE',)

    def __init__(self, api):
        self.api = api

    def on_delete(self, req, resp, store_id, image_id):
        """Remove the image's location in ``store_id`` and delete that data (204)."""
        api, ctx = self.api, req.context.ctx
        if not api.conf.enabled_backends:
            raise exc.NotFound('The resource could not be found.')
        if store_id not in api.conf.enabled_backends:
            raise exc.Conflict('The selected store %s is not available on this node.'
                               % store_id)
        try:
            image = api.registry.image_get(ctx, image_id)
        except reg_exc.ImageNotFound:
            raise exc.NotFound('Failed to find image %s' % image_id) from None
        policy.enforce_image(api.policy, ctx, 'get_image_location', image)
        policy.enforce_image(api.policy, ctx, 'delete_image_location', image)
        if image['status'] != 'active':
            raise exc.Conflict("It's not allowed to remove image data from store if "
                               "image status is not 'active'")
        locations = active_locations(image)
        if len(locations) == 1:
            raise exc.Forbidden('Cannot delete image data from the only store containing '
                                'it. Consider deleting the image instead.')
        found = [i for i, loc in enumerate(locations)
                 if (loc.get('metadata') or {}).get('store') == store_id]
        if not found:
            raise exc.NotFound('Image %s is not stored in store %s.' % (image_id, store_id))
        pos = found[0]
        removed = locations.pop(pos)
        try:
            api.registry.image_update(ctx, image_id, {'locations': locations},
                                      from_state='active')
        except reg_exc.Conflict:
            raise exc.Conflict("It's not allowed to remove image data from store if "
                               "image status is not 'active'") from None
        queued = location_data.queue_for_scrubber(api, ctx, image_id, [removed])
        if not api.conf.delayed_delete:
            try:
                location_data.delete_now(api, ctx, queued)
            except store_exc.InUseByStore as e:
                # NOTE: the data stays: the image keeps pointing at it, as in Glance.
                restored = locations[:pos] + [removed] + locations[pos:]
                api.registry.image_update(ctx, image_id, {'locations': restored})
                api.registry.release_location(ctx, queued[0][1])
                msg = ('The data for Image %(id)s could not be deleted because it is in '
                       'use: %(exc)s' % {'id': image_id, 'exc': e.msg})
                LOG.warning(msg)
                raise exc.Conflict(msg) from None
        write_empty(resp, 204)
