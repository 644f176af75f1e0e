"""Property protections: parsing the rules file, decisions, and the api answers they give.

Expected answers (codes and texts) were recorded from real Glance 33.0.0 with the same rules
(see tests/functional/test_property_protections.py, which replays them against it).
"""

import pytest

from glance_api import cmd
from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.rules import property_protections as pp
from glance_api.web.context import RequestContext
from tests.unit.api.conftest import P1, PATCH20, PATCH21, Env, json_headers, make_conf

ROLES_FILE = """\
[^x_owner_.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member

[x_ro]
create = admin
read = admin,member,reader
update = admin
delete = admin

[x_noup]
create = admin,member
read = admin,member
update = !
delete = admin,member

[x_case]
create = Member
read = @
update = MEMBER
delete = member

[x_empty]
create =
read = @
update = @
delete = @

[x_createonly]
create = member
read = admin
update = admin
delete = admin

[os_glance_mine]
create = !
read = !
update = !
delete = !

[.*]
create = admin
read = admin
update = admin
delete = admin
"""
MEMBER = dict(P1, **{'X-Roles': 'member,reader'})
ADMIN = dict(P1, **{'X-Roles': 'admin,member,reader'})   # an admin of the member's project


def _ctx(roles, service_roles=()):
    ctx = RequestContext(project_id='p1', roles=roles)
    if service_roles:
        ctx.service_roles = list(service_roles)
    return ctx


def _rules(tmp_path, text, rule_format='roles', enforcer=None):
    path = tmp_path / 'prop.conf'
    path.write_text(text)
    return pp.PropertyRules(pp.parse(str(path), rule_format), rule_format, enforcer)


def _invalid(tmp_path, text, rule_format='roles'):
    path = tmp_path / 'bad.conf'
    path.write_text(text)
    with pytest.raises(exc.InvalidPropertyProtectionConfiguration) as info:
        pp.parse(str(path), rule_format)
    return str(info.value)


def test_first_matching_section_wins_and_search_semantics(tmp_path):
    rules = _rules(tmp_path, ROLES_FILE)
    member = rules.checker(_ctx(['member']))
    assert member.can('x_owner_1', 'update')
    assert not member.can('x_ro', 'update')
    assert member.can('x_ro', 'read')
    # NOTE: re.search: [x_ro] matches anywhere in the name, before the catch-all [.*].
    assert member.can('ax_roz', 'read') and not member.can('foo', 'read')
    assert rules.checker(_ctx(['admin'])).can('foo', 'delete')


def test_everyone_nobody_and_empty(tmp_path):
    checker = _rules(tmp_path, ROLES_FILE).checker(_ctx(['admin']))
    assert not checker.can('x_noup', 'update')      # '!' beats even admin
    assert checker.can('x_case', 'read')            # '@'
    assert not checker.can('x_empty', 'create')     # empty value: nobody


def test_admin_is_not_exempt(tmp_path):
    checker = _rules(tmp_path, ROLES_FILE).checker(_ctx(['admin']))
    assert not checker.can('x_createonly', 'create')


def test_role_names_compare_lower_case_and_service_roles_count(tmp_path):
    rules = _rules(tmp_path, ROLES_FILE)
    assert rules.checker(_ctx(['member'])).can('x_case', 'create')
    assert rules.checker(_ctx(['member'])).can('x_case', 'update')
    assert not rules.checker(_ctx(['reader'])).can('x_case', 'create')
    assert rules.checker(_ctx(['reader'], service_roles=['member'])).can('x_case', 'delete')
    # NOTE: Glance keeps the service roles as sent: 'Member' does not match 'member'.
    assert not rules.checker(_ctx(['reader'], service_roles=['Member'])).can('x_case',
                                                                            'delete')


def test_os_glance_section_is_injected_first_and_file_sections_dropped(tmp_path):
    rules = _rules(tmp_path, ROLES_FILE)
    checker = rules.checker(_ctx(['reader']))
    assert checker.can('os_glance_mine', 'read')
    assert checker.can('os_glance_import_task', 'delete')
    assert rules.section('os_glance_x') == 0


def test_no_matching_section_denies(tmp_path):
    rules = _rules(tmp_path, '[^x_]\ncreate = @\nread = @\nupdate = @\ndelete = @\n')
    checker = rules.checker(_ctx(['admin']))
    assert checker.can('x_a', 'read') and not checker.can('y', 'read')


def test_default_section_supplies_missing_operations(tmp_path):
    rules = _rules(tmp_path, '[DEFAULT]\nread = @\n[a]\ncreate = admin\nupdate = admin\n'
                             'delete = admin\n')
    checker = rules.checker(_ctx(['reader']))
    assert checker.can('a', 'read') and not checker.can('a', 'create')


