"""Who may change what: the registry's own checks on every write (docs/security.md).

Two questions, asked in this order:

1. Does the caller's identity (its Keystone token, or in noauth the trusted headers) allow
   the change? As Glance's registry DB layer (``is_image_mutable``): an admin, or the
   project that owns the image; an image the caller cannot see is a 404, one it can see but
   does not own a 403 "You do not own this image".
2. Is the call forwarded by glance-api, which checked its policy, quotas, property
   protections and schema first? Behind Keystone that is a valid ``X-Service-Token`` whose
   roles meet ``[keystone_authtoken] service_token_roles``; a user token alone may read what
   it can see and write nothing. In noauth (Glance's trusted-auth pipeline) every caller is
   trusted, which is why that mode must only listen where glance-api alone can reach it.
"""

from glance_registry import exceptions

# NOTE: POST routes that only read (a query too large for a URL).
READ_ONLY_POSTS = frozenset(['/images/search', '/tasks/search', '/metadefs/search',
                             '/cache/search'])
WRITE_METHODS = frozenset(['POST', 'PUT', 'PATCH', 'DELETE'])
NOT_FROM_API = ('Only glance-api may change the image registry: this call needs a valid '
                'X-Service-Token with one of the [keystone_authtoken] service_token_roles '
                'besides the user token. Use the Images API.')


class ServiceGate:
    """Refuse, before the responder runs, what a caller without the service token may not do.

    A resource with ``service_only = True`` serves glance-api alone, reads included (cache
    records, scrub queue, reservations). Any other write needs the service token too, except
    on resources with ``checks_rights = True``: their responders check the caller's own
    rights first (so a stranger gets Glance's 404/403) and call ``require_service`` after.
    """

    def process_resource(self, req, resp, resource, params):
        """Apply the gate to the matched resource."""
        if resource is None or req.context.ctx.is_service:
            return
        if getattr(resource, 'service_only', False):
            raise exceptions.Forbidden(NOT_FROM_API)
        if req.method not in WRITE_METHODS or req.path in READ_ONLY_POSTS:
            return
        if not getattr(resource, 'checks_rights', False):
            raise exceptions.Forbidden(NOT_FROM_API)


def require_service(ctx):
    """Raise Forbidden unless glance-api forwarded this call (see the module docstring)."""
    if not ctx.is_service:
        raise exceptions.Forbidden(NOT_FROM_API)


def is_image_mutable(ctx, image):
    """Return True when ``ctx`` may change ``image`` (Glance's is_image_mutable)."""
    if ctx.is_admin:
        return True
    if image.get('owner') is None or ctx.project_id is None:
        return False
    return image['owner'] == ctx.project_id


def check_mutable(ctx, image):
    """Raise Forbidden unless ``ctx`` owns ``image`` or is an admin."""
    if not is_image_mutable(ctx, image):
        raise exceptions.Forbidden('You do not own this image')


def check_create(ctx, values):
    """Force the new image's owner to the caller's project unless the caller is an admin."""
    if not ctx.is_admin:
        values['owner'] = ctx.project_id
    return values


def check_update(ctx, image, values):
    """Check an update of ``image`` by ``ctx``: owner or admin; ``owner`` changes admin only."""
    check_mutable(ctx, image)
    if 'owner' in values and values['owner'] != image.get('owner') and not ctx.is_admin:
        raise exceptions.Forbidden("You are not permitted to modify 'owner' on this image.")


def check_share(ctx, image):
    """Raise Forbidden unless ``ctx`` may add or remove members of ``image``."""
    if not is_image_mutable(ctx, image):
        raise exceptions.Forbidden('No permission to share that image')


def check_member_status(ctx, member):
    """Raise Forbidden unless ``ctx`` is the member itself (or an admin)."""
    if not ctx.is_admin and ctx.project_id != member:
        raise exceptions.Forbidden('Only the member %s may change the status of its '
                                   'membership' % member)


def visible_members(ctx, image, members):
    """Return the rows of ``members`` that ``ctx`` may see (Glance's image_member_find).

    An admin and the owner see every member; anyone else only its own membership.
    """
    if is_image_mutable(ctx, image):
        return members
    return [m for m in members if m['member'] == ctx.project_id]
