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
_DEFAULT = 'rule:default'
_CACHE = 'rule:manage_image_cache'
_MD_ADMIN = 'rule:metadef_admin'
_MD_DEFAULT = 'rule:metadef_default'
_MD_READ = _ADMIN + " or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"

# name -> (check string, deprecated check string or None); as glance/policies/*.py in 33.0.0.
# With [oslo_policy] enforce_new_defaults = False oslo.policy ORs the deprecated check
# string into each rule the policy file does not override (the legacy "rule:default" = "").
RULES = {
    'default': ('', _ADMIN),
    'context_is_admin': ('role:admin', None),
    'service_api': ('role:service or role:admin', None),
    'add_image': (_ADMIN + ' or (role:member and project_id:%(project_id)s and '
                           'project_id:%(owner)s)', _DEFAULT),
    'delete_image': (_MEMBER, _DEFAULT),
    'get_image': (_ADMIN + ' or (role:reader and ' + _VISIBLE + ')', _DEFAULT),
    'get_images': (_READER, _DEFAULT),
    'modify_image': (_MEMBER, _DEFAULT),
    'publicize_image': (_ADMIN, None),
    'communitize_image': (_MEMBER, _DEFAULT),
    'download_image': (_ADMIN + ' or (role:member and ' + _VISIBLE + ')', _DEFAULT),
    'download_from_store': (_ADMIN + ' or (role:member and ' + _VISIBLE + ')', None),
    'upload_image': (_MEMBER, _DEFAULT),
    'delete_image_location': (_ADMIN, _DEFAULT),
    'get_image_location': (_READER, _DEFAULT),
    'set_image_location': (_MEMBER, _DEFAULT),
    'add_image_location': ('rule:service_api or (role:member and project_id:%(project_id)s '
                           'and project_id:%(owner)s)', None),
    'fetch_image_location': ('rule:service_api', None),
    'add_member': (_MEMBER, _DEFAULT),
    'delete_member': (_MEMBER, _DEFAULT),
    'get_member': (_ADMIN + ' or role:reader and (project_id:%(project_id)s or '
                            'project_id:%(member_id)s)', _DEFAULT),
    'get_members': (_ADMIN + ' or role:reader and (project_id:%(project_id)s or '
                             'project_id:%(member_id)s)', _DEFAULT),
    'modify_member': (_ADMIN + ' or (role:member and project_id:%(member_id)s)', _DEFAULT),
    'manage_image_cache': (_ADMIN, None),
    'deactivate': (_MEMBER, _DEFAULT),
    'reactivate': (_MEMBER, _DEFAULT),
    'copy_image': (_ADMIN, None),
    'list_cached_nodes': (_ADMIN, None),
    'get_task': (_DEFAULT, _DEFAULT),
    'get_tasks': (_DEFAULT, _DEFAULT),
    'add_task': (_DEFAULT, _DEFAULT),
    'modify_task': (_DEFAULT, None),
    'tasks_api_access': (_ADMIN, None),
    'cache_image': (_ADMIN, _CACHE),
    'cache_list': (_ADMIN, _CACHE),
    'cache_delete': (_ADMIN, _CACHE),
    'cache_clean': (_ADMIN, None),
    'cache_prune': (_ADMIN, None),
    'stores_info_detail': (_ADMIN + ' or rule:service_api', _ADMIN),
    # Metadata definitions (glance/policies/metadef.py).
    'metadef_default': ('', None),
    'metadef_admin': (_ADMIN, None),
    'get_metadef_namespaces': (_READER, _MD_DEFAULT),
    'get_metadef_namespace': (_MD_READ, _MD_DEFAULT),
    'get_metadef_object': (_MD_READ, _MD_DEFAULT),
    'get_metadef_objects': (_MD_READ, _MD_DEFAULT),
    'list_metadef_resource_types': (_MD_READ, _MD_DEFAULT),
    'get_metadef_resource_type': (_MD_READ, _MD_DEFAULT),
    'get_metadef_property': (_MD_READ, _MD_DEFAULT),
    'get_metadef_properties': (_MD_READ, _MD_DEFAULT),
    'get_metadef_tag': (_MD_READ, _MD_DEFAULT),
    'get_metadef_tags': (_MD_READ, _MD_DEFAULT),
    'modify_metadef_namespace': (_MD_ADMIN, None),
    'add_metadef_namespace': (_MD_ADMIN, None),
    'delete_metadef_namespace': (_MD_ADMIN, None),
    'modify_metadef_object': (_MD_ADMIN, None),
    'add_metadef_object': (_MD_ADMIN, None),
    'delete_metadef_object': (_MD_ADMIN, None),
    'add_metadef_resource_type_association': (_MD_ADMIN, None),
    'remove_metadef_resource_type_association': (_MD_ADMIN, None),
    'modify_metadef_property': (_MD_ADMIN, None),
    'add_metadef_property': (_MD_ADMIN, None),
    'remove_metadef_property': (_MD_ADMIN, None),
    'modify_metadef_tag': (_MD_ADMIN, None),
    'add_metadef_tag': (_MD_ADMIN, None),
    'add_metadef_tags': (_MD_ADMIN, None),
    'delete_metadef_tag': (_MD_ADMIN, None),
    'delete_metadef_tags': (_MD_ADMIN, None),
}
# NOTE: the base rules carry no scope; every other rule is project-scoped, so a system- or
# domain-scoped token fails it (oslo.policy 6 always enforces scope; enforce_scope is gone).
UNSCOPED = frozenset(['default', 'context_is_admin', 'service_api', 'metadef_default',
                      'metadef_admin'])
