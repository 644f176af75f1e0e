"""/v2/metadefs/namespaces: metadata definition namespaces (Glance 33's metadef_namespaces).

Shared by glance_api.metadefs.items: the policy check that hides invisible namespaces, the
namespace lookup with Glance's 404 messages, body reading/validation and the views.
"""

import json
import urllib.parse
from importlib import resources

import jsonschema

from glance_api import exceptions as exc
from glance_api.web.bodies import isotime, read_json, write_empty, write_json
from glance_api.web.bodies import validate_limit
from glance_registry import exceptions as reg_exc

SCHEMAS = json.loads(resources.files('glance_api').joinpath('metadef_schemas.json')
                     .read_text())
NS_SCHEMA_LINK = '/v2/schemas/metadefs/namespace'
OBJ_SCHEMA_LINK = '/v2/schemas/metadefs/object'
NS_COLUMNS = ('namespace', 'display_name', 'description', 'visibility', 'protected', 'owner')
# PropertyType's attributes (glance/api/v2/model/metadef_property_type.py): what a stored
# property schema keeps.
PROPERTY_KEYS = ('name', 'type', 'title', 'description', 'operators', 'default', 'readonly',
                 'minimum', 'maximum', 'enum', 'pattern', 'minLength', 'maxLength',
                 'confidential', 'items', 'uniqueItems', 'minItems', 'maxItems',
                 'additionalItems')
_VALIDATORS = {}


def validate(name, body, schema=None):
    """Check ``body`` against Glance's metadef schema ``name`` (or ``schema``).

    Every metadef body is an object: Glance's schemas leave ``type`` out, so jsonschema
    would pass ``[]`` (and Glance then fails on it); here it is refused in the words
    jsonschema uses for a type mismatch.
    :raises: InvalidObject (400) with jsonschema's message, as glance.schema.Schema does.
    """
    if not isinstance(body, dict):
        raise exc.InvalidObject(name, "%r is not of type 'object'" % (body,))
    key = name if schema is None else (name, id(schema))
    validator = _VALIDATORS.get(key)
    if validator is None:
        doc = SCHEMAS[name] if schema is None else schema
        validator = _VALIDATORS[key] = jsonschema.validators.validator_for(doc)(doc)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        raise exc.InvalidObject(name, str(error))


def read_body(req, read_only=('created_at', 'updated_at')):
    """Return the JSON body; 403 for a read-only attribute, as Glance's deserializers."""
    body = read_json(req)
    for key in read_only:
        if isinstance(body, dict) and key in body:
            raise exc.Forbidden("Attribute '%s' is read-only." % key)
    return body


_INTS = ('minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems')


def property_type(schema):
    """Return a property schema as Glance's PropertyType model renders it.

    Only its attributes are kept; ``default`` is a bytes attribute there, so a number or a
    boolean comes back as a string; the bounds are ints.
    """
    out = {k: schema[k] for k in PROPERTY_KEYS if k in schema and schema[k] is not None}
    if isinstance(out.get('items'), dict):
        out['items'] = {k: v for k, v in out['items'].items() if k in ('type', 'enum')}
    if 'default' in out:
        value = out['default']
        out['default'] = str(value) if isinstance(value, (str, int, float)) else None
    for key in _INTS:
        if isinstance(out.get(key), (int, float)):
            out[key] = int(out[key])
    return out


def enforce(api, ctx, rule, ns=None):
    """Enforce a metadef rule on a namespace (or on the caller's project).

    As Glance's MetadefAPIPolicy: when the caller may not even get the namespace, 404.
    """
    target = {'project_id': ctx.project_id}
    if ns is not None:
        target = {'project_id': ns['owner'], 'visibility': ns['visibility']}
    if api.policy.check(ctx, rule, target):
        return
    if rule == 'get_metadef_namespace' or not api.policy.check(
            ctx, 'get_metadef_namespace', target):
        raise exc.NotFound()
    raise exc.PolicyForbidden(rule)


def check(api, ctx, rule, ns):
    """Return True when ``rule`` passes on ``ns``."""
    try:
        enforce(api, ctx, rule, ns)
    except exc.ApiError:
        return False
    return True


def get_namespace(api, ctx, name, detail=False, own_missing=False):
    """Return the namespace ``name``; 404 "Namespace X not found" when missing or invisible.

    ``own_missing``: a missing namespace answers the registry's own message instead (as
    Glance's objects API does).
    """
    try:
        return api.registry.metadef_namespace_get(ctx, name, detail=detail)
    except reg_exc.MetadefNamespaceNotFound as e:
        if own_missing:
            raise exc.NotFound(e.message) from None
        raise exc.NotFound('Namespace %s not found' % name) from None
    except reg_exc.MetadefForbidden:
        raise exc.NotFound('Namespace %s not found' % name) from None


def ns_href(name):
    return '/v2/metadefs/namespaces/%s' % name


def drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


