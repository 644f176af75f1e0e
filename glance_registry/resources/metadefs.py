"""Metadef resources of the registry protocol (``glance_db.metadefs.MetadefRepo`` over JSON).

| Call | Body → answer |
|---|---|
| ``POST /metadefs/search`` | ``{visibility, resource_types, marker, limit,
  sort_key, sort_dir}`` → ``{"namespaces": [ns]}`` |
| ``POST /metadefs/namespaces`` | ``{"namespace": values, "contents": {...}}`` → 201 |
| ``GET /metadefs/namespaces/{ns}`` | ``?detail=true`` adds the contents → ``{"namespace"}`` |
| ``PUT /metadefs/namespaces/{ns}`` | ``{"values": {...}}`` → ``{"namespace": ns}`` |
| ``DELETE /metadefs/namespaces/{ns}`` | → 204 (with all its contents) |
| ``GET/POST/DELETE /metadefs/namespaces/{ns}/{kind}`` | kind objects, properties, tags,
  resource_types: list (tags: ``?marker&limit&sort_key&sort_dir``) ``{"items"}`` /
  ``{"item": values}`` → 201 ``{"item"}`` / delete every one → 204 |
| ``PUT /metadefs/namespaces/{ns}/tags`` | ``{"names": [...], "append": bool}`` →
  ``{"items": [tag]}`` |
| ``GET/PUT/DELETE /metadefs/namespaces/{ns}/{kind}/{name}`` | ``{"item"}`` / PUT
  ``{"item": values}`` / 204 (resource_types: DELETE only) |
| ``GET /metadefs/resource_types`` | → ``{"resource_types": [...]}`` |
Errors: MetadefNamespaceNotFound 404, MetadefForbidden 403 (invisible), MetadefNotFound
404, Duplicate 409, InvalidSortKey 400.
"""

import falcon

from glance_registry import exceptions
from glance_registry.resources import bodies
from glance_registry.resources.bodies import render

_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 80}
_OPT = {'type': ['string', 'null']}
NS_VALUES = {'type': 'object', 'properties': {
    'namespace': _NAME, 'display_name': {'type': ['string', 'null'], 'maxLength': 80},
    'description': _OPT, 'visibility': {'type': ['string', 'null'], 'maxLength': 32},
    'protected': {'type': ['boolean', 'null']},
    'owner': {'type': 'string', 'maxLength': 255}}, 'additionalProperties': False}
ITEM = {'type': 'object', 'properties': {
    'name': _NAME, 'description': _OPT, 'required': {'type': ['array', 'null']},
    'properties': {'type': ['object', 'null']}, 'schema': {'type': 'object'},
    'prefix': {'type': ['string', 'null'], 'maxLength': 80},
    'properties_target': {'type': ['string', 'null'], 'maxLength': 80}},
    'required': ['name'], 'additionalProperties': False}
NS_CREATE = {'type': 'object', 'properties': {
    'namespace': dict(NS_VALUES, required=['namespace', 'owner']),
    'contents': {'type': 'object', 'properties': {
        'resource_type_associations': {'type': 'array', 'items': ITEM},
        'objects': {'type': 'array', 'items': ITEM},
        'tags': {'type': 'array', 'items': ITEM},
        'properties': {'type': 'object', 'additionalProperties': {'type': 'object'}}},
        'additionalProperties': False}},
    'required': ['namespace'], 'additionalProperties': False}
NS_UPDATE = {'type': 'object', 'properties': {'values': NS_VALUES}, 'required': ['values'],
             'additionalProperties': False}
NS_SEARCH = {'type': 'object', 'properties': {
    'visibility': _OPT, 'resource_types': {'type': ['array', 'null'], 'items': _NAME},
    'marker': _OPT, 'limit': {'type': ['integer', 'null'], 'minimum': 0,
                              'maximum': bodies.INT64_MAX},
    'sort_key': {'type': 'string', 'maxLength': 64}, 'sort_dir': {'enum': ['asc', 'desc']}},
    'additionalProperties': False}
ITEM_BODY = {'type': 'object', 'properties': {'item': ITEM}, 'required': ['item'],
             'additionalProperties': False}
TAGS_BODY = {'type': 'object', 'properties': {
    'names': {'type': 'array', 'items': _NAME}, 'append': {'type': 'boolean'}},
    'required': ['names'], 'additionalProperties': False}
bodies.register(NS_CREATE, NS_UPDATE, NS_SEARCH, ITEM_BODY, TAGS_BODY)
CONTENT_KINDS = ('objects', 'properties', 'tags')


def _viewer(ctx):
    """The caller as the metadef repository checks it (owner or admin for writes)."""
    return {'project_id': ctx.project_id, 'is_admin': ctx.is_admin}


def _kind(kind):
    if kind not in CONTENT_KINDS and kind != 'resource_types':
        raise falcon.HTTPNotFound()
    return kind


class NamespacesResource:
    """``/metadefs/namespaces``: create a namespace with its contents."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Create from ``{"namespace": values, "contents": {...}}``."""
        body = bodies.load(req, NS_CREATE)
        ctx = req.context.ctx
        if not ctx.is_admin:   # as image create (glance_registry.rights)
            body['namespace']['owner'] = ctx.project_id
        ns = self.repo.namespace_create(body['namespace'], body.get('contents'))
        render(resp, {'namespace': ns}, falcon.HTTP_201)


