"""The glance-registry WSGI application (internals §3): the only process touching the DB."""

import logging

import falcon
from glance_db import exceptions as db_exc
from glance_server import flavors
from sqlalchemy import exc as sa_exc

from glance_registry import context
from glance_registry import exceptions as reg_exc
from glance_server import metrics
from glance_server import token_memo
from glance_registry import rights
from glance_registry.resources import bodies, cache, images, members, metadefs, scrub, tasks
from glance_registry.resources import usage

LOG = logging.getLogger(__name__)

# One exception → (status, code) table. The code is the class name the client maps back.
ERRORS = {
    db_exc.ImageNotFound: falcon.HTTP_404,
    db_exc.MemberNotFound: falcon.HTTP_404,
    db_exc.TagNotFound: falcon.HTTP_404,
    db_exc.MarkerNotFound: falcon.HTTP_400,
    db_exc.InvalidFilter: falcon.HTTP_400,
    db_exc.InvalidSortKey: falcon.HTTP_400,
    db_exc.Duplicate: falcon.HTTP_409,
    db_exc.Conflict: falcon.HTTP_409,
    db_exc.TaskNotFound: falcon.HTTP_404,
    db_exc.TaskForbidden: falcon.HTTP_403,
    db_exc.MetadefNamespaceNotFound: falcon.HTTP_404,
    db_exc.MetadefForbidden: falcon.HTTP_403,
    db_exc.MetadefNotFound: falcon.HTTP_404,
    reg_exc.BadRequest: falcon.HTTP_400,
    reg_exc.Forbidden: falcon.HTTP_403,
    reg_exc.MemberNotFound: falcon.HTTP_404,
}

# Database failures glance_db does not name: an unreachable or locked database is
# transient (the api answers 503); a value the column cannot hold is the caller's fault.
DB_ERRORS = {
    sa_exc.OperationalError: (falcon.HTTP_503, 'RegistryUnavailable'),
    sa_exc.DataError: (falcon.HTTP_400, 'BadRequest'),
    sa_exc.IntegrityError: (falcon.HTTP_400, 'BadRequest'),
}