def namespace_view(ns):
    """Glance's Namespace model of a namespace row (None fields left out)."""
    view = {k: ns.get(k) for k in NS_COLUMNS}
    view['visibility'] = view['visibility'] or 'private'
    view['protected'] = view['protected'] or False
    view.update(created_at=isotime(ns.get('created_at')),
                updated_at=isotime(ns.get('updated_at')),
                self=ns_href(ns['namespace']), schema=NS_SCHEMA_LINK)
    return drop_none(view)


def association_view(assoc):
    """A resource-type association (None fields left out)."""
    return drop_none({'name': assoc['name'], 'prefix': assoc.get('prefix'),
                      'properties_target': assoc.get('properties_target'),
                      'created_at': isotime(assoc.get('created_at')),
                      'updated_at': isotime(assoc.get('updated_at'))})


def object_view(ns_name, obj):
    """Glance's MetadefObject model of a stored object."""
    view = drop_none({'name': obj['name'], 'description': obj.get('description'),
                      'required': obj.get('required'), 'properties': _schemas(obj),
                      'created_at': isotime(obj.get('created_at')),
                      'updated_at': isotime(obj.get('updated_at'))})
    view['self'] = '/v2/metadefs/namespaces/%s/objects/%s' % (ns_name, obj['name'])
    view['schema'] = OBJ_SCHEMA_LINK
    return view


def _schemas(obj):
    if obj.get('properties') is None:
        return None
    return {k: property_type(v) for k, v in obj['properties'].items()}


def _query_params(req):
    # NOTE: WebOb's request.params: a repeated key keeps its last value.
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in req.params.items()}


def _list_query(api, params):
    sort_dir = params.get('sort_dir', 'desc')
    limit = params.get('limit')
    limit = api.conf.limit_param_default if limit is None else _int_limit(limit)
    limit = validate_limit(min(api.conf.api_limit_max, limit))
    if sort_dir not in ('asc', 'desc'):
        raise exc.BadRequest('Invalid sort direction: %s' % sort_dir)
    visibility = params.get('visibility') or None
    if visibility and visibility not in ('public', 'private'):
        raise exc.BadRequest('Invalid visibility value: %s' % visibility)
    query = {'sort_key': params.get('sort_key', 'created_at'), 'sort_dir': sort_dir,
             'limit': limit, 'visibility': params.get('visibility'),
             'marker': params.get('marker')}
    if 'resource_types' in params:
        query['resource_types'] = params['resource_types'].split(',')
    return query


def _int_limit(limit):
    try:
        return int(limit)
    except ValueError:
        # NOTE: Glance's deserializer calls int() before validating: a 500 there.
        raise exc.BadRequest('limit param must be an integer') from None