@pytest.mark.parametrize('text, reason', [
    ('[a]\ncreate = admin\nread = admin\nupdate = admin\n', 'does not define delete'),
    ('[a(]\ncreate = @\nread = @\nupdate = @\ndelete = @\n', 'malformed property protection'),
    ('[a]\ncreate = @,!\nread = @\nupdate = @\ndelete = @\n', 'mutually exclusive'),
    ('[a]\ncreate = %(x\nread = @\nupdate = @\ndelete = @\n', 'bad.conf'),
    ('[a]\n[a]\n', 'bad.conf'),
    ('not an ini file\n', 'bad.conf'),
])
def test_invalid_files(tmp_path, text, reason):
    assert reason in _invalid(tmp_path, text)


def test_policies_format_one_rule_per_operation(tmp_path):
    message = _invalid(tmp_path, '[a]\ncreate = r1,r2\nread = r1\nupdate = r1\ndelete = r1\n',
                       'policies')
    assert "Multiple policies 'r1,r2' not allowed" in message


class _Enforcer:
    def __init__(self, allowed):
        self.allowed = allowed
        self.calls = []

    def check(self, ctx, rule, target):
        self.calls.append((rule, target))
        return rule in self.allowed


def test_policies_format_asks_the_enforcer_once_per_rule(tmp_path):
    enforcer = _Enforcer({'creator'})
    rules = _rules(tmp_path, '[a]\ncreate = creator\nread = @\nupdate = !\ndelete = other\n',
                   'policies', enforcer)
    checker = rules.checker(_ctx(['member']))
    assert checker.can('a', 'create') and checker.can('a', 'create')
    assert checker.can('a', 'read') and not checker.can('a', 'update')
    assert not checker.can('a', 'delete')
    assert enforcer.calls == [('creator', {}), ('other', {})]


def test_checker_is_reused_for_the_same_context(tmp_path):
    rules = _rules(tmp_path, ROLES_FILE)
    ctx = _ctx(['member'])
    assert rules.checker(ctx) is rules.checker(ctx)
    assert rules.checker(_ctx(['member'])) is not rules.checker(ctx)


def test_load_unset_missing_and_relative(tmp_path):
    assert pp.load(make_conf()) is None
    with pytest.raises(exc.InvalidPropertyProtectionConfiguration, match='nope.conf'):
        pp.load(make_conf(property_protection_file='nope.conf'))
    (tmp_path / 'prop.conf').write_text(ROLES_FILE)
    (tmp_path / 'glance-api.conf').write_text('[DEFAULT]\nproperty_protection_file = '
                                              'prop.conf\n')
    conf = cmd.load_conf(['--config-file', str(tmp_path / 'glance-api.conf')])
    rules = pp.load(conf)
    assert rules.checker(_ctx(['member'])).can('x_owner_z', 'read')


def test_api_refuses_to_start_with_a_bad_file(tmp_path, capsys):
    (tmp_path / 'bad.conf').write_text('[a]\ncreate = admin\n')
    (tmp_path / 'glance-api.conf').write_text('[DEFAULT]\nproperty_protection_file = %s\n'
                                              % (tmp_path / 'bad.conf'))
    with pytest.raises(SystemExit) as info:
        cmd.main(['--config-file', str(tmp_path / 'glance-api.conf')])
    assert 'ERROR: Property protection section [a] does not define read.' == str(info.value)


def test_rule_format_choices(tmp_path):
    with pytest.raises(ValueError):
        make_conf(property_protection_rule_format='Roles')


# --- the api with a rules file ------------------------------------------------------------


@pytest.fixture
def penv(tmp_path):
    path = tmp_path / 'prop.conf'
    path.write_text(ROLES_FILE)
    return Env(property_protection_file=str(path))


@pytest.fixture
def full(penv):
    """An image (created by an admin) with one property of each kind."""
    return penv.create(ADMIN, name='i', x_owner_a='1', x_ro='2', x_noup='3', foo='4',
                       x_createonly='5')['id']


def _props(body):
    return {k: v for k, v in body.items() if k.startswith('x_') or k == 'foo'}


def test_no_file_no_protections():
    env = Env()
    image = env.create(MEMBER, name='i', foo='1')
    resp = env.patch(image['id'], [{'op': 'add', 'path': '/x_ro', 'value': '2'}],
                     headers=MEMBER)
    assert _props(resp.json) == {'foo': '1', 'x_ro': '2'}


def test_views_hide_unreadable(penv, full):
    show = penv.client.simulate_get('/v2/images/' + full, headers=MEMBER).json
    assert _props(show) == {'x_owner_a': '1', 'x_ro': '2', 'x_noup': '3'}
    listed = penv.client.simulate_get('/v2/images', headers=ADMIN).json['images']
    assert _props(listed[0]) == {'x_owner_a': '1', 'x_ro': '2', 'x_noup': '3', 'foo': '4',
                                 'x_createonly': '5'}
    reader = dict(P1, **{'X-Roles': 'reader'})
    assert _props(penv.client.simulate_get('/v2/images/' + full, headers=reader).json) == \
        {'x_ro': '2'}


