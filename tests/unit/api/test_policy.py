"""The fast rule evaluator agrees with oslo.policy on Glance's default rules."""

import itertools

import pytest

from glance_api import policy
from glance_api.context import RequestContext
from tests.unit.api.conftest import make_conf

ROLES = [(), ('reader',), ('member',), ('member', 'reader'), ('admin',), ('service',)]
PROJECTS = [None, 'p1', 'p2']
TARGETS = [
    {'project_id': owner, 'owner': owner, 'visibility': vis, 'member_id': member}
    for owner, vis, member in itertools.product(
        [None, 'p1', 'p2'], ['public', 'private', 'shared', 'community'], [None, 'p1'])]


@pytest.mark.parametrize('rule', sorted(policy.DEFAULT_RULES))
def test_fast_checks_match_oslo(rule):
    enforcer = policy.Enforcer(make_conf())
    for roles, project, target in itertools.product(ROLES, PROJECTS, TARGETS):
        ctx = RequestContext(project_id=project, roles=roles)
        expected = bool(enforcer._enforcer.enforce(rule, target, ctx.to_policy_values()))
        assert enforcer.check(ctx, rule, target) == expected, (rule, roles, project, target)


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
