"""/v1/images/{id}/members[/{member}] and /v1/shared-images/{member} (the map's §2.7).

Adding, replacing and removing members is for the image's owner or an admin: the registry
checks it on every write (glance_registry/rights.py). Queens also let a member whose row has
``can_share`` share the image further; here ``can_share`` is recorded and shown but grants
nothing (docs/security.md).
"""

from glance_api import exceptions as exc
from glance_api import notifier
from glance_api.rules import policy
from glance_api.v1 import images
from glance_api.v1.headers import parse_bool
from glance_api.web.bodies import has_body, read_json, write_json
from glance_registry import exceptions as reg_exc


def _can_share(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool('can_share', value)
    raise exc.BadRequest('Invalid membership association: can_share must be a boolean')


def _no_content(resp):
    # NOTE: 204 with no body and no Content-Type, as Queens' HTTPNoContent (glanceclient
    # 2.17.1 would parse a JSON-typed empty body and crash).
    resp.status = 204
    resp.content_type = None


def _owner_or_admin(ctx, image):
    return ctx.is_admin or (ctx.project_id is not None and image.get('owner') == ctx.project_id)


def _live_image(api, ctx, image_id):
    image = images.lookup(api, ctx, image_id)
    if image.get('deleted'):
        raise exc.NotFound('Image with identifier %s has been deleted.' % image_id)
    return image


def _image_for_change(api, ctx, image_id, rule):
    image = _live_image(api, ctx, image_id)
    if not ctx.is_admin and ctx.project_id is None:
        raise exc.Unauthorized('No authenticated user')
    if not _owner_or_admin(ctx, image):
        # NOTE: Queens answered the registry's refusal as a 404.
        raise exc.NotFound('No permission to share that image')
    if image['visibility'] != 'shared':
        # NOTE: v2's rule (Queens made an inert row): v1 allows nothing v2 forbids.
        raise exc.Forbidden('Only shared images have members.')
    api.policy.enforce(ctx, rule, policy.image_target_for(ctx, image))
    return image


def _check_quota(api, current, new_count):
    maximum = api.conf.image_member_quota
    if maximum >= 0 and current + new_count > maximum:
        raise exc.LimitExceeded('The limit has been exceeded on the number of allowed image '
                                'members for this image. Attempted: %d, Maximum: %d'
                                % (current + new_count, maximum))


def _put_member(api, ctx, image_id, member_id, can_share, existing):
    """Add ``member_id`` or change its can_share (None: keep)."""
    old = existing.get(member_id)
    if old is not None:
        if can_share is None or bool(old['can_share']) == can_share:
            return
        # NOTE: the registry keeps can_share from the create; a change re-creates the row
        # with the member's status.
        api.registry.member_delete(ctx, image_id, member_id)
        api.registry.member_create(ctx, image_id, member_id, can_share=can_share)
        if old['status'] != 'pending':
            api.registry.member_update(ctx, image_id, member_id, old['status'])
        return
    try:
        member = api.registry.member_create(ctx, image_id, member_id,
                                            can_share=bool(can_share))
    except reg_exc.Duplicate:
        return   # NOTE: a concurrent add won; the membership exists either way
    api.notifier.member('image.member.create', member)


class MembersResource:
    """GET (list) and PUT (replace) /v1/images/{id}/members."""

    allowed = ('GET', 'PUT')
    bare_204 = True

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id):
        """List the members the caller may see: all for the owner, else its own row."""
        api, ctx = self.api, req.context.ctx
        image = _live_image(api, ctx, image_id)
        api.policy.enforce(ctx, 'get_members', policy.image_target_for(ctx, image))
        members = api.registry.member_list(ctx, image_id)
        if not _owner_or_admin(ctx, image):
            members = [m for m in members if m['member'] == ctx.project_id]
        write_json(resp, {'members': [{'member_id': m['member'], 'can_share': m['can_share']}
                                      for m in members]})

    def on_put(self, req, resp, image_id):
        """Replace the member list with ``{"memberships": [...]}`` (204)."""
        api, ctx = self.api, req.context.ctx
        body = read_json(req)
        wanted = _memberships(body)
        _image_for_change(api, ctx, image_id, 'add_member')
        existing = {m['member']: m for m in api.registry.member_list(ctx, image_id)}
        _check_quota(api, 0, len(wanted))
        for member_id, can_share in wanted.items():
            _put_member(api, ctx, image_id, member_id, can_share, existing)
        for member_id, member in existing.items():
            if member_id not in wanted:
                api.registry.member_delete(ctx, image_id, member_id)
                api.notifier.member('image.member.delete', member, notifier.deleted())
        _no_content(resp)


