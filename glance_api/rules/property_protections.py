"""Property protections (Glance's property_protection_file): who may create, read, update
and delete which extra image property.

The file is an INI file whose section names are regular expressions, tried in file order
against a property name (``re.search``; the first match wins). Each section names, per
operation, either roles (``roles`` format: a comma list, ``@`` everyone, ``!`` nobody) or
one policy rule (``policies`` format). A property no section matches is denied to all.
As in Glance 33, a first section ``os_glance.*`` allowing everything is put in front and any
``os_glance*`` section of the file is dropped. The file is parsed once, at start-up.
"""

import configparser
import io
import logging
import re
import threading

from glance_api import exceptions as exc

LOG = logging.getLogger(__name__)
OPERATIONS = ('create', 'read', 'update', 'delete')
_OS_GLANCE = 'os_glance.*'
_EVERYONE, _NOBODY = '@', '!'
# PERF: property names are client-chosen; the name -> section memo is bounded.
_MEMO_MAX = 4096


def load(conf, enforcer=None):
    """Return the PropertyRules of conf, or None when property_protection_file is unset.

    :raises: InvalidPropertyProtectionConfiguration (the api must not start).
    """
    name = conf.property_protection_file
    if not name:
        return None
    # NOTE: a relative name is looked up beside the config files, as Glance's CONF.find_file.
    path = conf.find_file(name)
    if path is None:
        raise exc.InvalidPropertyProtectionConfiguration(
            "Couldn't find property protection file %s." % name)
    return PropertyRules(parse(path, conf.property_protection_rule_format),
                         conf.property_protection_rule_format, enforcer)


def parse(path, rule_format):
    """Parse a rules file into [(compiled regex, {operation: permission tuple})].

    A permission tuple holds role names (lower-cased), one policy name, '@' or '!';
    empty means nobody.

    :raises: InvalidPropertyProtectionConfiguration with the reason.
    """
    parser = _read(path)
    rules = []
    try:
        for section in parser.sections():
            rules.append((_compile(section), _section_rules(parser, section, rule_format)))
    except configparser.Error as e:
        raise _invalid(path, e) from None
    return rules


def _read(path):
    user = configparser.ConfigParser()
    try:
        with open(path, encoding='utf-8') as f:
            user.read_file(f, source=path)
    except (OSError, UnicodeError, configparser.Error) as e:
        raise _invalid(path, e) from None
    for section in user.sections():
        if section.startswith('os_glance'):
            user.remove_section(section)
    # NOTE: rebuilt with os_glance.* first so that a [.*] section cannot shadow it, the way
    # Glance 33 works around bug #2085321. The file's [DEFAULT] still applies to all.
    text = io.StringIO()
    user.write(text)
    parser = configparser.ConfigParser()
    parser.read_dict({_OS_GLANCE: dict.fromkeys(OPERATIONS, _EVERYONE)})
    parser.read_string(text.getvalue(), source=path)
    return parser


def _compile(section):
    try:
        return re.compile(section)
    except re.error as e:
        raise exc.InvalidPropertyProtectionConfiguration(
            'Encountered a malformed property protection rule %s: %s.' % (section, e)) from None


def _section_rules(parser, section, rule_format):
    ops = {}
    for op in OPERATIONS:
        if not parser.has_option(section, op):
            raise exc.InvalidPropertyProtectionConfiguration(
                'Property protection section [%s] does not define %s.' % (section, op))
        value = parser.get(section, op)
        if not value:
            LOG.warning('Property protection on operation %s for rule %s is not found. '
                        'No role will be allowed to perform this operation.', op, section)
            ops[op] = ()
        elif rule_format == 'policies':
            if ',' in value:
                raise exc.InvalidPropertyProtectionConfiguration(
                    "Multiple policies '%s' not allowed for a given operation. Policies can "
                    "be combined in the policy file" % value)
            ops[op] = (value,)
        else:
            roles = tuple(r.strip() for r in value.split(','))
            if _EVERYONE in roles and _NOBODY in roles:
                raise exc.InvalidPropertyProtectionConfiguration(
                    "Malformed property protection rule in [%s] %s=%s: '@' and '!' are "
                    "mutually exclusive" % (section, op, value))
            ops[op] = tuple(r if r in (_EVERYONE, _NOBODY) else r.lower() for r in roles)
    return ops


def _invalid(path, error):
    return exc.InvalidPropertyProtectionConfiguration(
        'Invalid configuration in property protection file %s: %s' % (path, error))


class PropertyRules:
    """The parsed rules of one process; ``checker(ctx)`` answers for one caller."""

    def __init__(self, rules, rule_format='roles', enforcer=None):
        self.policies = rule_format == 'policies'
        self.enforcer = enforcer
        self._sections = []
        for pattern, ops in rules:
            self._sections.append((pattern, {op: _decision(perms) for op, perms in ops.items()}))
        self._memo = {}
        self._local = threading.local()

    def section(self, name):
        """Return the index of the first section matching name, or None."""
        try:
            return self._memo[name]
        except KeyError:
            pass
        found = None
        for index, (pattern, _ops) in enumerate(self._sections):
            if pattern.search(name):
                found = index
                break
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[name] = found
        return found

    def decision(self, index, op):
        """Return the decision of section index for op (see _decision)."""
        return self._sections[index][1][op]

    def checker(self, ctx):
        """Return the Checker of ctx (the one of this thread's last caller is reused)."""
        last = getattr(self._local, 'last', None)
        if last is not None and last.ctx is ctx:
            return last
        self._local.last = checker = Checker(self, ctx)
        return checker


def _decision(perms):
    """Reduce a permission tuple to True, False, a frozenset of roles or a policy name."""
    if not perms or _NOBODY in perms:
        return False
    if _EVERYONE in perms:
        return True
    return frozenset(perms)


class Checker:
    """Property decisions for one caller, memoised per (section, operation)."""

    def __init__(self, rules, ctx):
        self.rules = rules
        self.ctx = ctx
        # NOTE: Glance adds the service roles (as sent, not lower-cased) to the roles.
        self._roles = frozenset(ctx.roles).union(getattr(ctx, 'service_roles', None) or ())
        self._memo = {}
        self._readable = {}   # PERF: name -> may read, for the images of one list

    def can(self, name, op):
        """Return True when the caller may do op (create/read/update/delete) on name."""
        index = self.rules.section(name)
        if index is None:
            return False
        key = (index, op)
        try:
            return self._memo[key]
        except KeyError:
            pass
        decision = self.rules.decision(index, op)
        if decision is True or decision is False:
            allowed = decision
        elif self.rules.policies:
            (policy_name,) = decision
            # NOTE: an undefined rule name falls back to the "default" rule, as in Glance.
            allowed = self.rules.enforcer.check(self.ctx, policy_name, {})
        else:
            allowed = not decision.isdisjoint(self._roles)
        self._memo[key] = allowed
        return allowed

    def require(self, name, op):
        """Raise Glance's 403 "Attribute 'x' is reserved." unless can(name, op)."""
        if not self.can(name, op):
            raise exc.ReservedAttribute(name)

    def require_all(self, names, op):
        """Raise for the first of names (in order) the caller may not do op on."""
        for name in names:
            self.require(name, op)

    def readable(self, properties):
        """Return the properties the caller may read."""
        seen = self._readable
        out = {}
        for name, value in properties.items():
            ok = seen.get(name)
            if ok is None:
                ok = seen[name] = self.can(name, 'read')
            if ok:
                out[name] = value
        return out
