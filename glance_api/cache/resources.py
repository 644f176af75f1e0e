"""Cache management API (Glance 33's glance/api/v2/cached_images.py).

Always routed, as Glance's router: ``/v2/cache`` (GET state, DELETE clear),
``/v2/cache/{image_id}`` (PUT queue, DELETE), ``/v2/cache/nodes/{image_id}``,
``/v2/cache/clean`` and ``/v2/cache/prune`` (POST). The older ``/v2/cached_images`` and
``/v2/queued_images`` routes (Glance's cachemanage middleware, used by
glance-cache-manage) only with a ``*cachemanagement`` flavor. Without image_cache_dir
every call that passes its policy answers 404, as Glance.
"""

import logging
import queue
import threading

import falcon

from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.web.bodies import write_empty, write_json
from glance_api.web.context import request_context
from glance_registry import exceptions as reg_exc

LOG = logging.getLogger(__name__)
NOT_SUPPORTED = 'Caching via API is not supported at this site.'
BAD_TARGET = "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."


class CacheWorker(threading.Thread):
    """Prefetch images queued through PUT /v2/cache/{id} in this process (Glance's WORKER).

    Built by glance_api.wiring with the Api; the thread starts with the first queued image
    (in the gunicorn worker, never in the master before the fork).
    """

    def __init__(self, service_auth, registry, cache):
        super().__init__(daemon=True, name='cache-worker')
        self.service_auth = service_auth
        self.registry = registry
        self.cache = cache
        self.jobs = queue.Queue()
        self._start_lock = threading.Lock()

    def submit(self, image_id):
        """Queue one image for prefetching (starting the thread the first time)."""
        self.jobs.put(image_id)
        if not self.is_alive():
            with self._start_lock:
                if self.ident is None:
                    self.start()

    def run(self):
        """Prefetch queued images one by one until the process ends."""
        while True:
            image_id = self.jobs.get()
            try:
                prefetch(self.service_auth.context(), self.registry, self.cache, image_id)
            except Exception:
                LOG.exception('Image cache: prefetch of %s failed', image_id)


def prefetch(ctx, registry, cache, image_id):
    """Cache one queued image now, acting as ``ctx`` (the service context); return True
    when cached (Glance's Prefetcher)."""
    try:
        image = registry.image_get(ctx, image_id)
    except reg_exc.ImageNotFound:
        LOG.warning("Image '%s' not found", image_id)
        return False
    if image['status'] != 'active':
        LOG.warning("Image '%s' is not active. Not caching.", image_id)
        return False
    return cache.fill(ctx, image)


class _CacheBase:
    """Shared policy check and lookups of the cache resources."""

    def __init__(self, api):
        self.api = api

    @property
    def cache(self):
        return getattr(self.api, 'image_cache', None)

    def _enforce(self, req, rule, image=None):
        ctx = request_context(req)
        target = policy.image_target(ctx, image) if image is not None else {}
        # NOTE: Glance 33 answers "You are not authorized to complete <rule> action."
        self.api.policy.enforce(ctx, rule, target)
        if self.cache is None:
            raise exc.NotFound(NOT_SUPPORTED)
        return ctx

    def _image(self, req, image_id):
        try:
            return self.api.registry.image_get(request_context(req), image_id)
        except reg_exc.ImageNotFound:
            return None


class CacheResource(_CacheBase):
    """``/v2/cache``: the cache state, and clearing it."""

    body_reject = ('GET',)

    def on_get(self, req, resp):
        """Answer ``{"cached_images": [...], "queued_images": [...]}``."""
        ctx = self._enforce(req, 'cache_list')
        write_json(resp, {'cached_images': self.cache.get_cached_images(ctx),
                          'queued_images': self.cache.get_queued_images()})

    def on_delete(self, req, resp):
        """Clear the cache and/or the queue (x-image-cache-clear-target); 204."""
        ctx = self._enforce(req, 'cache_delete')
        target = (req.get_header('x-image-cache-clear-target') or '').lower()
        if target not in ('', 'cache', 'queue'):
            raise exc.BadRequest(BAD_TARGET)
        if target in ('', 'cache'):
            self.cache.delete_all_cached_images(ctx)
        if target in ('', 'queue'):
            self.cache.delete_all_queued_images()
        write_empty(resp)


