"""The fast rule evaluator agrees with oslo.policy on Glance's rules, in every mode."""

import itertools

import pytest

from glance_api.rules import policy
from glance_api.web.context import ContextMiddleware, RequestContext
from tests.unit.api.conftest import make_conf

ROLES = [(), ('reader',), ('member',), ('member', 'reader'), ('admin',), ('service',)]
PROJECTS = [None, 'p1', 'p2']
# NOTE: a domain- or system-scoped token fails every project-scoped rule.
SCOPES = [{}, {'domain_id': 'd1'}, {'system_scope': 'all'}]
TARGETS = [
    {'project_id': owner, 'owner': owner, 'visibility': vis, 'member_id': member}
    for owner, vis, member in itertools.product(
        [None, 'p1', 'p2'], ['public', 'private', 'shared', 'community'], [None, 'p1'])]
OVERRIDES = {
    'add_member': 'role:admin',
    'publicize_image': 'rule:context_is_admin or (role:member and project_id:%(project_id)s)',
    'get_member': 'rule:context_is_admin',
    'reactivate': '!',
    'get_images': 'role:reader or role:member',
    'context_is_admin': 'role:admin or role:superuser',
    'modify_image': 'is_admin_project:True and role:member',
}


def _conf(tmp_path, mode):
    overrides = {}
    if mode == 'legacy':
        overrides['oslo_policy.enforce_new_defaults'] = False
    if mode == 'override':
        (tmp_path / 'policy.yaml').write_text(''.join(
            '"%s": "%s"\n' % item for item in OVERRIDES.items()))
        overrides['oslo_policy.policy_file'] = str(tmp_path / 'policy.yaml')
    return make_conf(**overrides)


@pytest.mark.parametrize('mode', ['default', 'legacy', 'override'])
@pytest.mark.parametrize('rule', sorted(policy.RULES))
def test_fast_checks_match_oslo(tmp_path, rule, mode):
    enforcer = policy.Enforcer(_conf(tmp_path, mode))
    for roles, project, scope, target in itertools.product(ROLES, PROJECTS, SCOPES, TARGETS):
        ctx = RequestContext(project_id=project, roles=roles, **scope)
        expected = bool(enforcer._enforcer.enforce(rule, target, ctx.to_policy_values()))
        assert enforcer.check(ctx, rule, target) == expected, (rule, roles, project, target)


def test_legacy_rules_allow_what_the_new_defaults_forbid(tmp_path):
    ctx = RequestContext(project_id='p2', roles=('member',))
    private = {'project_id': 'p1', 'owner': 'p1', 'visibility': 'private', 'member_id': None}
    assert not policy.Enforcer(_conf(tmp_path, 'default')).check(ctx, 'modify_image', private)
    legacy = policy.Enforcer(_conf(tmp_path, 'legacy'))
    assert legacy.check(ctx, 'modify_image', private)
    assert legacy.check(ctx, 'get_images', {'project_id': 'p2'})
    assert not legacy.check(ctx, 'publicize_image', private)


def test_enforce_image_hides_invisible():
    enforcer = policy.Enforcer(make_conf())
    ctx = RequestContext(project_id='p2', roles=('member', 'reader'))
    private = {'owner': 'p1', 'visibility': 'private'}
    with pytest.raises(policy.exc.NotFound):
        policy.enforce_image(enforcer, ctx, 'modify_image', private)
    public = {'owner': 'p1', 'visibility': 'public'}
    with pytest.raises(policy.exc.PolicyForbidden) as err:
        policy.enforce_image(enforcer, ctx, 'modify_image', public)
    assert err.value.message == 'You are not authorized to complete modify_image action.'


class _Req:
    def __init__(self, headers):
        self.headers = {k.upper(): v for k, v in headers.items()}
        self.context = type('Ctx', (), {'request_id': 'req-1'})()


def _context(headers, **conf):
    conf = make_conf(**conf)
    middleware = ContextMiddleware(conf, policy.Enforcer(conf))
    return middleware._build(_Req(dict({'X-Identity-Status': 'Confirmed'}, **headers)))


def test_context_from_keystone_headers():
    ctx = _context({'X-Tenant-Id': 'p1', 'X-User-Id': 'u1', 'X-Roles': ' Member , READER',
                    'X-Service-Roles': 'Service', 'X-Domain-Id': 'd1',
                    'X-User-Domain-Id': 'ud', 'X-Project-Domain-Id': 'pd'})
    assert (ctx.project_id, ctx.user_id, ctx.roles) == ('p1', 'u1', ['member', 'reader'])
    values = ctx.to_policy_values()
    # NOTE: as in Glance, the roles are lower-cased and the service roles are not.
    assert values['service_roles'] == ['Service']
    assert (values['domain_id'], values['user_domain_id'], values['project_domain_id']) == (
        'd1', 'ud', 'pd')
    assert not ctx.is_admin


def test_is_admin_comes_from_context_is_admin(tmp_path):
    assert _context({'X-Project-Id': 'p1', 'X-Roles': 'Admin'}).is_admin
    (tmp_path / 'policy.yaml').write_text('"context_is_admin": "role:superuser"\n')
    conf = {'oslo_policy.policy_file': str(tmp_path / 'policy.yaml')}
    assert not _context({'X-Project-Id': 'p1', 'X-Roles': 'admin'}, **conf).is_admin
    assert _context({'X-Project-Id': 'p1', 'X-Roles': 'SuperUser'}, **conf).is_admin


def test_domain_scoped_token_fails_project_rules():
    enforcer = policy.Enforcer(make_conf())
    ctx = _context({'X-Domain-Id': 'd1', 'X-Roles': 'admin'})
    assert ctx.is_admin
    assert not enforcer.check(ctx, 'get_images', {'project_id': None})
    assert enforcer.check(ctx, 'context_is_admin', {})
