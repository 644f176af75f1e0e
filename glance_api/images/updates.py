"""Applying parsed PATCH changes to an image (Glance's _do_add/_do_replace/_do_remove)."""

import uuid

from glance_api import exceptions as exc
from glance_api.data import locations as location_data
from glance_api.images import locations_patch
from glance_api.rules import policy

SETTABLE = frozenset(('name', 'visibility', 'protected', 'os_hidden', 'min_ram', 'min_disk',
                      'disk_format', 'container_format', 'owner', 'tags'))
RESERVED_NS = 'os_glance'


def new_id():
    """Return a new image id."""
    return str(uuid.uuid4())


def unique(items):
    """Return items without duplicates, first occurrence order kept."""
    return list(dict.fromkeys(items))


def check_not_negative(name, value):
    """Refuse a negative min_ram/min_disk with Glance's message."""
    if value is not None and value < 0:
        raise exc.BadRequest("Invalid value '%s' for parameter '%s': Cannot be a negative "
                             "value" % (value, name))


def check_property_quota(conf, properties):
    """Raise LimitExceeded when there are more extra properties than image_property_quota."""
    maximum = conf.image_property_quota
    if maximum < 0:
        return
    attempted = len([k for k in properties if not k.startswith(RESERVED_NS)])
    if attempted > maximum:
        raise exc.LimitExceeded('The limit has been exceeded on the number of allowed image '
                                'properties. Attempted: %d, Maximum: %d'
                                % (attempted, maximum))


def tag_limit_message(attempted, maximum):
    """Return Glance's ImageTagLimitExceeded text."""
    return ('The limit has been exceeded on the number of allowed image tags. '
            'Attempted: %d, Maximum: %d' % (attempted, maximum))


def check_tag_quota(conf, tags):
    """Raise LimitExceeded when there are more tags than image_tag_quota."""
    maximum = conf.image_tag_quota
    if 0 <= maximum < len(tags):
        raise exc.LimitExceeded(tag_limit_message(len(tags), maximum))


class _Draft:
    """The image as the changes leave it, plus what must be saved."""

    def __init__(self, image, checker=None):
        self.image = image
        self.checker = checker   # property protections of the caller, None when off
        self.status = image['status']
        self.attrs = {}
        self.props = dict(image['properties'])
        self.purge = False
        self.props_changed = False
        self.locations = None

    def visible(self, name):
        """Return True when the property exists and the caller may read it."""
        return name in self.props and (self.checker is None or self.checker.can(name, 'read'))

    def set_prop(self, name, value):
        """Set an extra property, checking update (readable ones) or create permission."""
        if self.checker is not None:
            # NOTE: Glance 33 answers 500 (and saves nothing) when a PATCH sets a property
            # the caller cannot read; this refuses it the way a denied create is refused.
            if not self.checker.can(name, 'read'):
                raise exc.ReservedAttribute(name)
            self.checker.require(name, 'update' if name in self.props else 'create')
        self.props[name] = value
        self.props_changed = True

    def set_attr(self, name, value):
        if name in ('disk_format', 'container_format') and \
                self.status not in ('queued', 'importing'):
            raise exc.Forbidden('Attribute %s can be only replaced for a queued image.' % name)
        if name in ('min_ram', 'min_disk'):
            check_not_negative(name, value)
        if name == 'tags':
            value = unique(value)
        self.attrs[name] = value


def _update_property(api, ctx, image, root, value=None):
    if root == 'visibility':
        policy.enforce_visibility(api.policy, ctx, value, policy.image_target_for(ctx, image))
    policy.enforce_image(api.policy, ctx, 'modify_image', image)


def _do_replace(api, ctx, draft, change):
    root, value = change['path'][0], change['value']
    if root == 'owner' and not ctx.is_admin:
        raise exc.ForbiddenDetail("Owner can't be updated by non admin.")
    _update_property(api, ctx, draft.image, root, value)
    if root in SETTABLE:
        draft.set_attr(root, value)
    elif draft.visible(root):
        draft.set_prop(root, value)
    else:
        raise exc.ConflictDetail('Property %s does not exist.' % root)


def _do_add(api, ctx, draft, change):
    root, value = change['path'][0], change['value']
    _update_property(api, ctx, draft.image, root, value)
    if change['draft'] == 4 and (root in SETTABLE or draft.visible(root)):
        raise exc.ConflictDetail('Property %s already present.' % root)
    if root in SETTABLE:
        draft.set_attr(root, value)
    else:
        draft.set_prop(root, value)


def _do_remove(api, ctx, draft, change):
    root = change['path'][0]
    _update_property(api, ctx, draft.image, root)
    if root in SETTABLE:
        raise exc.ForbiddenDetail('Property %s may not be removed.' % root)
    if not draft.visible(root):
        raise exc.ConflictDetail('Property %s does not exist.' % root)
    if draft.checker is not None:
        draft.checker.require(root, 'delete')
    del draft.props[root]
    draft.props_changed = draft.purge = True


_HANDLERS = {'add': _do_add, 'replace': _do_replace, 'remove': _do_remove}


def apply(api, ctx, image, changes):
    """Check and apply every change, then save once; return the saved image.

    :raises: Forbidden, NotFound, Conflict, BadRequest, LimitExceeded (nothing saved).
    """
    checker = None if api.protections is None else api.protections.checker(ctx)
    draft = _Draft(image, checker)
    for change in changes:
        if change['path'][0] == 'locations':
            locations_patch.apply(api, ctx, draft, change)
        else:
            _HANDLERS[change['op']](api, ctx, draft, change)
    values = dict(draft.attrs)
    if draft.props_changed:
        check_property_quota(api.conf, draft.props)
        values['properties'] = draft.props
    if 'tags' in values:
        check_tag_quota(api.conf, values['tags'])
    from_state = None
    if draft.locations is not None:
        values['locations'] = draft.locations
        if draft.status != image['status']:
            values['status'] = draft.status
            from_state = image['status']
    if not values:
        return image
    saved = api.registry.image_update(ctx, image['id'], values, from_state=from_state,
                                      purge_props=draft.purge)
    if draft.locations is not None:
        location_data.delete_removed(api, ctx, image, saved)
    return saved