def _memberships(body):
    if not isinstance(body, dict) or not isinstance(body.get('memberships'), list):
        raise exc.BadRequest('Invalid membership association: %s' % (body,))
    wanted = {}
    for item in body['memberships']:
        member_id = item.get('member_id') if isinstance(item, dict) else None
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise exc.BadRequest('Invalid membership association: %s' % (item,))
        wanted[member_id] = _can_share(item['can_share']) if 'can_share' in item else None
    return wanted


class MemberResource:
    """PUT (add) and DELETE (remove) /v1/images/{id}/members/{member}."""

    allowed = ('GET', 'PUT', 'DELETE')
    bare_204 = True

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id, member_id):
        """Queens' 405 without an Allow header."""
        raise exc.MethodNotAllowed(())

    def on_put(self, req, resp, image_id, member_id):
        """Share the image with ``member_id`` (204); the body may set can_share."""
        api, ctx = self.api, req.context.ctx
        can_share = None
        if has_body(req):
            body = read_json(req)
            member = body.get('member') if isinstance(body, dict) else None
            if isinstance(member, dict) and 'can_share' in member:
                can_share = _can_share(member['can_share'])
        if not member_id or len(member_id) > 255:
            raise exc.BadRequest('Invalid member id')
        _image_for_change(api, ctx, image_id, 'add_member')
        existing = {m['member']: m for m in api.registry.member_list(ctx, image_id)}
        # NOTE: only a genuinely new member counts toward the quota (§6.9).
        _check_quota(api, len(existing), 0 if member_id in existing else 1)
        _put_member(api, ctx, image_id, member_id, can_share, existing)
        _no_content(resp)

    def on_delete(self, req, resp, image_id, member_id):
        """Stop sharing the image with ``member_id`` (204)."""
        api, ctx = self.api, req.context.ctx
        _image_for_change(api, ctx, image_id, 'delete_member')
        try:
            member = api.registry.member_get(ctx, image_id, member_id)
            api.registry.member_delete(ctx, image_id, member_id)
        except reg_exc.MemberNotFound:
            raise exc.NotFound('Membership could not be found.') from None
        api.notifier.member('image.member.delete', member, notifier.deleted())
        _no_content(resp)


class SharedImagesResource:
    """Any method on /v1/shared-images/{member}: the memberships of ``member`` the caller may
    see (Queens mapped the path with no method condition)."""

    allowed = images.ANY_METHOD

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, member_id):
        """List ``{"image_id", "can_share"}`` of member's live memberships."""
        images.ignore_body(req)
        api, ctx = self.api, req.context.ctx
        if not ctx.is_admin and member_id != ctx.project_id:
            owned = [['owner', 'eq', ctx.project_id]]
        else:
            owned = []
        query = {'filters': owned, 'tags': [], 'visibility': None, 'member_status': 'all',
                 'os_hidden': None, 'marker': None, 'limit': api.conf.api_limit_max,
                 'sort': [['created_at', 'desc'], ['id', 'desc']]}
        shared = []
        for image in api.registry.image_list(ctx, query):
            if not api.policy.check(ctx, 'get_members', policy.image_target_for(ctx, image)):
                continue   # SECURITY: Queens checked no policy here (§6.14)
            for m in api.registry.member_list(ctx, image['id'], member=member_id):
                shared.append({'image_id': image['id'], 'can_share': m['can_share']})
        write_json(resp, {'shared_images': shared})

    on_head = on_post = on_put = on_delete = on_patch = on_get
