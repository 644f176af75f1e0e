"""/v2/images/{image_id}/members[/{member_id}]: image sharing."""

from glance_api import exceptions as exc
from glance_api import notifier
from glance_api.rules import policy
from glance_api.web.bodies import read_json, write_empty, write_json
from glance_api.images.views import member_view
from glance_registry import exceptions as reg_exc

STATUSES = ('pending', 'accepted', 'rejected')


def _lookup_image(api, ctx, image_id):
    try:
        return api.registry.image_get(ctx, image_id)
    except reg_exc.ImageNotFound:
        raise exc.NotFound('Image %s not found.' % image_id) from None


def _enforce(api, ctx, rule, image, member_id=None):
    """Check get_image first (404 if invisible), then the member rule (403)."""
    policy.enforce_image(api.policy, ctx, 'get_image', image)
    target = policy.image_target_for(ctx, image)
    if member_id is not None:
        target['member_id'] = member_id
    api.policy.enforce(ctx, rule, target)


def _legacy_owner_check(api, ctx, image, action):
    """With enforce_new_defaults = False, Glance's hard-coded member ownership checks."""
    if api.policy.new_defaults or ctx.is_admin:
        return
    owner = image.get('owner')
    if action == 'update':
        refused = ctx.project_id == owner
    elif action == 'create':
        refused = owner is None or owner != ctx.project_id
    else:
        refused = ctx.project_id != owner
    if refused:
        raise exc.Forbidden('Not allowed to %s members for image %s.' % (action, image['id']))


def _is_owner_or_admin(ctx, image):
    return ctx.is_admin or (ctx.project_id is not None and image.get('owner') == ctx.project_id)


def _lookup_member(api, ctx, image, member_id):
    not_found = '%s not found in the member list of the image %s.' % (member_id, image['id'])
    if not _is_owner_or_admin(ctx, image) and member_id != ctx.project_id:
        raise exc.NotFound(not_found)
    try:
        return api.registry.member_get(ctx, image['id'], member_id)
    except (reg_exc.MemberNotFound, reg_exc.ImageNotFound):
        raise exc.NotFound(not_found) from None


class MembersResource:
    """GET (list) and POST (add) members of an image."""

    allowed = ('GET', 'POST')
    body_reject = ('GET',)

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id):
        """List the members the caller may see."""
        api, ctx = self.api, req.context.ctx
        image = _lookup_image(api, ctx, image_id)
        if image['visibility'] != 'shared':
            raise exc.Forbidden('Not allowed to list members for image %s: Only shared images '
                                'have members.' % image_id)
        _enforce(api, ctx, 'get_members', image)
        members = api.registry.member_list(ctx, image_id)
        if not _is_owner_or_admin(ctx, image):
            members = [m for m in members if m['member'] == ctx.project_id]
        write_json(resp, {'members': [member_view(m) for m in members],
                          'schema': '/v2/schemas/members'})

    def on_post(self, req, resp, image_id):
        """Share the image with a project (answers 200, like Glance)."""
        api, ctx = self.api, req.context.ctx
        member_id = _member_from_body(read_json(req))
        image = _lookup_image(api, ctx, image_id)
        if image['visibility'] != 'shared':
            raise exc.Forbidden('Not allowed to create members for image %s.' % image_id)
        _legacy_owner_check(api, ctx, image, 'create')
        _enforce(api, ctx, 'add_member', image)
        maximum = api.conf.image_member_quota
        if maximum >= 0:
            attempted = len(api.registry.member_list(ctx, image_id)) + 1
            if attempted > maximum:
                raise exc.LimitExceeded(
                    'Image member limit exceeded for image %s: The limit has been exceeded on '
                    'the number of allowed image members for this image. Attempted: %d, '
                    'Maximum: %d:' % (image_id, attempted, maximum))
        try:
            member = api.registry.member_create(ctx, image_id, member_id)
        except reg_exc.Duplicate:
            raise exc.Conflict('Member %s is duplicated for image %s'
                               % (member_id, image_id)) from None
        api.notifier.member('image.member.create', member)
        write_json(resp, member_view(member))


def _member_from_body(body):
    if not isinstance(body, dict):
        raise exc.BadRequest('Expected a member in the form: {"member": "image_id"}')
    if 'member' not in body:
        raise exc.BadRequest('Member to be added not specified')
    member_id = body['member']
    if not member_id:
        raise exc.BadRequest("Member can't be empty")
    if not isinstance(member_id, str) or len(member_id) > 255:
        raise exc.BadRequest('Expected a member in the form: {"member": "image_id"}')
    return member_id


class MemberResource:
    """GET, PUT (status) and DELETE one member of an image."""

    allowed = ('GET', 'PUT', 'DELETE')
    body_reject = ('GET', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id, member_id):
        """Show one membership (404 rather than 403 to hide it)."""
        api, ctx = self.api, req.context.ctx
        image = _lookup_image(api, ctx, image_id)
        if image['visibility'] != 'shared':
            raise exc.NotFound('Only shared images have members.')
        try:
            _enforce(api, ctx, 'get_member', image)
        except exc.PolicyForbidden as e:
            raise exc.NotFound(e.message) from None
        write_json(resp, member_view(_lookup_member(api, ctx, image, member_id)))

    def on_put(self, req, resp, image_id, member_id):
        """Accept, reject or reset a membership (the member project itself or admin)."""
        api, ctx = self.api, req.context.ctx
        body = read_json(req)
        if not isinstance(body, dict):
            raise exc.BadRequest('Expected a status in the form: {"status": "status"}')
        if 'status' not in body:
            raise exc.BadRequest('Status not specified')
        image = _lookup_image(api, ctx, image_id)
        if image['visibility'] != 'shared':
            raise exc.Forbidden('Not allowed to update members for image %s.' % image_id)
        _legacy_owner_check(api, ctx, image, 'update')
        _enforce(api, ctx, 'get_member', image)
        _lookup_member(api, ctx, image, member_id)
        _enforce(api, ctx, 'modify_member', image, member_id=member_id)
        if body['status'] not in STATUSES:
            raise exc.BadRequest('Incorrect request: Status must be "pending", "accepted" or '
                                 '"rejected".')
        member = api.registry.member_update(ctx, image_id, member_id, body['status'])
        api.notifier.member('image.member.update', member)
        write_json(resp, member_view(member))

    def on_delete(self, req, resp, image_id, member_id):
        """Stop sharing the image with a project."""
        api, ctx = self.api, req.context.ctx
        image = _lookup_image(api, ctx, image_id)
        if image['visibility'] != 'shared':
            raise exc.Forbidden('Not allowed to delete members for image %s.' % image_id)
        _legacy_owner_check(api, ctx, image, 'delete')
        _enforce(api, ctx, 'get_member', image)
        member = _lookup_member(api, ctx, image, member_id)
        _enforce(api, ctx, 'delete_member', image)
        try:
            api.registry.member_delete(ctx, image_id, member_id)
        except reg_exc.MemberNotFound:
            raise exc.NotFound('%s not found in the member list of the image %s.'
                               % (member_id, image_id)) from None
        api.notifier.member('image.member.delete', member, notifier.deleted())
        write_empty(resp)
