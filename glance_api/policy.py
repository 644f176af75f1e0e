"""Glance 33's image policy rules (defaults registered in code) and explicit checks."""

import ast
import threading
import time

from oslo_policy import _checks
from oslo_policy import policy as oslo_policy

from glance_api import exceptions as exc

_ADMIN = 'rule:context_is_admin'
_MEMBER = _ADMIN + ' or (role:member and project_id:%(project_id)s)'
_READER = _ADMIN + ' or (role:reader and project_id:%(project_id)s)'
_VISIBLE = ("(project_id:%(project_id)s or project_id:%(member_id)s or "
            "'community':%(visibility)s or 'public':%(visibility)s or "
            "'shared':%(visibility)s)")

DEFAULT_RULES = {
    'default': '',
    'context_is_admin': 'role:admin',
    'service_api': 'role:service or role:admin',
    'add_image': _ADMIN + ' or (role:member and project_id:%(project_id)s and '
                          'project_id:%(owner)s)',
    'delete_image': _MEMBER,
    'get_image': _ADMIN + ' or (role:reader and ' + _VISIBLE + ')',
    'get_images': _READER,
    'modify_image': _MEMBER,
    'publicize_image': _ADMIN,
    'communitize_image': _MEMBER,
    'download_image': _ADMIN + ' or (role:member and ' + _VISIBLE + ')',
    'download_from_store': _ADMIN + ' or (role:member and ' + _VISIBLE + ')',
    'upload_image': _MEMBER,
    'delete_image_location': _ADMIN,
    'get_image_location': _READER,
    'set_image_location': _MEMBER,
    'add_image_location': 'rule:service_api or (role:member and project_id:%(project_id)s '
                          'and project_id:%(owner)s)',
    'fetch_image_location': 'rule:service_api',
    'add_member': _MEMBER,
    'delete_member': _MEMBER,
    'get_member': _ADMIN + ' or role:reader and (project_id:%(project_id)s or '
                           'project_id:%(member_id)s)',
    'get_members': _ADMIN + ' or role:reader and (project_id:%(project_id)s or '
                            'project_id:%(member_id)s)',
    'modify_member': _ADMIN + ' or (role:member and project_id:%(member_id)s)',
    'manage_image_cache': _ADMIN,
    'deactivate': _MEMBER,
    'reactivate': _MEMBER,
    'copy_image': _ADMIN,
    'stores_info_detail': _ADMIN + ' or rule:service_api',
    'tasks_api_access': _ADMIN,
    'get_task': 'rule:default',
    'get_tasks': 'rule:default',
    'add_task': 'rule:default',
    'modify_task': 'rule:default',
}


# PERF: oslo.policy's enforce() stats the policy file and introspects every check's
# signature on each call (~1 ms per image row in a list). Rules are parsed by oslo.policy
# (so policy_file overrides keep working, reloaded at most every RELOAD_SECONDS) and the
# common check kinds are evaluated here; anything else falls back to oslo.policy.
RELOAD_SECONDS = 5.0


def _generic(check, target, creds):
    try:
        match = check.match % target
    except KeyError:
        return False
    try:
        return match == str(ast.literal_eval(check.kind))
    except (ValueError, SyntaxError):
        pass
    value = creds
    for key in check.kind.split('.'):
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return match == str(value)


class Enforcer:
    """Check Glance's policy rules for a RequestContext; policy_file overrides honoured."""

    def __init__(self, conf):
        self._enforcer = oslo_policy.Enforcer(conf, use_conf=True, overwrite=False)
        self._enforcer.suppress_default_change_warnings = True
        self._enforcer.register_defaults(
            [oslo_policy.RuleDefault(name, check) for name, check in DEFAULT_RULES.items()])
        self._loaded_at = None
        self._snapshot = {}
        self._lock = threading.Lock()

    def _rules(self):
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at > RELOAD_SECONDS:
            # NOTE: gthread workers share this object; readers keep using the previous
            # snapshot while one thread reloads.
            with self._lock:
                if self._loaded_at is None or now - self._loaded_at > RELOAD_SECONDS:
                    self._enforcer.load_rules()
                    self._snapshot = dict(self._enforcer.rules)
                    self._loaded_at = now
        return self._snapshot

    def _eval(self, check, target, creds, rules, depth=0):
        kind = type(check)
        if kind is _checks.TrueCheck:
            return True
        if kind is _checks.FalseCheck:
            return False
        if kind is _checks.AndCheck:
            return all(self._eval(c, target, creds, rules, depth) for c in check.rules)
        if kind is _checks.OrCheck:
            return any(self._eval(c, target, creds, rules, depth) for c in check.rules)
        if kind is _checks.NotCheck:
            return not self._eval(check.rule, target, creds, rules, depth)
        if kind is _checks.RuleCheck:
            sub = rules.get(check.match)
            return sub is not None and depth < 20 and \
                self._eval(sub, target, creds, rules, depth + 1)
        if kind is _checks.RoleCheck:
            try:
                match = check.match % target
            except KeyError:
                return False
            return match.lower() in creds['roles']
        if kind is _checks.GenericCheck:
            return _generic(check, target, creds)
        return bool(_checks._check(check, target, creds, self._enforcer, None))

    def check(self, ctx, rule, target):
        """Return True when ctx may do rule on target."""
        rules = self._rules()
        tree = rules.get(rule)
        if tree is None:
            tree = rules.get('default')
        if tree is None:
            return False
        creds = ctx.to_policy_values()
        return self._eval(tree, target, creds, rules)

    def enforce(self, ctx, rule, target):
        """Raise PolicyForbidden unless ctx may do rule on target."""
        if not self.check(ctx, rule, target):
            raise exc.PolicyForbidden(rule)

    def check_is_admin(self, ctx):
        """Return True when ctx matches the context_is_admin rule."""
        return self.check(ctx, 'context_is_admin', {})


def image_target(ctx, image, member_of=False):
    """Return the policy target of an image (Glance's ImageTarget)."""
    return {
        'project_id': image.get('owner'),
        'owner': image.get('owner'),
        'visibility': image.get('visibility'),
        'member_id': ctx.project_id if member_of else None,
    }


def new_image_target(ctx, values):
    """Return the add_image target for values about to be created."""
    return {'project_id': ctx.project_id, 'owner': values.get('owner'),
            'visibility': values.get('visibility', 'shared'), 'member_id': None}


def image_target_for(ctx, image):
    """Return the image target, counting the caller as a member of a shared image."""
    member_of = (image.get('visibility') == 'shared' and ctx.project_id is not None
                 and image.get('owner') != ctx.project_id)
    return image_target(ctx, image, member_of)


def enforce_image(enforcer, ctx, rule, image):
    """Enforce rule on an existing image; hide images the caller cannot get (404).

    :raises: NotFound when the caller may not even get_image it, else PolicyForbidden.
    """
    target = image_target_for(ctx, image)
    if enforcer.check(ctx, rule, target):
        return
    if rule == 'get_image' or not enforcer.check(ctx, 'get_image', target):
        raise exc.NotFound()
    raise exc.PolicyForbidden(rule)


def enforce_visibility(enforcer, ctx, visibility, target):
    """Enforce publicize_image / communitize_image for a visibility change."""
    rule = {'public': 'publicize_image', 'community': 'communitize_image'}.get(visibility)
    if rule:
        enforcer.enforce(ctx, rule, target)