_DEPRECATED_REASON = 'Glance 33 moved to secure RBAC defaults.'


def rule_defaults():
    """Return Glance's RuleDefaults (with their deprecated legacy rules)."""
    defaults = []
    for name, (check, old) in RULES.items():
        deprecated = None
        if old is not None:
            deprecated = oslo_policy.DeprecatedRule(
                name=name, check_str=old, deprecated_reason=_DEPRECATED_REASON,
                deprecated_since='Wallaby')
        defaults.append(oslo_policy.RuleDefault(
            name, check, deprecated_rule=deprecated,
            scope_types=None if name in UNSCOPED else ['project']))
    return defaults


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
        self._enforcer.register_defaults(rule_defaults())
        self.new_defaults = conf.oslo_policy.enforce_new_defaults
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
        if rule not in UNSCOPED and rule in RULES and (
                creds.get('system_scope') or creds.get('domain_id')):
            return False
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


def image_target_for(ctx, image):
    """Return the image target, counting the caller as a member of a shared image."""
    member_of = (image.get('visibility') == 'shared' and ctx.project_id is not None
                 and image.get('owner') != ctx.project_id)
    return image_target(ctx, image, member_of)


# Rules that, with enforce_new_defaults = False, also need the caller to own the image
# (Glance's check_is_image_mutable, applied after the rule itself).
LEGACY_OWNER_RULES = frozenset(['delete_image', 'upload_image', 'modify_image', 'deactivate',
                                'reactivate', 'delete_image_location'])


def check_owner(ctx, owner):
    """Legacy owner check: admin, or the project that owns the image.

    :raises: NotImageOwner
    """
    if ctx.is_admin:
        return
    if owner is None or ctx.project_id is None or owner != ctx.project_id:
        raise exc.NotImageOwner()


def enforce_image(enforcer, ctx, rule, image):
    """Enforce rule on an existing image; hide images the caller cannot get (404).

    :raises: NotFound when the caller may not even get_image it, else PolicyForbidden;
             NotImageOwner for a legacy owner check (enforce_new_defaults = False).
    """
    target = image_target_for(ctx, image)
    if not enforcer.check(ctx, rule, target):
        if rule == 'get_image' or not enforcer.check(ctx, 'get_image', target):
            raise exc.NotFound()
        raise exc.PolicyForbidden(rule)
    if not enforcer.new_defaults and rule in LEGACY_OWNER_RULES:
        check_owner(ctx, image.get('owner'))


def enforce_visibility(enforcer, ctx, visibility, target):
    """Enforce publicize_image / communitize_image for a visibility change."""
    rule = {'public': 'publicize_image', 'community': 'communitize_image'}.get(visibility)
    if rule:
        enforcer.enforce(ctx, rule, target)
