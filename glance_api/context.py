"""Who is asking: the request context and the falcon middleware that builds it."""

import uuid

from glance_api import exceptions as exc


class RequestContext:
    """Identity of the caller, passed to the policy checks and the registry client."""

    __slots__ = ('project_id', 'user_id', 'roles', 'is_admin', 'request_id', 'auth_token',
                 'read_only', 'service_catalog')

    def __init__(self, project_id=None, user_id=None, roles=(), is_admin=False,
                 request_id=None, auth_token=None, read_only=False):
        self.project_id = project_id
        self.user_id = user_id
        self.roles = list(roles)
        self.is_admin = is_admin
        self.request_id = request_id or 'req-%s' % uuid.uuid4()
        self.auth_token = auth_token
        self.read_only = read_only
        self.service_catalog = None

    @property
    def owner(self):
        """Return the project the caller acts for (Glance's context.owner)."""
        return self.project_id

    def to_policy_values(self):
        """Return the credentials dict oslo.policy checks rules against."""
        return {'project_id': self.project_id, 'user_id': self.user_id,
                'roles': self.roles, 'is_admin': self.is_admin,
                'system_scope': None, 'domain_id': None, 'service_roles': []}


_IDENTITY_HEADERS = ('X-IDENTITY-STATUS', 'X-ROLES', 'X-PROJECT-ID', 'X-TENANT-ID',
                     'X-USER-ID')


def _split_roles(value):
    return [r.strip().lower() for r in (value or '').split(',') if r.strip()]


class ContextMiddleware:
    """Attach x-openstack-request-id and a RequestContext (req.context.ctx) to requests.

    With ``require_identity`` (keystone flavor) a request must carry
    ``X-Identity-Status: Confirmed`` (set by keystonemiddleware) or it gets 401, as in
    Glance's ContextMiddleware. In noauth mode a request without identity headers gets
    Glance's unauthenticated context: admin, no project.
    """

    def __init__(self, conf, policy, require_identity=False):
        self.conf = conf
        self.policy = policy
        self.require_identity = require_identity

    def process_request(self, req, resp):
        """Build the context and the request id before routing."""
        raw = req.get_header('X-Openstack-Request-Id')
        request_id = raw
        if request_id and not request_id.startswith('req-'):
            request_id = 'req-' + request_id
        req.context.request_id = request_id or 'req-%s' % uuid.uuid4()
        max_len = self.conf.max_request_id_length
        if raw and 0 < max_len < len(raw):
            raise exc.RequestHeaderFieldsTooLarge(
                'x-openstack-request-id is too long, max size %s' % max_len)
        req.context.ctx = self._build(req)

    def _build(self, req):
        headers = req.headers
        confirmed = headers.get('X-IDENTITY-STATUS') == 'Confirmed'
        if self.require_identity and not confirmed:
            if self.conf.allow_anonymous_access:
                return RequestContext(request_id=req.context.request_id, read_only=True)
            raise exc.Unauthorized()
        if not confirmed and not any(h in headers for h in _IDENTITY_HEADERS):
            # NOTE: Glance's unauthenticated context is admin with no project; the roles
            # let the role-based default rules treat it as admin too.
            return RequestContext(is_admin=True, roles=('admin', 'member', 'reader'),
                                  request_id=req.context.request_id)
        roles = _split_roles(headers.get('X-ROLES'))
        ctx = RequestContext(
            project_id=headers.get('X-PROJECT-ID') or headers.get('X-TENANT-ID'),
            user_id=headers.get('X-USER-ID'), roles=roles,
            request_id=req.context.request_id, auth_token=headers.get('X-AUTH-TOKEN'))
        ctx.is_admin = self.policy.check_is_admin(ctx)
        return ctx

    def process_response(self, req, resp, resource, req_succeeded):
        """Echo the request id on every answer that passed this middleware."""
        request_id = getattr(req.context, 'request_id', None)
        if request_id:
            resp.set_header('x-openstack-request-id', request_id)
