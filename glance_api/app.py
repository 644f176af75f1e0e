"""The glance-api WSGI application: versions, healthcheck, then the falcon /v2 (and /v1) api."""

import logging
import re

import falcon
from oslo_middleware import healthcheck

from glance_api.cache import image_cache
from glance_api.cache import resources as cache_api
from glance_api.web import errors
from glance_api import exceptions as exc
from glance_api.imports import resources as imports
from glance_api.metadefs import items as metadef_items
from glance_api.images import schemas
from glance_api.tasks import resources as tasks_api
from glance_api.images.actions import ImageActionResource
from glance_api.web.bodies import has_body
from glance_api.web.context import ContextMiddleware
from glance_api import wiring
from glance_api.data.image_data import ImageDataResource
from glance_api.info import (
    ImportInfoResource, StoresDetailResource, StoresInfoResource, UsageInfoResource,
)
from glance_api.images.resources import ImageResource, ImagesResource
from glance_api.tasks.location_import import LocationsResource
from glance_api.images.members import MemberResource, MembersResource
from glance_api.images.store_data import StoreImageResource
from glance_api.images.tags import ImageTagResource
from glance_api.v1 import images as v1_images
from glance_api.v1 import members as v1_members
from glance_api.web.versions import Negotiator, application_url
from glance_server import metrics
from glance_server import flavors
from glance_server import token_memo

LOG = logging.getLogger(__name__)
KNOWN_METHODS = frozenset(('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'))
MUTATING_METHODS = frozenset(('POST', 'PUT', 'DELETE', 'PATCH'))


class MethodGuard:
    """405 (with Allow) for any method a route lacks (unknown ones too, as Glance 33 does);
    400 for a body sent to a body_reject route."""

    def process_resource(self, req, resp, resource, params):
        """Check the method and the body against the matched resource."""
        if resource is None:
            return
        allowed = getattr(resource, 'allowed', None) or _responder_methods(resource)
        if req.method not in allowed:
            raise exc.MethodNotAllowed(allowed)
        if req.method in getattr(resource, 'body_reject', ()) and has_body(req):
            raise exc.BodyNotAllowed()
        ctx = getattr(req.context, 'ctx', None)
        if ctx is not None and ctx.read_only and req.method in MUTATING_METHODS:
            raise exc.Forbidden('Read-only access')   # Glance's utils.mutating

    def process_response(self, req, resp, resource, req_succeeded):
        """Give empty 202/204 answers WebOb's default headers, as Glance's do.

        The one GET that answers 204 (download without data) has no Content-Type in Glance,
        nor do v1's member changes (``bare_204``: WebOb's HTTPNoContent has an empty body).
        """
        if resp.status_code in (202, 204) and req.method != 'GET' and not resp.text \
                and resp.stream is None and not getattr(resource, 'bare_204', False):
            resp.content_type = _EMPTY_CONTENT_TYPE
            resp.set_header('Content-Length', '0')


_EMPTY_CONTENT_TYPE = 'text/html; charset=UTF-8'


def _responder_methods(resource):
    order = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD')
    return tuple(m for m in order if hasattr(resource, 'on_' + m.lower()))


class V2Redirect:
    """/v2 -> 302 to /v2/ (Glance's router redirects the empty path)."""

    allowed = tuple(KNOWN_METHODS)

    def _redirect(self, req, resp):
        resp.status = falcon.HTTP_302
        resp.set_header('Location', '%s/v2/' % application_url(req.env))
        resp.content_type = 'text/html; charset=UTF-8'
        resp.text = ''

    on_get = on_head = on_post = on_put = on_delete = on_patch = _redirect


def _data_routes(api):
    """Routes of image data and of the stores' info."""
    return [
        ('/v2/images/{image_id}/file',
         ImageDataResource(api.conf, api.registry, api.stores, enforcer=api.policy,
                           notifier=api.notifier, converter=api.converter,
                          signatures=api.signatures,
                           cache=api.image_cache if api.cache_downloads else None)),
        ('/v2/info/stores', StoresInfoResource(api.conf, api.stores)),
        ('/v2/info/stores/detail', StoresDetailResource(api.conf, api.stores,
                                                        enforcer=api.policy)),
    ]


