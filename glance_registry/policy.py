"""Who is admin behind Keystone: the ``context_is_admin`` policy rule, as Glance's registry.

Glance's registry, like its api, took ``is_admin`` from ``context_is_admin`` (default
``role:admin``), so an operator's ``policy.yaml`` override of that rule applies to both.
"""

import threading
import time

from oslo_policy import policy as oslo_policy

# The rule and its default, as Glance 33 registers it.
RULE = 'context_is_admin'
DEFAULT = 'role:admin'
# How long answers (and the loaded policy file) are reused, in seconds.
RELOAD_SECONDS = 5.0


class AdminCheck:
    """``check(roles, project_id, user_id)`` → whether the caller matches context_is_admin.

    PERF: oslo.policy's enforce() costs ~1 ms (it stats the policy file and introspects its
    checks); a registry request costs less than that. Answers are kept per identity for
    RELOAD_SECONDS, then the rules are reloaded from ``[oslo_policy] policy_file``.
    """

    def __init__(self, conf):
        self._enforcer = oslo_policy.Enforcer(conf, use_conf=True, overwrite=False)
        self._enforcer.suppress_default_change_warnings = True
        self._enforcer.register_default(oslo_policy.RuleDefault(RULE, DEFAULT))
        self._lock = threading.Lock()
        self._answers = {}
        self._since = None

    def check(self, roles, project_id=None, user_id=None):
        """Return True when these credentials match the context_is_admin rule."""
        key = (tuple(roles), project_id, user_id)
        now = time.monotonic()
        if self._since is None or now - self._since > RELOAD_SECONDS:
            with self._lock:
                if self._since is None or now - self._since > RELOAD_SECONDS:
                    self._enforcer.load_rules()
                    self._answers = {}
                    self._since = now
        answers = self._answers
        answer = answers.get(key)
        if answer is None:
            creds = {'roles': list(roles), 'project_id': project_id, 'user_id': user_id,
                     'system_scope': None, 'domain_id': None, 'service_roles': []}
            answer = answers[key] = bool(self._enforcer.enforce(RULE, {}, creds))
        return answer