class NamespacesResource:
    """GET (list) and POST (create) /v2/metadefs/namespaces."""

    allowed = ('GET', 'POST')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp):
        """List the visible namespaces, with their resource-type associations."""
        api, ctx = self.api, req.context.ctx
        params = _query_params(req)
        query = _list_query(api, params)
        enforce(api, ctx, 'get_metadef_namespaces')
        enforce(api, ctx, 'list_metadef_resource_types')
        try:
            found = api.registry.metadef_namespace_list(ctx, query)
        except reg_exc.MetadefNamespaceNotFound as e:
            raise exc.NotFound(e.message) from None
        except reg_exc.MetadefForbidden as e:
            raise exc.Forbidden(e.message) from None
        found = [ns for ns in found if check(api, ctx, 'get_metadef_namespace', ns)]
        views = []
        for ns in found:
            view = namespace_view(ns)
            if ns.get('resource_type_associations'):
                view['resource_type_associations'] = [
                    association_view(a) for a in ns['resource_type_associations']]
            views.append(view)
        params.pop('marker', None)
        body = {'namespaces': views, 'first': '/v2/metadefs/namespaces',
                'schema': '/v2/schemas/metadefs/namespaces'}
        if params:
            body['first'] += '?' + urllib.parse.urlencode(params)
        if views and len(views) == query['limit']:
            params['marker'] = found[-1]['namespace']
            body['next'] = '/v2/metadefs/namespaces?' + urllib.parse.urlencode(params)
        write_json(resp, body)

    def on_post(self, req, resp):
        """Create a namespace with its nested objects, properties, tags, associations."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req, ('self', 'schema', 'created_at', 'updated_at'))
        validate('namespace', body)
        enforce(api, ctx, 'add_metadef_namespace')
        for key, rule in (('resource_type_associations', 'add_metadef_resource_type_association'),
                          ('objects', 'add_metadef_object'),
                          ('properties', 'add_metadef_property'), ('tags', 'add_metadef_tag')):
            if body.get(key):
                enforce(api, ctx, rule)
        values = {k: body.get(k) for k in NS_COLUMNS}
        values['owner'] = values['owner'] or ctx.owner
        values['visibility'] = values['visibility'] or 'private'
        values['protected'] = values['protected'] or False
        contents = _contents(body)
        ns = api.registry.metadef_namespace_create(ctx, values, contents)
        view = namespace_view(ns)
        for key in ('resource_type_associations', 'objects', 'tags'):
            if key in body:
                view[key] = [drop_none(item) for item in body[key]]
        if 'properties' in body:
            view['properties'] = contents['properties']
        for obj in view.get('objects', ()):
            if obj.get('properties') is not None:
                obj['properties'] = {k: property_type(v) for k, v in obj['properties'].items()}
        write_json(resp, view, status=201)
        resp.set_header('Location', '%s://%s%s' % (req.scheme, req.netloc,
                                                   ns_href(ns['namespace'])))


# The property schema without a required name (glance's get_schema(require_name=False)).
_ITEM_PROPERTY = dict(SCHEMAS['property'], required=['type', 'title'])


def _contents(body):
    contents = {}
    if body.get('resource_type_associations'):
        contents['resource_type_associations'] = [
            drop_none({k: a.get(k) for k in ('name', 'prefix', 'properties_target')})
            for a in body['resource_type_associations']]
    if body.get('objects'):
        contents['objects'] = [object_values(o) for o in body['objects']]
    if body.get('tags'):
        contents['tags'] = [{'name': t['name']} for t in body['tags']]
    contents['properties'] = {k: property_type(v)
                              for k, v in (body.get('properties') or {}).items()}
    return contents


def object_values(obj):
    """Return the stored values of an object body."""
    return {'name': obj['name'], 'description': obj.get('description'),
            'required': obj.get('required'),
            'properties': {k: property_type(v)
                           for k, v in (obj.get('properties') or {}).items()}}


class NamespaceResource:
    """GET, PUT, DELETE /v2/metadefs/namespaces/{namespace}."""

    allowed = ('GET', 'PUT', 'DELETE')
    body_reject = ('GET', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, namespace):
        """Show a namespace with its contents (``?resource_type=`` prefixes names)."""
        api, ctx = self.api, req.context.ctx
        try:
            ns = api.registry.metadef_namespace_get(ctx, namespace, detail=True)
        except reg_exc.MetadefForbidden:
            raise exc.NotFound() from None
        except reg_exc.MetadefNamespaceNotFound as e:
            raise exc.NotFound(e.message) from None
        enforce(api, ctx, 'get_metadef_namespace', ns)
        for rule in ('list_metadef_resource_types', 'get_metadef_objects',
                     'get_metadef_properties', 'get_metadef_tags'):
            enforce(api, ctx, rule, ns)
        view = namespace_view(ns)
        if ns['objects']:
            view['objects'] = [object_view(namespace, o) for o in ns['objects']]
        if ns['resource_type_associations']:
            view['resource_type_associations'] = [
                association_view(a) for a in ns['resource_type_associations']]
        if ns['properties']:
            view['properties'] = {p['name']: property_type(p['schema'])
                                  for p in ns['properties']}
        resource_type = _query_params(req).get('resource_type')
        if resource_type:
            _prefix(view, resource_type)
        if ns['tags']:
            view['tags'] = [{'name': t['name']} for t in ns['tags']]
        write_json(resp, view)

    def on_put(self, req, resp, namespace):
        """Replace a namespace's fields (omitted ones reset to their defaults)."""
        api, ctx = self.api, req.context.ctx
        body = read_body(req, ('self', 'schema', 'created_at', 'updated_at'))
        validate('namespace', body)
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'modify_metadef_namespace', ns)
        values = {k: body.get(k) for k in NS_COLUMNS}
        values['visibility'] = values['visibility'] or 'private'
        values['protected'] = values['protected'] or False
        values['owner'] = values['owner'] or ctx.owner
        updated = api.registry.metadef_namespace_update(ctx, namespace, values)
        # NOTE: Glance answers the old timestamps (its domain object is not re-read).
        updated.update(created_at=ns['created_at'], updated_at=ns['updated_at'])
        write_json(resp, namespace_view(updated))

    def on_delete(self, req, resp, namespace):
        """Delete a namespace and its contents (403 while protected)."""
        api, ctx = self.api, req.context.ctx
        ns = get_namespace(api, ctx, namespace)
        enforce(api, ctx, 'delete_metadef_namespace', ns)
        check_unprotected(ns)
        api.registry.metadef_namespace_delete(ctx, namespace)
        write_empty(resp)


def check_unprotected(ns, what=None):
    """403 as Glance's domain objects' delete() when the namespace is protected."""
    if not ns.get('protected'):
        return
    if what is None:
        raise exc.Forbidden('Metadata definition namespace %s is protected and cannot be '
                            'deleted.' % ns['namespace'])
    raise exc.Forbidden('Metadata definition %s %s is protected and cannot be deleted.'
                        % what)


def _prefix(view, resource_type):
    prefix = None
    for assoc in view.get('resource_type_associations', ()):
        if assoc['name'] == resource_type:
            prefix = assoc.get('prefix')
            break
    if not prefix:
        return
    if view.get('properties'):
        view['properties'] = {prefix + k: v for k, v in view['properties'].items()}
    for obj in view.get('objects', ()):
        obj['properties'] = {prefix + k: v for k, v in obj.get('properties', {}).items()}
        if obj.get('required'):
            obj['required'] = [prefix + name for name in obj['required']]
