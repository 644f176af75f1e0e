"""A per-worker memo of what keystonemiddleware's auth_token concluded about a token.

keystonemiddleware already caches a validated token's data (``token_cache_time``, 300 s by
default) and answers a cached token without asking Keystone, but on every request it still
decodes the cached JSON into an ``AccessInfo``, strips some 40 identity headers through
webob, sets them again and JSON-encodes the service catalog into ``X-Service-Catalog``. On
this service's show that was a third of the registry's time and a quarter of the api's, paid
three times a call (the user's token at the api; the user's and the api's service token at the
registry): Keystone mode ran show at half its no-auth rate (issue 14).

``TokenMemo`` sits in front of ``auth_token`` and remembers, per pair (X-Auth-Token,
X-Service-Token), the WSGI environ entries ``auth_token`` derived from them. A later request
with the same pair gets those entries (every identity header the request itself carried is
dropped first, as ``auth_token`` drops them) without going through ``auth_token`` again.

What is remembered, and for how long, is no looser than ``auth_token``'s own cache:
- only a pair both of whose tokens ``auth_token`` confirmed (X-Identity-Status, and
  X-Service-Identity-Status when a service token came, both ``Confirmed``);
- never a token whose validity depends on the request: a token with ``bind`` data, or an
  application credential with access rules (``auth_token`` checks those per method and path);
- until the earliest of: either token's expiry, and ``token_cache_time`` after validation
  (``auth_token`` caches that long too, so a revoked token is refused no later than with
  ``auth_token`` alone); with ``token_cache_time = -1`` (no caching) nothing is remembered.
Keys are SHA-256 digests of the tokens; at most ``max_entries`` pairs per worker (the memo is
emptied when full).
"""

import hashlib
import threading
import time

# The environ keys auth_token sets, and removes from every incoming request so a caller
# cannot forge them (keystonemiddleware's _AuthTokenRequest._all_auth_headers, plus the
# system scope header it sets and the two environ objects it leaves for the app).
_PREFIXES = ('', '_SERVICE')
_FIELDS = ('DOMAIN_ID', 'DOMAIN_NAME', 'PROJECT_ID', 'PROJECT_NAME', 'PROJECT_DOMAIN_ID',
           'PROJECT_DOMAIN_NAME', 'USER_ID', 'USER_NAME', 'USER_DOMAIN_ID', 'USER_DOMAIN_NAME',
           'ROLES')
IDENTITY_KEYS = frozenset(
    ['HTTP_X_SERVICE_CATALOG', 'HTTP_X_IDENTITY_STATUS', 'HTTP_X_SERVICE_IDENTITY_STATUS',
     'HTTP_X_IS_ADMIN_PROJECT', 'HTTP_X_ROLE', 'HTTP_X_USER', 'HTTP_X_TENANT_ID',
     'HTTP_X_TENANT_NAME', 'HTTP_X_TENANT', 'HTTP_OPENSTACK_SYSTEM_SCOPE',
     'keystone.token_auth', 'keystone.token_info']
    + ['HTTP_X%s_%s' % (prefix, field) for prefix in _PREFIXES for field in _FIELDS])

_TOKENS = ('HTTP_X_AUTH_TOKEN', 'HTTP_X_STORAGE_TOKEN', 'HTTP_X_SERVICE_TOKEN')


def _digest(value):
    return hashlib.sha256(value.encode('utf-8', 'surrogateescape')).digest()


class TokenMemo:
    """WSGI middleware: ``auth_factory(recorder)`` is keystonemiddleware around ``app``.

    :param ttl: seconds a confirmed pair is remembered at most (``token_cache_time``);
        negative or zero: never.
    """

    def __init__(self, app, auth_factory, ttl, max_entries=10000, clock=time.time):
        self._app = app
        self._auth = auth_factory(self._record)
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._memo = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(environ):
        user = environ.get('HTTP_X_AUTH_TOKEN') or environ.get('HTTP_X_STORAGE_TOKEN')
        if not user:
            return None
        service = environ.get('HTTP_X_SERVICE_TOKEN')
        return _digest(user), (_digest(service) if service else None)

    def __call__(self, environ, start_response):
        key = self._key(environ) if self._ttl > 0 else None
        entry = self._memo.get(key) if key is not None else None
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                self._memo.pop(key, None)
            environ['glance.token_memo.key'] = key
            return self._auth(environ, start_response)
        for name in IDENTITY_KEYS.intersection(environ):
            del environ[name]
        environ.update(entry[1])
        return self._app(environ, self._on_401(start_response))

    def _on_401(self, start_response):
        """As auth_token's process_response: a 401 names Keystone in WWW-Authenticate."""
        def start(status, headers, exc_info=None):
            if status.startswith('401'):
                # NOTE: read when needed: without www_authenticate_uri auth_token finds
                # Keystone's address through its auth plugin.
                headers = list(headers) + list(getattr(self._auth, '_reject_auth_headers', ()))
            return start_response(status, headers, exc_info)
        return start

    def _record(self, environ, start_response):
        """The app as auth_token calls it: remember what auth_token concluded, then serve."""
        key = environ.pop('glance.token_memo.key', None)
        if key is not None:
            expires = self._expiry(environ, service=key[1] is not None)
            if expires is not None:
                identity = {name: environ[name] for name in IDENTITY_KEYS if name in environ}
                with self._lock:
                    if len(self._memo) >= self._max:
                        self._memo.clear()
                    self._memo[key] = (expires, identity)
        return self._app(environ, start_response)

    def _expiry(self, environ, service):
        """Return until when the request's identity may be reused, or None for never."""
        if environ.get('HTTP_X_IDENTITY_STATUS') != 'Confirmed':
            return None
        if service and environ.get('HTTP_X_SERVICE_IDENTITY_STATUS') != 'Confirmed':
            return None
        plugin = environ.get('keystone.token_auth')
        info = environ.get('keystone.token_info') or {}
        token = info.get('token') or info.get('access', {}).get('token') or {}
        if plugin is None or token.get('bind') or (
                token.get('application_credential') or {}).get('access_rules'):
            return None
        refs = [plugin.user] + ([plugin.service] if service else [])
        if any(ref is None or ref.bind or ref.expires is None for ref in refs):
            return None
        now = self._clock()
        until = min([now + self._ttl] + [ref.expires.timestamp() for ref in refs])
        return until if until > now else None
