"""Objects, properties, tags and resource types of metadef namespaces (Glance 33's
metadef_objects, metadef_properties, metadef_tags and metadef_resource_types)."""

from oslo_utils import strutils

from glance_api import exceptions as exc
from glance_api.web.bodies import isotime, write_empty, write_json
from glance_api.web.bodies import validate_limit
from glance_api.metadefs.namespaces import (
    _ITEM_PROPERTY, SCHEMAS, association_view, check, check_unprotected, drop_none, enforce,
    get_namespace, object_values, object_view, property_type, read_body, validate,
)
from glance_registry import exceptions as reg_exc

TAGS_SCHEMA = {'name': 'tags', 'properties': {'tags': {'type': 'array', 'items': {
    'type': 'object', 'properties': {'name': {'type': 'string'}}, 'required': ['name'],
    'additionalProperties': False}}}, 'additionalProperties': False}
_OBJECT_READ_ONLY = ('self', 'schema', 'created_at', 'updated_at')


def _params(req):
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in req.params.items()}


def _check_list_params(params, positive=False):
    """Glance's index deserializers: sort_dir, visibility and limit checks."""
    sort_dir = params.get('sort_dir', 'desc')
    if sort_dir not in ('asc', 'desc'):
        raise exc.BadRequest('Invalid sort direction: %s' % sort_dir)
    visibility = params.get('visibility')
    if visibility and visibility not in ('public', 'private', 'shared'):
        raise exc.BadRequest('Invalid visibility value: %s' % visibility)
    limit = params.get('limit')
    if limit is not None:
        limit = validate_limit(limit)
        if positive and limit == 0:
            raise exc.BadRequest('limit param must be positive')
    return limit


# Metadef object, property and tag names are at most this long (Glance's columns), so a
# longer one (a marker, say) names nothing and is not sent to the registry.
MAX_NAME = 255


def _get_item(api, ctx, ns, kind, name, what):
    try:
        if len(name) > MAX_NAME:
            raise reg_exc.MetadefNotFound(name)
        return api.registry.metadef_get(ctx, ns['namespace'], kind, name)
    except (reg_exc.MetadefNotFound, reg_exc.MetadefNamespaceNotFound,
            reg_exc.MetadefForbidden):
        raise exc.NotFound('Could not find %s %s' % (what, name)) from None