class NamespaceSearchResource:
    """``/metadefs/search``: one page of namespaces."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"namespaces": [...]}``."""
        query = bodies.load(req, NS_SEARCH)
        render(resp, {'namespaces': self.repo.namespace_list(**_viewer(req.context.ctx), **query)})


class NamespaceResource:
    """``/metadefs/namespaces/{ns}``: show, replace, delete."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, ns):
        """Show a namespace (``?detail=true``: with its contents)."""
        detail = req.get_param_as_bool('detail') or False
        render(resp, {'namespace': self.repo.namespace_get(ns, detail=detail,
                                                           **_viewer(req.context.ctx))})

    def on_put(self, req, resp, ns):
        """Replace a namespace's columns."""
        values = bodies.load(req, NS_UPDATE)['values']
        viewer = _viewer(req.context.ctx)
        render(resp, {'namespace': self.repo.namespace_update(ns, values, **viewer)})

    def on_delete(self, req, resp, ns):
        """Delete a namespace and its contents."""
        self.repo.namespace_delete(ns, **_viewer(req.context.ctx))
        resp.status = falcon.HTTP_204


class ContentsResource:
    """``/metadefs/namespaces/{ns}/{kind}``: list, create, replace tags, delete all."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, ns, kind):
        """Answer ``{"items": [...]}``."""
        if _kind(kind) == 'resource_types':
            render(resp, {'items': self.repo.association_list(ns, **_viewer(req.context.ctx))})
            return
        paging = {}
        if kind == 'tags':
            paging = {'marker': req.get_param('marker'),
                      # NOTE: bounded: a LIMIT past 64 bits is a syntax error in SQL.
                      'limit': req.get_param_as_int('limit', min_value=0,
                                                    max_value=bodies.INT64_MAX),
                      'sort_key': req.get_param('sort_key') or 'created_at',
                      'sort_dir': req.get_param('sort_dir') or 'desc'}
            if paging['sort_dir'] not in ('asc', 'desc'):
                raise exceptions.BadRequest('Invalid sort_dir')
        render(resp, {'items': self.repo.item_list(ns, kind, **paging, **_viewer(req.context.ctx))})

    def on_post(self, req, resp, ns, kind):
        """Create one item from ``{"item": values}``."""
        values = bodies.load(req, ITEM_BODY)['item']
        if _kind(kind) == 'resource_types':
            item = self.repo.association_create(ns, values, **_viewer(req.context.ctx))
        else:
            item = self.repo.item_create(ns, kind, values, **_viewer(req.context.ctx))
        render(resp, {'item': item}, falcon.HTTP_201)

    def on_put(self, req, resp, ns, kind):
        """Create several tags from ``{"names": [...], "append": bool}``."""
        if kind != 'tags':
            raise falcon.HTTPMethodNotAllowed(['GET', 'POST', 'DELETE'])
        body = bodies.load(req, TAGS_BODY)
        items = self.repo.tags_create(ns, body['names'], append=body.get('append', False),
                                      **_viewer(req.context.ctx))
        render(resp, {'items': items})

    def on_delete(self, req, resp, ns, kind):
        """Delete every item of that kind."""
        self.repo.namespace_purge(ns, _kind(kind), **_viewer(req.context.ctx))
        resp.status = falcon.HTTP_204


class ContentResource:
    """``/metadefs/namespaces/{ns}/{kind}/{name}``: show, replace, delete one item."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, ns, kind, name):
        """Show one object, property or tag."""
        if _kind(kind) == 'resource_types':
            raise falcon.HTTPMethodNotAllowed(['DELETE'])
        render(resp, {'item': self.repo.item_get(ns, kind, name, **_viewer(req.context.ctx))})

    def on_put(self, req, resp, ns, kind, name):
        """Replace one object, property or tag."""
        if _kind(kind) == 'resource_types':
            raise falcon.HTTPMethodNotAllowed(['DELETE'])
        values = bodies.load(req, ITEM_BODY)['item']
        viewer = _viewer(req.context.ctx)
        render(resp, {'item': self.repo.item_update(ns, kind, name, values, **viewer)})

    def on_delete(self, req, resp, ns, kind, name):
        """Delete one item (or resource-type association)."""
        if _kind(kind) == 'resource_types':
            self.repo.association_delete(ns, name, **_viewer(req.context.ctx))
        else:
            self.repo.item_delete(ns, kind, name, **_viewer(req.context.ctx))
        resp.status = falcon.HTTP_204


class ResourceTypesResource:
    """``/metadefs/resource_types``: every resource type."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp):
        """Answer ``{"resource_types": [...]}``."""
        render(resp, {'resource_types': self.repo.resource_type_list()})


def add_routes(app, repo):
    """Route the metadef resources over ``repo`` (a ``glance_db.metadefs.MetadefRepo``)."""
    app.add_route('/metadefs/resource_types', ResourceTypesResource(repo))
    app.add_route('/metadefs/namespaces', NamespacesResource(repo))
    app.add_route('/metadefs/search', NamespaceSearchResource(repo))
    app.add_route('/metadefs/namespaces/{ns}', NamespaceResource(repo))
    app.add_route('/metadefs/namespaces/{ns}/{kind}', ContentsResource(repo))
    app.add_route('/metadefs/namespaces/{ns}/{kind}/{name}', ContentResource(repo))
