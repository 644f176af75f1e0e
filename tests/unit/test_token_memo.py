"""glance_server.token_memo alone, with a stand-in for keystonemiddleware's auth_token.

The stand-in confirms the tokens listed in ``valid`` as auth_token would (identity headers,
keystone.token_auth) and counts its calls; the functional keystone tests run the real one.
"""
import datetime
import types

from glance_server import token_memo


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def ref(expires_in=3600, bind=None, now=1000.0):
    when = datetime.datetime.fromtimestamp(now + expires_in, datetime.timezone.utc)
    return types.SimpleNamespace(expires=when, bind=bind)


class FakeAuthToken:
    """auth_token's contract: strip identity headers, set them from the token, call the app."""

    def __init__(self, app, valid, token_extra=None):
        self.app, self.valid, self.calls = app, valid, 0
        self.token_extra = token_extra or {}
        self._reject_auth_headers = [('WWW-Authenticate', 'Keystone uri="http://ks"')]

    def __call__(self, environ, start_response):
        self.calls += 1
        for name in token_memo.IDENTITY_KEYS.intersection(environ):
            del environ[name]
        user = environ.get('HTTP_X_AUTH_TOKEN')
        service = environ.get('HTTP_X_SERVICE_TOKEN')
        environ['HTTP_X_IDENTITY_STATUS'] = 'Confirmed' if user in self.valid else 'Invalid'
        if service:
            environ['HTTP_X_SERVICE_IDENTITY_STATUS'] = (
                'Confirmed' if service in self.valid else 'Invalid')
        if user in self.valid:
            environ['HTTP_X_ROLES'] = self.valid[user]['roles']
            environ['HTTP_X_PROJECT_ID'] = self.valid[user]['project']
            environ['keystone.token_info'] = {'token': dict(self.token_extra)}
            environ['keystone.token_auth'] = types.SimpleNamespace(
                user=self.valid[user]['ref'],
                service=self.valid[service]['ref'] if service in self.valid else None)
        return self.app(environ, start_response)


def seen_app(environ, start_response):
    start_response('200 OK', [])
    return [('%s|%s|%s' % (environ.get('HTTP_X_IDENTITY_STATUS'), environ.get('HTTP_X_ROLES'),
                           environ.get('HTTP_X_PROJECT_ID'))).encode()
            + b''.join(b'|%s=%s' % (k.encode(), environ[k].encode()) for k in sorted(environ)
                       if k.startswith('HTTP_X_SERVICE_') or k == 'HTTP_X_IS_ADMIN_PROJECT')]


def build(valid, ttl=300, app=seen_app, token_extra=None, clock=None):
    holder = {}

    def factory(inner):
        holder['auth'] = FakeAuthToken(inner, valid, token_extra)
        return holder['auth']
    memo = token_memo.TokenMemo(app, factory, ttl, clock=clock or Clock())
    return memo, holder['auth']


def call(memo, **headers):
    environ = {'HTTP_' + k.upper(): v for k, v in headers.items()}
    status = []
    body = b''.join(memo(environ, lambda s, h, e=None: status.append((s, h))))
    return status[0], body.decode()


VALID = {'u1': {'roles': 'member', 'project': 'p1', 'ref': ref()},
         's1': {'roles': 'service', 'project': 'svc', 'ref': ref()}}


def test_second_call_with_the_same_token_skips_auth_token_and_drops_forged_headers():
    memo, auth = build(VALID)
    assert call(memo, x_auth_token='u1')[1] == 'Confirmed|member|p1'
    forged = call(memo, x_auth_token='u1', x_roles='admin', x_project_id='other',
                  x_is_admin_project='True', x_service_identity_status='Confirmed',
                  x_service_roles='service')
    assert forged[1] == 'Confirmed|member|p1'
    assert auth.calls == 1


def test_pairs_are_remembered_apart():
    memo, auth = build(VALID)
    call(memo, x_auth_token='u1', x_service_token='s1')
    call(memo, x_auth_token='u1', x_service_token='s1')
    assert auth.calls == 1
    # the same user token with another (bad) service token goes to auth_token again
    call(memo, x_auth_token='u1', x_service_token='bogus')
    call(memo, x_auth_token='u1', x_service_token='bogus')
    assert auth.calls == 3
    call(memo, x_auth_token='u1')
    assert auth.calls == 4


def test_invalid_and_missing_tokens_are_never_remembered():
    memo, auth = build(VALID)
    for _ in range(2):
        assert call(memo, x_auth_token='nope')[1] == 'Invalid|None|None'
        call(memo)
    assert auth.calls == 4


def test_forgotten_after_ttl_and_at_token_expiry():
    clock = Clock()
    memo, auth = build(dict(VALID, short={'roles': 'r', 'project': 'p', 'ref': ref(20)}),
                       ttl=60, clock=clock)
    call(memo, x_auth_token='u1')
    call(memo, x_auth_token='short')
    clock.now += 30          # past the short token's expiry, within the ttl
    call(memo, x_auth_token='u1')
    call(memo, x_auth_token='short')
    assert auth.calls == 3
    clock.now += 31          # past the ttl of u1's first validation
    call(memo, x_auth_token='u1')
    assert auth.calls == 4


def test_no_memo_when_caching_is_off():
    memo, auth = build(VALID, ttl=-1)
    call(memo, x_auth_token='u1')
    call(memo, x_auth_token='u1')
    assert auth.calls == 2


def test_request_dependent_tokens_are_not_remembered():
    for extra in ({'bind': {'kerberos': 'x'}},
                  {'application_credential': {'access_rules': [{'path': '/v2/images'}]}}):
        memo, auth = build(VALID, token_extra=extra)
        call(memo, x_auth_token='u1')
        call(memo, x_auth_token='u1')
        assert auth.calls == 2, extra
    bound = {'b': {'roles': 'r', 'project': 'p', 'ref': ref(bind={'kerberos': 'x'})}}
    memo, auth = build(bound)
    call(memo, x_auth_token='b')
    call(memo, x_auth_token='b')
    assert auth.calls == 2


def test_a_401_from_the_app_names_keystone_on_a_remembered_token():
    def refusing(environ, start_response):
        start_response('401 Unauthorized', [('Content-Type', 'text/plain')])
        return [b'no']
    memo, auth = build(VALID, app=refusing)
    first = call(memo, x_auth_token='u1')[0]
    second = call(memo, x_auth_token='u1')[0]
    assert auth.calls == 1
    assert first[0] == second[0] == '401 Unauthorized'
    assert ('WWW-Authenticate', 'Keystone uri="http://ks"') in second[1]


def test_identity_keys_match_keystonemiddleware():
    from keystonemiddleware.auth_token import _request
    names = {'HTTP_' + h.upper().replace('-', '_')
             for h in _request._AuthTokenRequest.blank('/')._all_auth_headers()}
    assert names <= token_memo.IDENTITY_KEYS