class ObjectsResource:
    """GET, POST, DELETE /v2/metadefs/namespaces/{namespace}/objects."""

    allowed = ('GET', 'POST', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace):
        """List the objects of a namespace."""
        api, ctx = self.api, req.context.ctx
        _check_list_params(_params(req), positive=True)
        ns = get_namespace(api, ctx, namespace, own_missing=True)
        enforce(api, ctx, 'get_metadef_objects', ns)
        found = api.registry.metadef_list(ctx, namespace, 'objects')
        views = [object_view(namespace, o) for o in found
                 if check(api, ctx, 'get_metadef_object', ns)]
        # NOTE: Glance's schema link here has no leading slash.
        write_json(resp, {'objects': views, 'schema': 'v2/schemas/metadefs/objects'})

    def on_post(self, req, resp, namespace):
        """Create an object."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req, _OBJECT_READ_ONLY)
        validate('object', body)
        for value in (body.get('properties') or {}).values():
            validate('property', value, _ITEM_PROPERTY)
        ns = get_namespace(api, ctx, namespace, own_missing=True)
        enforce(api, ctx, 'add_metadef_object', ns)
        created = api.registry.metadef_create(ctx, namespace, 'objects', object_values(body))
        view = object_view(namespace, dict(created, required=body.get('required'),
                                           properties=_given_properties(body)))
        write_json(resp, view, status=201)

    def on_delete(self, req, resp, namespace):
        """Delete every object of a namespace."""
        _purge(self.api, req.context.ctx, namespace, 'objects')
        write_empty(resp)


def _given_properties(body):
    if body.get('properties') is None:
        return None
    return {k: property_type(v) for k, v in body['properties'].items()}


def _purge(api, ctx, namespace, kind, rules=('delete_metadef_namespace',)):
    ns = get_namespace(api, ctx, namespace)
    for rule in rules:
        enforce(api, ctx, rule, ns)
    check_unprotected(ns)
    api.registry.metadef_purge(ctx, namespace, kind)


class ObjectResource:
    """GET, PUT, DELETE /v2/metadefs/namespaces/{namespace}/objects/{object_name}."""

    allowed = ('GET', 'PUT', 'DELETE')
    body_reject = ('GET', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace, object_name):
        """Show one object."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace, own_missing=True)
        enforce(api, ctx, 'get_metadef_object', ns)
        obj = _get_item(api, ctx, ns, 'objects', object_name, 'metadata object')
        write_json(resp, object_view(namespace, obj))

    def on_put(self, req, resp, namespace, object_name):
        """Replace one object (it may be renamed)."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req, _OBJECT_READ_ONLY)
        validate('object', body)
        ns = get_namespace(api, ctx, namespace, own_missing=True)
        enforce(api, ctx, 'modify_metadef_object', ns)
        old = _get_item(api, ctx, ns, 'objects', object_name, 'metadata object')
        api.registry.metadef_update(ctx, namespace, 'objects', object_name,
                                    object_values(body))
        view = object_view(namespace, dict(
            old, name=body['name'], description=body.get('description'),
            required=body.get('required'), properties=_given_properties(body)))
        write_json(resp, view)

    def on_delete(self, req, resp, namespace, object_name):
        """Delete one object (403 while the namespace is protected)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace, own_missing=True)
        enforce(api, ctx, 'delete_metadef_object', ns)
        _get_item(api, ctx, ns, 'objects', object_name, 'metadata object')
        check_unprotected(ns, ('object', object_name))
        api.registry.metadef_delete(ctx, namespace, 'objects', object_name)
        write_empty(resp)


class PropertiesResource:
    """GET, POST, DELETE /v2/metadefs/namespaces/{namespace}/properties."""

    allowed = ('GET', 'POST', 'DELETE')
    body_reject = ('GET',)

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace):
        """List the properties of a namespace as ``{name: schema}``."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'get_metadef_properties', ns)
        found = api.registry.metadef_list(ctx, namespace, 'properties')
        write_json(resp, {'properties': {p['name']: property_type(p['schema'])
                                         for p in found}})

    def on_post(self, req, resp, namespace):
        """Create a property."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req)
        validate('property', body)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'add_metadef_property', ns)
        schema = property_type(body)
        api.registry.metadef_create(ctx, namespace, 'properties',
                                    {'name': body['name'], 'schema': schema})
        write_json(resp, schema, status=201)

    def on_delete(self, req, resp, namespace):
        """Delete every property of a namespace."""
        _purge(self.api, req.context.ctx, namespace, 'properties')
        write_empty(resp)


