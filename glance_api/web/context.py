"""Who is asking: the request context and the falcon middleware that builds it."""

import uuid

from glance_api import exceptions as exc


# attribute -> the header keystonemiddleware sets (oslo.context's from_environ), first wins
_HEADERS = {
    'user_id': ('X-USER-ID', 'X-USER'),
    'project_id': ('X-PROJECT-ID', 'X-TENANT-ID', 'X-TENANT'),
    'domain_id': ('X-DOMAIN-ID',),
    'system_scope': ('OPENSTACK-SYSTEM-SCOPE',),
    'user_domain_id': ('X-USER-DOMAIN-ID',),
    'project_domain_id': ('X-PROJECT-DOMAIN-ID',),
    'service_user_id': ('X-SERVICE-USER-ID',),
    'service_user_domain_id': ('X-SERVICE-USER-DOMAIN-ID',),
    'service_project_id': ('X-SERVICE-PROJECT-ID',),
    'service_project_domain_id': ('X-SERVICE-PROJECT-DOMAIN-ID',),
    'auth_token': ('X-AUTH-TOKEN', 'X-STORAGE-TOKEN'),
}
_EXTRA = ('domain_id', 'system_scope', 'user_domain_id', 'project_domain_id',
          'service_user_id', 'service_user_domain_id', 'service_project_id',
          'service_project_domain_id')


class RequestContext:
    """Identity of the caller, passed to the policy checks and the registry client."""

    __slots__ = ('project_id', 'user_id', 'roles', 'is_admin', 'request_id', 'auth_token',
                 'read_only', 'service_catalog', 'service_roles', 'is_admin_project') + _EXTRA

    def __init__(self, project_id=None, user_id=None, roles=(), is_admin=False,
                 request_id=None, auth_token=None, read_only=False, service_roles=(),
                 is_admin_project=True, **extra):
        self.project_id = project_id
        self.user_id = user_id
        self.roles = list(roles)
        self.is_admin = is_admin
        self.request_id = request_id or 'req-%s' % uuid.uuid4()
        self.auth_token = auth_token
        self.read_only = read_only
        self.service_catalog = None
        self.service_roles = list(service_roles)
        self.is_admin_project = is_admin_project
        for name in _EXTRA:
            setattr(self, name, extra.pop(name, None))
        if extra:
            raise TypeError('unexpected context attributes: %s' % sorted(extra))

    @property
    def owner(self):
        """Return the project the caller acts for (Glance's context.owner)."""
        return self.project_id

    def to_policy_values(self):
        """Return the credentials oslo.policy checks rules against (oslo.context's keys)."""
        values = {'user_id': self.user_id, 'user_domain_id': self.user_domain_id,
                  'system_scope': self.system_scope, 'domain_id': self.domain_id,
                  'project_id': self.project_id, 'project_domain_id': self.project_domain_id,
                  'roles': self.roles, 'is_admin_project': self.is_admin_project,
                  'service_user_id': self.service_user_id,
                  'service_user_domain_id': self.service_user_domain_id,
                  'service_project_id': self.service_project_id,
                  'service_project_domain_id': self.service_project_domain_id,
                  'service_roles': self.service_roles}
        if self.system_scope:
            values['system'] = self.system_scope
        return values


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
        try:
            req.context.ctx = self._build(req)
        except exc.Unauthorized:
            # NOTE: Glance's 401 is raised before its request id is set: none is echoed.
            req.context.request_id = None
            raise

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
        values = {}
        for name, candidates in _HEADERS.items():
            for header in candidates:
                if header in headers:
                    values[name] = headers[header]
                    break
        # NOTE: Glance lower-cases the roles but not the service roles.
        roles = _split_roles(headers.get('X-ROLES', headers.get('X-ROLE')))
        service_roles = [r.strip() for r in headers.get('X-SERVICE-ROLES', '').split(',')
                         if r.strip()]
        ctx = RequestContext(
            roles=roles, service_roles=service_roles, request_id=req.context.request_id,
            is_admin_project=headers.get('X-IS-ADMIN-PROJECT', 'true').lower() == 'true',
            **values)
        ctx.is_admin = self.policy.check_is_admin(ctx)
        return ctx

    def process_response(self, req, resp, resource, req_succeeded):
        """Echo the request id on every answer that passed this middleware."""
        request_id = getattr(req.context, 'request_id', None)
        if request_id:
            resp.set_header('x-openstack-request-id', request_id)


def request_context(req):
    """Return the RequestContext the context middleware attached to ``req``."""
    return getattr(req.context, 'ctx', None) or req.context