# Requests that move image bytes, served by the worker's transfer pool (transfer_threads;
# glance_server.workers). A path without a version (the version in Accept) is v2's.
_V2_DATA = re.compile(r'/+(?:v2(?:\.\d+)?/+)?images/+[^/]+/+(?:file|stage)/*$')
_V1_IMAGES = re.compile(r'/+v1(?:\.[01])?/+images/*$')
_V1_IMAGE = re.compile(r'/+v1(?:\.[01])?/+images/+(?!detail/*$)[^/]+/*$')


def moves_image_data(method, path):
    """Whether ``method path`` may move image bytes: an upload, a download, a staging."""
    if method in ('PUT', 'GET') and _V2_DATA.match(path):
        return True
    if method == 'POST':
        return bool(_V1_IMAGES.match(path))
    return method in ('PUT', 'GET') and bool(_V1_IMAGE.match(path))


def route_table(api):
    """Return the one route table of the v2 api: [(uri template, resource)]."""
    docs = schemas.build_documents(api.schema)
    routes = [
        ('/v2', V2Redirect()),
        ('/v2/images', ImagesResource(api)),
        ('/v2/images/{image_id}', ImageResource(api)),
        ('/v2/images/{image_id}/tasks', tasks_api.ImageTasksResource(api)),
        ('/v2/images/{image_id}/locations', LocationsResource(api)),
        ('/v2/tasks', tasks_api.TasksResource(api, api.task_starters)),
        ('/v2/tasks/{task_id}', tasks_api.TaskResource(api)),
        ('/v2/images/{image_id}/actions/deactivate', ImageActionResource(api, 'deactivate')),
        ('/v2/images/{image_id}/actions/reactivate', ImageActionResource(api, 'reactivate')),
        ('/v2/images/{image_id}/tags/{tag}', ImageTagResource(api)),
        ('/v2/images/{image_id}/members', MembersResource(api)),
        ('/v2/images/{image_id}/members/{member_id}', MemberResource(api)),
        ('/v2/info/import', ImportInfoResource(api.conf)),
        ('/v2/info/usage', UsageInfoResource(api.conf, api.registry)),
        ('/v2/stores/{store_id}/{image_id}', StoreImageResource(api)),
    ]
    for name, text in docs.items():
        # NOTE: Glance marks every schema GET body_reject except task/tasks.
        reject = name not in ('task', 'tasks')
        routes.append(('/v2/schemas/%s' % name, schemas.SchemaResource(text, reject)))
    routes += cache_api.routes(api, image_cache.management_enabled(api.conf))
    routes += imports.routes(api)   # /stage, /import
    routes += metadef_items.routes(api)   # /v2/metadefs/...
    if api.conf.enable_v1_api:
        routes += _v1_routes(api)
    return routes + _data_routes(api)


def _v1_routes(api):
    """Routes of the Images API v1 (Glance Queens; ``enable_v1_api``)."""
    root = v1_images.RootResource(api)
    return [
        ('/v1', root),
        ('/v1/', root),
        ('/v1/images', v1_images.ImagesResource(api)),
        ('/v1/images/detail', v1_images.DetailResource(api)),
        ('/v1/images/{image_id}', v1_images.ImageResource(api)),
        ('/v1/images/{image_id}/members', v1_members.MembersResource(api)),
        ('/v1/images/{image_id}/members/{member_id}', v1_members.MemberResource(api)),
        ('/v1/shared-images/{member_id}', v1_members.SharedImagesResource(api)),
    ]


_V1_PREFIX = re.compile(r'/v1(?:/|$)')


def _v1_unmatched(req, resp, **params):
    """An unknown /v1 path: 404, or 501 for a verb Glance's router did not implement."""
    if req.method not in KNOWN_METHODS:
        raise exc.MethodNotImplemented()
    raise falcon.HTTPRouteNotFound()   # the answer of any other unmatched path


def create_v2_app(api):
    """Build the falcon app serving /v2 (behind context and method middleware)."""
    # NOTE: keystone, keystone+caching and keystone+cachemanagement, as Glance's pipelines.
    keystone = flavors.of(api.conf, 'glance-api').keystone
    app = falcon.App(middleware=[
        metrics.RouteLabel(),   # first: its process_resource runs before any refusal
        ContextMiddleware(api.conf, api.policy, require_identity=keystone),
        MethodGuard(),
    ])
    app.resp_options.default_media_type = falcon.MEDIA_JSON
    errors.register(app)
    for template, resource in route_table(api):
        app.add_route(template, resource)
    if api.conf.enable_v1_api:
        app.add_sink(_v1_unmatched, _V1_PREFIX)
    if keystone:
        return _wrap_keystone(app, api.conf)
    return app