class PropertyResource:
    """GET, PUT, DELETE /v2/metadefs/namespaces/{namespace}/properties/{property_name}."""

    allowed = ('GET', 'PUT', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace, property_name):
        """Show a property (``?resource_type=``: by its prefixed name)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'get_metadef_property', ns)
        resource_type = _params(req).get('resource_type')
        if resource_type:
            enforce(api, ctx, 'get_metadef_resource_type', ns)
            prefix = _prefix_of(api, ctx, namespace, resource_type)
            if prefix and property_name.startswith(prefix):
                property_name = property_name[len(prefix):]
            else:
                raise exc.NotFound("Property %s does not start with the expected resource "
                                   "type association prefix of '%s'."
                                   % (property_name, prefix))
        prop = _get_item(api, ctx, ns, 'properties', property_name, 'property')
        write_json(resp, dict(property_type(prop['schema']), name=prop['name']))

    def on_put(self, req, resp, namespace, property_name):
        """Replace a property (it may be renamed)."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req)
        validate('property', body)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'modify_metadef_property', ns)
        _get_item(api, ctx, ns, 'properties', property_name, 'property')
        schema = property_type(body)
        api.registry.metadef_update(ctx, namespace, 'properties', property_name,
                                    {'name': body['name'], 'schema': schema})
        write_json(resp, schema)

    def on_delete(self, req, resp, namespace, property_name):
        """Delete a property (403 while the namespace is protected)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'remove_metadef_property', ns)
        _get_item(api, ctx, ns, 'properties', property_name, 'property')
        check_unprotected(ns, ('property', property_name))
        api.registry.metadef_delete(ctx, namespace, 'properties', property_name)
        write_empty(resp)


def _prefix_of(api, ctx, namespace, resource_type):
    for assoc in api.registry.metadef_list(ctx, namespace, 'resource_types'):
        if assoc['name'] == resource_type:
            return assoc.get('prefix')
    if any(rt['name'] == resource_type for rt in api.registry.metadef_resource_types(ctx)):
        raise exc.NotFound('The metadata definition resource-type association of '
                           'resource-type=%s to namespace=%s, was not found.'
                           % (resource_type, namespace))
    raise exc.NotFound('The metadata definition resource-type with name=%s, was not found.'
                       % resource_type)


def tag_view(tag):
    return drop_none({'name': tag['name'], 'created_at': isotime(tag.get('created_at')),
                      'updated_at': isotime(tag.get('updated_at'))})


class TagsResource:
    """GET, POST, DELETE /v2/metadefs/namespaces/{namespace}/tags."""

    allowed = ('GET', 'POST', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace):
        """List tag names (``limit``, ``marker``, ``sort_key``, ``sort_dir``)."""
        api, ctx = self.api, req.context.ctx
        params = _params(req)
        _check_list_params(dict(params, limit=None))
        limit = validate_limit(params['limit']) if params.get('limit') else None
        if limit is not None:
            # NOTE: clamped as every other list; Glance passes it to SQL as is.
            limit = min(api.conf.api_limit_max, limit)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'get_metadef_tags', ns)
        marker = params.get('marker') or None
        if marker:
            _get_item(api, ctx, ns, 'tags', marker, 'metadata tag')
        # NOTE: an unknown sort key is a 500 in Glance (unhandled InvalidSortKey); a 400 here.
        found = api.registry.metadef_list(
            ctx, namespace, 'tags', marker=marker, limit=limit,
            sort_key=params.get('sort_key', 'created_at'),
            sort_dir=params.get('sort_dir', 'desc'))
        write_json(resp, {'tags': [{'name': t['name']} for t in found]})

    def on_post(self, req, resp, namespace):
        """Create tags; all existing ones are replaced unless X-Openstack-Append."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req)
        validate('tags', body, TAGS_SCHEMA)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'add_metadef_tags', ns)
        append = strutils.bool_from_string(req.get_header('X-Openstack-Append'))
        names = [t['name'] for t in body.get('tags') or ()]
        api.registry.metadef_tags_create(ctx, namespace, names, append=append)
        write_json(resp, {'tags': [{'name': n} for n in names]}, status=201)

    def on_delete(self, req, resp, namespace):
        """Delete every tag of a namespace."""
        _purge(self.api, req.context.ctx, namespace, 'tags',
               ('delete_metadef_namespace', 'delete_metadef_tags'))
        write_empty(resp)