# Codes for falcon's own errors (unknown route, bad query parameter, ...).
HTTP_CODES = {400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
              413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType'}


def render_error(resp, status, code, message):
    """Answer ``{"error": {"code", "message"}}`` with ``status``."""
    bodies.render(resp, {'error': {'code': code, 'message': message}}, status)


def _named_handler(status):
    def handle(req, resp, ex, params):
        render_error(resp, status, type(ex).__name__, ex.message)
    return handle


def _db_handler(status, code):
    def handle(req, resp, ex, params):
        LOG.warning('Database error on %s %s: %s', req.method, req.path, ex)
        render_error(resp, status, code, 'Database error: %s' % type(ex.orig).__name__)
    return handle


def _http_error(req, resp, ex, params):
    status = ex.status_code
    message = ex.title if not ex.description else '%s: %s' % (ex.title, ex.description)
    render_error(resp, ex.status, HTTP_CODES.get(status, 'HTTPError'), message)
    if ex.headers:
        resp.set_headers(ex.headers)


def _unexpected(req, resp, ex, params):
    LOG.exception('Unexpected error on %s %s', req.method, req.path)
    render_error(resp, falcon.HTTP_500, 'InternalError', 'Internal error in the registry')


class HealthcheckResource:
    """``/healthcheck``: liveness probe, as oslo.middleware's healthcheck."""

    def on_get(self, req, resp):
        """Answer 200 ``OK``."""
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = 'OK'

    on_head = on_get


def _add_routes(app, repos):
    repo = repos.images
    app.add_route('/healthcheck', HealthcheckResource())
    app.add_route('/images', images.ImagesResource(repo))
    app.add_route('/images/search', images.ImageSearchResource(repo))
    app.add_route('/images/{image_id}', images.ImageResource(repo))
    # NOTE: a tag may hold "/" (arrives decoded in PATH_INFO), hence the path converter.
    app.add_route('/images/{image_id}/tags/{tag:path}', images.ImageTagResource(repo))
    app.add_route('/images/{image_id}/members', members.MembersResource(repo))
    app.add_route('/images/{image_id}/members/{member}', members.MemberResource(repo))
    if repos.tasks is not None:
        tasks.add_routes(app, repos.tasks)
    if repos.cache is not None:
        cache.add_routes(app, repos.cache)
    if repos.usage is not None:
        app.add_route('/usage/{owner}', usage.UsageResource(repos.usage))
    if repos.scrub is not None:
        scrub.add_routes(app, repos.scrub, repo)
    if repos.metadefs is not None:
        metadefs.add_routes(app, repos.metadefs)


def _add_error_handlers(app):
    # NOTE: falcon picks the most specific handler along the exception's MRO.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    for cls, (status, code) in DB_ERRORS.items():
        app.add_error_handler(cls, _db_handler(status, code))
    for cls, status in ERRORS.items():
        app.add_error_handler(cls, _named_handler(status))


def _keystone(app, conf):
    """Put keystonemiddleware's auth_token (``[keystone_authtoken]``) in front of ``app``.

    As Glance's registry-keystone pipeline: every call but /healthcheck needs a valid
    X-Auth-Token (no delay_auth_decision, so keystonemiddleware answers the 401 itself); the
    identity headers reaching ``app`` are the ones it set from the token, remembered per token
    pair by token_memo.TokenMemo for at most ``token_cache_time``.
    """
    # NOTE: imported here so noauth deployments never load keystonemiddleware.
    from keystonemiddleware import auth_token

    class AuthProtocol(auth_token.AuthProtocol):
        def process_request(self, request):
            if request.path_info == '/healthcheck':   # before authtoken in Glance's pipeline
                return None
            return super().process_request(request)

    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    return token_memo.TokenMemo(
        app, lambda inner: AuthProtocol(inner, {'oslo_config_config': conf}),
        ttl=conf.keystone_authtoken.token_cache_time)


class NoServiceRoles(ValueError):
    """Keystone mode with an empty ``[keystone_authtoken] service_token_roles``."""


def service_token_roles(conf):
    """Return ``[keystone_authtoken] service_token_roles``, keystonemiddleware's option.

    :raises NoServiceRoles: the list is empty, so no call could ever count as glance-api's.
    """
    from keystonemiddleware import auth_token
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    roles = [r for r in conf.keystone_authtoken.service_token_roles if r.strip()]
    if not roles:
        raise NoServiceRoles(
            '[keystone_authtoken] service_token_roles is empty: the registry could not tell '
            'glance-api from a user and would refuse every write')
    return roles


def create_app(conf, repos=None):
    """Build the registry WSGI app over ``repos`` (a glance_db.repos.Repos).

    Without ``repos`` every repository is made from ``conf`` on one engine.
    :raises flavors.UnknownFlavor: ``[paste_deploy] flavor`` is not the registry's.
    :raises NoServiceRoles: see service_token_roles.
    """
    keystone = flavors.of(conf, 'glance-registry').keystone
    admin_check, service_roles = None, ()
    if keystone:
        from glance_registry import policy
        admin_check = policy.AdminCheck(conf).check
        service_roles = service_token_roles(conf)
    if repos is None:
        from glance_db import engine as db_engine
        from glance_db import repos as db_repos
        repos = db_repos.from_engine(db_engine.engine_from_conf(conf))
    app = falcon.App(middleware=[
        metrics.RouteLabel(),
        context.ContextMiddleware(admin_check=admin_check, service_roles=service_roles),
        rights.ServiceGate()])
    app.req_options.auto_parse_form_urlencoded = False
    _add_routes(app, repos)
    _add_error_handlers(app)
    return _keystone(app, conf) if keystone else app