def _wrap_keystone(app, conf):
    """Put keystonemiddleware's auth_token in front of ``app``, as Glance's paste pipeline.

    With delay_auth_decision a missing or invalid token reaches ContextMiddleware, which
    answers Glance's 401; auth_token then adds ``WWW-Authenticate: Keystone uri=...``. What
    auth_token concluded about a confirmed token is remembered by token_memo.TokenMemo for at
    most ``token_cache_time``.
    """
    # NOTE: imported here so noauth deployments never load keystonemiddleware.
    from keystonemiddleware import auth_token

    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    return token_memo.TokenMemo(
        app, lambda inner: auth_token.AuthProtocol(inner, {'oslo_config_config': conf,
                                                           'delay_auth_decision': True}),
        ttl=conf.keystone_authtoken.token_cache_time)


class GlanceApi:
    """Top-level WSGI app: /healthcheck, then cors → http_proxy_to_wsgi → version
    negotiation → the v2 api, as Glance's glance-api-paste.ini composes them."""

    def __init__(self, conf, v2_app):
        self.negotiator = Negotiator(conf)
        self.v2_app = v2_app
        self.healthcheck = healthcheck.Healthcheck(None, {
            'backends': 'disable_by_file',
            'disable_by_file_path': '/etc/glance/healthcheck_disable',
            'oslo_config_config': conf,
        })
        self.api = _wrap_http_filters(self._negotiate, conf)

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        # NOTE: Glance mounts /healthcheck beside its pipeline: no CORS, no proxy headers.
        if path == '/healthcheck' or path.startswith('/healthcheck/'):
            return self.healthcheck(environ, start_response)
        return self.api(environ, start_response)

    def _negotiate(self, environ, start_response):
        new_path, explicit = self.negotiator.route(environ)
        if new_path is None:
            body = self.negotiator.document(environ)
            status = '200 OK' if explicit else '300 Multiple Choices'
            start_response(status, [('Content-Type', 'application/json'),
                                    ('Content-Length', str(len(body)))])
            return [body]
        environ['PATH_INFO'] = new_path
        return self.v2_app(environ, start_response)


def _wrap_http_filters(app, conf):
    """Put oslo.middleware's ``cors`` and ``http_proxy_to_wsgi`` in front of ``app``.

    ``[cors]`` answers preflight OPTIONS requests (an OPTIONS the api refuses becomes an
    empty 200) and adds Access-Control-* headers for an allowed Origin. With
    ``[oslo_middleware] enable_proxy_headers_parsing`` the scheme and host a TLS proxy
    forwards (Forwarded, X-Forwarded-Proto/-Host/-Prefix) become the request's, so the
    versions document, ``Location`` and the /v2 redirect name the proxy's URL.

    :raises oslo_config.cfg.Error: a [cors] or [oslo_middleware] value that does not parse
        (the service refuses to start rather than answer 500).
    """
    from oslo_middleware import cors
    from oslo_middleware import http_proxy_to_wsgi

    # PERF: these webob-based filters cost 67 us (cors) and 109 us (http_proxy_to_wsgi) a
    # request, measured around a bare WSGI app, and do nothing for the requests skipped
    # here: http_proxy_to_wsgi with parsing off, cors for a request that has no Origin and
    # is not an OPTIONS. The option is read once, here, so a bad value stops the start
    # (Glance 33 reads it per request and answers every request 500).
    if conf.oslo_middleware.enable_proxy_headers_parsing:
        app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    with_cors = cors.CORS(app, conf)

    def filtered(environ, start_response):
        if 'HTTP_ORIGIN' in environ or environ.get('REQUEST_METHOD') == 'OPTIONS':
            return with_cors(environ, start_response)
        return app(environ, start_response)
    return filtered


def create_app(conf, registry=None, stores=None, service_auth=None):
    """Return the glance-api WSGI callable for conf (registry/stores built if not given).

    :raises flavors.UnknownFlavor: ``[paste_deploy] flavor`` is not one of the api's.
    """
    return GlanceApi(conf, create_v2_app(wiring.build(conf, registry, stores, service_auth)))
