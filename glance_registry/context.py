"""Who is asking: built from the identity headers of each registry request."""

import uuid

_TRUE = frozenset(['true', '1', 'yes', 'y', 'on'])


class RequestContext:
    """The caller of one registry request (internals §3 identity headers)."""

    __slots__ = ('project_id', 'user_id', 'roles', 'is_admin', 'request_id', 'is_service')

    def __init__(self, project_id=None, user_id=None, roles=(), is_admin=False,
                 request_id=None, is_service=False):
        self.project_id = project_id
        self.user_id = user_id
        self.roles = list(roles)
        self.is_admin = is_admin
        self.request_id = request_id
        # glance-api forwarded this call (glance_registry.rights)
        self.is_service = is_service


def _split_roles(value):
    return [r.strip().lower() for r in value.split(',') if r.strip()] if value else []


class ContextMiddleware:
    """Attach ``req.context.ctx`` and echo the request id.

    In noauth (Glance's trusted-auth pipeline) the headers sent by glance-api are trusted,
    ``X-Is-Admin`` included, and every caller counts as glance-api. Behind keystonemiddleware
    (``admin_check`` given) the identity headers are the ones it set from the validated
    tokens (it strips any the client sent): admin is what ``admin_check(roles, project_id,
    user_id)`` says (the context_is_admin rule), never a header, and the call comes from
    glance-api only when the service token it validated has one of ``service_roles``.
    """

    def __init__(self, admin_check=None, service_roles=()):
        self.admin_check = admin_check
        self.service_roles = frozenset(r.lower() for r in service_roles)

    def process_request(self, req, resp):
        """Build the context from the identity headers."""
        header = req.get_header
        roles = _split_roles(header('X-Roles'))
        project_id = header('X-Project-Id') or None
        user_id = header('X-User-Id') or None
        if self.admin_check is not None:
            is_admin = self.admin_check(roles, project_id, user_id)
            is_service = (header('X-Service-Identity-Status') == 'Confirmed'
                          and not self.service_roles.isdisjoint(
                              _split_roles(header('X-Service-Roles'))))
        else:
            is_admin = (header('X-Is-Admin') or '').lower() in _TRUE
            is_service = True
        request_id = header('X-Openstack-Request-Id') or 'req-%s' % uuid.uuid4()
        req.context.ctx = RequestContext(
            project_id=project_id, user_id=user_id, roles=roles, is_admin=is_admin,
            request_id=request_id, is_service=is_service)
        resp.set_header('X-Openstack-Request-Id', request_id)