class TagResource:
    """GET, POST, PUT, DELETE /v2/metadefs/namespaces/{namespace}/tags/{tag_name}."""

    allowed = ('GET', 'POST', 'PUT', 'DELETE')
    body_reject = ('GET', 'POST', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace, tag_name):
        """Show one tag."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'get_metadef_tag', ns)
        write_json(resp, tag_view(_get_item(api, ctx, ns, 'tags', tag_name, 'metadata tag')))

    def on_post(self, req, resp, namespace, tag_name):
        """Create one tag."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        validate('tag', {'name': tag_name})
        enforce(api, ctx, 'add_metadef_tag', ns)
        tag = api.registry.metadef_create(ctx, namespace, 'tags', {'name': tag_name})
        write_json(resp, tag_view(tag), status=201)

    def on_put(self, req, resp, namespace, tag_name):
        """Rename one tag."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req)
        validate('tag', body)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'modify_metadef_tag', ns)
        old = _get_item(api, ctx, ns, 'tags', tag_name, 'metadata tag')
        api.registry.metadef_update(ctx, namespace, 'tags', tag_name, {'name': body['name']})
        write_json(resp, tag_view(dict(old, name=body['name'])))

    def on_delete(self, req, resp, namespace, tag_name):
        """Delete one tag (403 while the namespace is protected)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'delete_metadef_tag', ns)
        _get_item(api, ctx, ns, 'tags', tag_name, 'metadata tag')
        check_unprotected(ns, ('tag', tag_name))
        api.registry.metadef_delete(ctx, namespace, 'tags', tag_name)
        write_empty(resp)


class ResourceTypesResource:
    """GET /v2/metadefs/resource_types."""

    allowed = ('GET',)
    body_reject = ('GET',)

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp):
        """List every resource type."""
        api, ctx = self.api, req.context.ctx
        enforce(api, ctx, 'list_metadef_resource_types')
        found = api.registry.metadef_resource_types(ctx)
        write_json(resp, {'resource_types': [tag_view(rt) for rt in found]})


class AssociationsResource:
    """GET, POST /v2/metadefs/namespaces/{namespace}/resource_types."""

    allowed = ('GET', 'POST')
    body_reject = ('GET',)

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace):
        """List the resource-type associations of a namespace."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'list_metadef_resource_types', ns)
        found = api.registry.metadef_list(ctx, namespace, 'resource_types')
        views = [association_view(a) for a in found
                 if check(api, ctx, 'get_metadef_resource_type', ns)]
        write_json(resp, {'resource_type_associations': views})

    def on_post(self, req, resp, namespace):
        """Associate a resource type (created when new) with a namespace."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req)
        validate('resource_type_association', body, SCHEMAS['resource_type'])
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'add_metadef_resource_type_association', ns)
        values = {k: body.get(k) for k in ('name', 'prefix', 'properties_target')}
        created = api.registry.metadef_create(ctx, namespace, 'resource_types', values)
        write_json(resp, association_view(dict(created, **values)), status=201)


class AssociationResource:
    """DELETE /v2/metadefs/namespaces/{namespace}/resource_types/{resource_type}."""

    allowed = ('DELETE',)
    body_reject = ('DELETE',)

    def __init__(self, api):
        self.api = api

    def on_delete(self, req, resp, namespace, resource_type):
        """Remove an association (403 while the namespace is protected)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'remove_metadef_resource_type_association', ns)
        found = api.registry.metadef_list(ctx, namespace, 'resource_types')
        if not any(a['name'] == resource_type for a in found):
            raise exc.NotFound('Failed to find resource type %s to delete' % resource_type)
        check_unprotected(ns, ('resource-type-association', resource_type))
        api.registry.metadef_delete(ctx, namespace, 'resource_types', resource_type)
        write_empty(resp)


def routes(api):
    """Return the metadef routes: [(uri template, resource)]."""
    from glance_api.metadefs.namespaces import NamespaceResource, NamespacesResource
    base = '/v2/metadefs/namespaces/{namespace}'
    return [
        ('/v2/metadefs/namespaces', NamespacesResource(api)),
        (base, NamespaceResource(api)),
        (base + '/objects', ObjectsResource(api)),
        (base + '/objects/{object_name}', ObjectResource(api)),
        (base + '/properties', PropertiesResource(api)),
        (base + '/properties/{property_name}', PropertyResource(api)),
        (base + '/tags', TagsResource(api)),
        (base + '/tags/{tag_name}', TagResource(api)),
        (base + '/resource_types', AssociationsResource(api)),
        (base + '/resource_types/{resource_type}', AssociationResource(api)),
        ('/v2/metadefs/resource_types', ResourceTypesResource(api)),
    ]
