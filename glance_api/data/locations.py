"""Deleting image bytes, and queueing them for glance-scrubber, when an image or a location
goes (Glance's location removal and image delete).

The data of a removed location is first recorded as ``pending_delete`` in the registry's
scrub queue, then deleted at once unless ``delayed_delete``; what a store cannot delete now
stays queued, so bytes are never orphaned.
"""

import logging

from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)


def delete_bytes(stores, url, metadata=None):
    """Delete the data at ``url`` (in the store its ``metadata`` names, in multi-store);
    gone already or read-only stores are not errors."""
    try:
        stores.for_location(url, metadata).delete(url)
    except store_exc.NotFound:
        LOG.warning('Image data at %s was already gone', url)
    except (store_exc.StoreDeleteNotSupported, store_exc.UnknownScheme):
        LOG.info('Image data at %s cannot be deleted by this store; left in place', url)


def queue_for_scrubber(api, ctx, image_id, locations):
    """Record the data of removed ``locations`` as pending_delete; return the entries."""
    return [(loc, api.registry.reserve_location(ctx, image_id, loc['url'],
                                                loc.get('metadata') or {}))
            for loc in locations]


def delete_now(api, ctx, queued):
    """Delete queued data; release each entry whose data is gone.

    Entries a store could not delete stay queued for glance-scrubber.

    :raises: store_exc.InUseByStore (the entry stays queued; the caller decides)
    """
    for loc, row_id in queued:
        try:
            api.stores.for_location(loc['url'], loc.get('metadata')).delete(loc['url'])
        except store_exc.NotFound:
            LOG.warning('Image data at %s was already gone', loc['url'])
        except store_exc.InUseByStore:
            raise
        except (store_exc.StoreDeleteNotSupported, store_exc.UnknownScheme):
            LOG.info('Image data at %s cannot be deleted by this store; left in place',
                     loc['url'])
        except Exception as e:
            LOG.warning('Unable to delete image data at %s (%s); glance-scrubber will',
                        loc['url'], e)
            continue
        api.registry.release_location(ctx, row_id)


def delete_removed(api, ctx, before, after):
    """Delete the data of the locations ``before`` had and the saved ``after`` has not.

    As Glance's location removal, but only once the image no longer points at them, so a
    lost race never deletes data an image still uses. The data is first queued for
    glance-scrubber (pending_delete), then deleted at once unless ``delayed_delete``; what
    a store cannot delete now stays queued. The image is already saved.
    """
    kept = {loc['url'] for loc in after.get('locations') or ()}
    removed = [loc for loc in before.get('locations') or ()
               if loc['url'] not in kept and loc.get('status') != 'deleted']
    if not removed:
        return
    queued = queue_for_scrubber(api, ctx, after['id'], removed)
    if api.conf.delayed_delete:
        return
    try:
        delete_now(api, ctx, queued)
    except store_exc.InUseByStore as e:   # NOTE: stays queued; the metadata change stands
        LOG.warning('Image data of a removed location is in use; glance-scrubber will '
                    'retry: %s', e)