def test_create_refuses_first_forbidden_property(penv):
    resp = penv.client.simulate_post('/v2/images', json={'name': 'i', 'foo': 'x', 'x_ro': 'y'},
                                     headers=json_headers(MEMBER))
    assert resp.status_code == 403
    assert resp.json['message'] == "Attribute 'foo' is reserved.<br /><br />\n\n\n"
    assert not penv.registry.images


def test_create_hides_what_it_may_not_read(penv):
    body = penv.create(MEMBER, name='i', x_createonly='y', x_owner_b='z')
    assert _props(body) == {'x_owner_b': 'z'}
    stored = penv.registry.images[body['id']]['properties']
    assert stored == {'x_createonly': 'y', 'x_owner_b': 'z'}


@pytest.mark.parametrize('media', [PATCH21, PATCH20])
@pytest.mark.parametrize('op, status, message', [
    ({'op': 'replace', 'path': '/x_ro', 'value': 'n'}, 403, "Attribute 'x_ro' is reserved."),
    ({'op': 'replace', 'path': '/foo', 'value': 'n'}, 409, 'Property foo does not exist.'),
    ({'op': 'remove', 'path': '/foo'}, 409, 'Property foo does not exist.'),
    ({'op': 'remove', 'path': '/x_ro'}, 403, "Attribute 'x_ro' is reserved."),
    ({'op': 'add', 'path': '/foo', 'value': 'n'}, 403, "Attribute 'foo' is reserved."),
    ({'op': 'add', 'path': '/x_createonly', 'value': 'n'}, 403,
     "Attribute 'x_createonly' is reserved."),
    ({'op': 'add', 'path': '/x_new', 'value': 'n'}, 403, "Attribute 'x_new' is reserved."),
])
def test_patch_refusals_change_nothing(penv, full, media, op, status, message):
    if media == PATCH20:
        op = dict({op['op']: op['path']}, **({'value': op['value']} if 'value' in op else {}))
    before = dict(penv.registry.images[full]['properties'])
    resp = penv.patch(full, [op], headers=json_headers(MEMBER), media=media)
    assert resp.status_code == status
    assert message in resp.json['message']
    assert penv.registry.images[full]['properties'] == before


def test_patch_v20_add_conflict_only_for_readable(penv, full):
    resp = penv.patch(full, [{'add': '/x_noup', 'value': 'n'}], headers=json_headers(MEMBER),
                      media=PATCH20)
    assert (resp.status_code, resp.json['message']) == (
        409, 'There was a conflict when trying to complete your request.<br /><br />\n'
             'Property x_noup already present.\n\n')
    resp = penv.patch(full, [{'add': '/foo', 'value': 'n'}], headers=json_headers(MEMBER),
                      media=PATCH20)
    assert resp.status_code == 403


def test_patch_allowed_changes_keep_unreadable_properties(penv, full):
    resp = penv.patch(full, [{'op': 'add', 'path': '/x_owner_new', 'value': 'n'},
                             {'op': 'replace', 'path': '/x_owner_a', 'value': 'm'},
                             {'op': 'remove', 'path': '/x_noup'},
                             {'op': 'replace', 'path': '/name', 'value': 'renamed'}],
                      headers=MEMBER)
    assert resp.status_code == 200
    assert _props(resp.json) == {'x_owner_a': 'm', 'x_ro': '2', 'x_owner_new': 'n'}
    # NOTE: real Glance 33 purges the properties the caller cannot read here (foo,
    # x_createonly); they stay.
    assert penv.registry.images[full]['properties'] == {
        'x_owner_a': 'm', 'x_ro': '2', 'foo': '4', 'x_createonly': '5', 'x_owner_new': 'n'}


def test_patch_noup_and_delete_rules(penv, full):
    resp = penv.patch(full, [{'op': 'replace', 'path': '/x_noup', 'value': 'n'}],
                      headers=json_headers(ADMIN))
    assert resp.status_code == 403
    resp = penv.patch(full, [{'op': 'remove', 'path': '/foo'}], headers=ADMIN)
    assert resp.status_code == 200 and 'foo' not in resp.json


@pytest.mark.parametrize('rule_format', ['roles', 'policies'])
def test_shipped_samples_parse(repo_root, rule_format):
    path = repo_root / 'etc' / ('property-protections-%s.conf.sample' % rule_format)
    rules = pp.PropertyRules(pp.parse(str(path), rule_format), rule_format,
                             policy.Enforcer(make_conf()))
    member, admin = rules.checker(_ctx(['member'])), rules.checker(_ctx(['admin']))
    assert member.can('x_distro', 'update') and not member.can('hw_disk_bus', 'read')
    assert admin.can('hw_disk_bus', 'delete')