class CacheEntryResource(_CacheBase):
    """``/v2/cache/{image_id}``: queue an image for caching, or drop it."""

    def on_put(self, req, resp, image_id):
        """Queue an active image and start prefetching it here (202)."""
        image = self._image(req, image_id)
        if image is None:
            raise exc.NotFound('Image %s not found.' % image_id)
        self._enforce(req, 'cache_image', image)
        if image['status'] != 'active':
            raise exc.BadRequest('Only images with status active can be targeted for '
                                 'queueing')
        self.cache.queue_image(image_id)
        self.api.cache_worker.submit(image_id)
        write_empty(resp, 202)

    def on_delete(self, req, resp, image_id):
        """Remove an image from the cache and the queue (204)."""
        image = self._image(req, image_id)
        if image is None and self.cache is not None and not self._known(req, image_id):
            raise exc.NotFound('Image %s not found.' % image_id)
        ctx = self._enforce(req, 'cache_delete', image)
        self.cache.delete_cached_image(ctx, image_id)
        self.cache.delete_queued_image(image_id)
        write_empty(resp)

    def _known(self, req, image_id):
        if image_id in self.cache.get_queued_images():
            return True
        ctx = request_context(req)
        return any(e['image_id'] == image_id for e in self.cache.get_cached_images(ctx))


class CachedNodesResource(_CacheBase):
    """``/v2/cache/nodes/{image_id}``: the api nodes caching an image (centralized_db)."""

    body_reject = ('GET',)

    def on_get(self, req, resp, image_id):
        """Answer the list of node URLs."""
        ctx = self._enforce(req, 'list_cached_nodes')
        if (self.api.conf.image_cache_driver or '').lower() != 'centralized_db':
            raise exc.Conflict('Centralized caching is not enabled')
        if self._image(req, image_id) is None:
            raise exc.NotFound('Image %s not found.' % image_id)
        write_json(resp, self.cache.index.nodes(ctx, image_id))


class CacheCleanResource(_CacheBase):
    """``/v2/cache/clean``: remove invalid and stalled files (200, empty)."""

    def on_post(self, req, resp):
        """Clean the cache directory."""
        self._enforce(req, 'cache_clean')
        self.cache.clean()
        write_empty(resp, 200)


class CachePruneResource(_CacheBase):
    """``/v2/cache/prune``: evict least recently used images down to the max size."""

    def on_post(self, req, resp):
        """Answer ``{"total_files_pruned": n, "total_bytes_pruned": n}``."""
        ctx = self._enforce(req, 'cache_prune')
        files, size = self.cache.prune(ctx)
        write_json(resp, {'total_files_pruned': files, 'total_bytes_pruned': size})


class LegacyCachedImagesResource(_CacheBase):
    """``/v2/cached_images[/{image_id}]`` of Glance's cachemanage middleware."""

    def on_get(self, req, resp, image_id=None):
        """Answer ``{"cached_images": [...]}``."""
        if image_id is not None:
            raise falcon.HTTPNotFound()
        ctx = self._enforce(req, 'manage_image_cache')
        write_json(resp, {'cached_images': self.cache.get_cached_images(ctx)})

    def on_delete(self, req, resp, image_id=None):
        """Remove one image (``null``) or all (``{"num_deleted": n}``)."""
        ctx = self._enforce(req, 'manage_image_cache')
        if image_id is None:
            write_json(resp, {'num_deleted': self.cache.delete_all_cached_images(ctx)})
            return
        self.cache.delete_cached_image(ctx, image_id)
        write_json(resp, None)


class LegacyQueuedImagesResource(_CacheBase):
    """``/v2/queued_images[/{image_id}]`` of Glance's cachemanage middleware."""

    def on_get(self, req, resp, image_id=None):
        """Answer ``{"queued_images": [...]}``."""
        if image_id is not None:
            raise falcon.HTTPNotFound()
        self._enforce(req, 'manage_image_cache')
        write_json(resp, {'queued_images': self.cache.get_queued_images()})

    def on_put(self, req, resp, image_id=None):
        """Queue an image (no check that it exists: the prefetcher does that)."""
        if image_id is None:
            raise falcon.HTTPNotFound()
        self._enforce(req, 'manage_image_cache')
        self.cache.queue_image(image_id)
        write_json(resp, None)

    def on_delete(self, req, resp, image_id=None):
        """Unqueue one image (``null``) or all (``{"num_deleted": n}``)."""
        self._enforce(req, 'manage_image_cache')
        if image_id is None:
            write_json(resp, {'num_deleted': self.cache.delete_all_queued_images()})
            return
        self.cache.delete_queued_image(image_id)
        write_json(resp, None)


def routes(api, management):
    """Return the cache routes ([(template, resource)]); legacy ones with ``management``."""
    table = [
        ('/v2/cache', CacheResource(api)),
        ('/v2/cache/{image_id}', CacheEntryResource(api)),
        ('/v2/cache/nodes/{image_id}', CachedNodesResource(api)),
        ('/v2/cache/clean', CacheCleanResource(api)),
        ('/v2/cache/prune', CachePruneResource(api)),
    ]
    if management:
        cached, queued = LegacyCachedImagesResource(api), LegacyQueuedImagesResource(api)
        table += [('/v2/cached_images', cached), ('/v2/cached_images/{image_id}', cached),
                  ('/v2/queued_images', queued), ('/v2/queued_images/{image_id}', queued)]
    return table
