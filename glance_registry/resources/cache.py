"""Image-cache resources of the registry protocol (``glance_db.cache.CacheRepo`` over JSON).

Glance 33's centralized_db cache driver, with the database behind the registry:

| Call | Body → answer |
|---|---|
| ``POST /cache/nodes`` | ``{"node": url}`` → 201 (409 Duplicate when recorded) |
| ``POST /cache/search`` | ``{"node": url}`` → ``{"cached_images": [...]}`` (LRU first) |
| ``POST /cache/images`` | ``{"node", "image_id", "size", "checksum"}`` → 204 |
| ``POST /cache/hits`` | ``{"node", "image_id"}`` → 204 |
| ``POST /cache/delete`` | ``{"node", "image_id": id|null}`` → ``{"deleted": n}`` |
| ``GET /cache/images/{image_id}/nodes`` | → ``{"nodes": [url, ...]}`` |
"""

import falcon

from glance_registry import rights
from glance_registry.resources import bodies
from glance_registry.resources.bodies import render

_NODE = {'type': 'string', 'minLength': 1, 'maxLength': 255}
_IMAGE_ID = {'type': 'string', 'minLength': 1, 'maxLength': 36}


def _schema(required, **props):
    props = dict({'node': _NODE}, **props)
    return {'type': 'object', 'properties': props, 'required': ['node', *required],
            'additionalProperties': False}


NODE = _schema([])
ADD = _schema(['image_id', 'size'], image_id=_IMAGE_ID,
              size={'type': 'integer', 'minimum': 0, 'maximum': bodies.INT64_MAX},
              checksum={'type': ['string', 'null'], 'maxLength': 32})
HIT = _schema(['image_id'], image_id=_IMAGE_ID)
DELETE = _schema([], image_id={'type': ['string', 'null'], 'maxLength': 36})
bodies.register(NODE, ADD, HIT, DELETE)


class NodesResource:
    """``/cache/nodes``: record an api node."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Record ``{"node": url}`` (201)."""
        rights.require_service(req.context.ctx)   # beside ServiceGate: checked here too
        self.repo.node_reference_create(bodies.load(req, NODE)['node'])
        resp.status = falcon.HTTP_201


class SearchResource:
    """``/cache/search``: the images one node caches."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"cached_images": [...]}`` for ``{"node": url}``."""
        rights.require_service(req.context.ctx)   # beside ServiceGate: checked here too
        render(resp, {'cached_images': self.repo.cached_images(bodies.load(req, NODE)['node'])})


class ImagesResource:
    """``/cache/images``: record a cached image."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Record ``{"node", "image_id", "size", "checksum"}`` (204)."""
        rights.require_service(req.context.ctx)   # beside ServiceGate: checked here too
        body = bodies.load(req, ADD)
        self.repo.cached_image_add(body['node'], body['image_id'], body['size'],
                                   body.get('checksum'))
        resp.status = falcon.HTTP_204


class HitsResource:
    """``/cache/hits``: count a download served from a node's cache."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Count one hit of ``{"node", "image_id"}`` (204)."""
        rights.require_service(req.context.ctx)   # beside ServiceGate: checked here too
        body = bodies.load(req, HIT)
        self.repo.hit(body['node'], body['image_id'])
        resp.status = falcon.HTTP_204


class DeleteResource:
    """``/cache/delete``: forget one or all images of a node."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"deleted": n}`` for ``{"node", "image_id": id|null}``."""
        rights.require_service(req.context.ctx)   # beside ServiceGate: checked here too
        body = bodies.load(req, DELETE)
        render(resp, {'deleted': self.repo.cached_image_delete(body['node'],
                                                               body.get('image_id'))})


class CachedNodesResource:
    """``/cache/images/{image_id}/nodes``: the nodes caching an image."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id):
        """Answer ``{"nodes": [url, ...]}``."""
        render(resp, {'nodes': self.repo.cached_nodes(image_id)})


def add_routes(app, repo):
    """Route the cache resources over ``repo`` (a ``glance_db.cache.CacheRepo``)."""
    app.add_route('/cache/nodes', NodesResource(repo))
    app.add_route('/cache/search', SearchResource(repo))
    app.add_route('/cache/images', ImagesResource(repo))
    app.add_route('/cache/hits', HitsResource(repo))
    app.add_route('/cache/delete', DeleteResource(repo))
    app.add_route('/cache/images/{image_id}/nodes', CachedNodesResource(repo))
