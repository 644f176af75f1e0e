"""The api's own identity at the registry: its service token and its service context.

With a ``keystone*`` flavor the api authenticates as the ``[keystone_authtoken]`` service
user (the install guide's ``glance`` user) through one keystoneauth session per process:

- every registry call carries that user's token as ``X-Service-Token`` beside the caller's
  ``X-Auth-Token``, which is how the registry tells "glance-api forwarding a request its
  policy allowed" from "a user calling the registry port" (glance_registry.rights);
- the calls the api makes on its own behalf (start-up recovery, the image cache, the
  scrubber) act with ``context()``: an admin context carrying the same token.

keystoneauth renews the token before it expires. Without Keystone there is no token and
``context()`` is a plain admin context (the noauth registry trusts headers).
"""

import logging
import os
import threading

from glance_api.web.context import RequestContext
from glance_server import flavors

LOG = logging.getLogger(__name__)


class ServiceTokenUnavailable(Exception):
    """Keystone did not give the service user a token (down, or wrong credentials)."""


class ServiceAuth:
    """The ``[keystone_authtoken]`` service user of a keystone flavor (one per process)."""

    def __init__(self, conf):
        self.conf = conf
        self.keystone = flavors.of(conf, 'glance-api').keystone
        self._lock = threading.Lock()
        self._pid = None
        self._session = self._auth = None

    def _session_and_auth(self):
        # NOTE: a keystoneauth session holds HTTP connections, which must not cross a fork
        # (gunicorn workers): one per process, made under a lock by the first thread.
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    # NOTE: the auth plugin (with the token it holds) survives the fork,
                    # so every worker sends the master's token until it nears expiry.
                    self._session, self._auth = _load_session(self.conf, self._auth)
                    self._pid = pid
        return self._session, self._auth

    def token(self):
        """Return the service user's token, or None without Keystone.

        :raises ServiceTokenUnavailable:
        """
        if not self.keystone:
            return None
        sess, _ = self._session_and_auth()
        try:
            return sess.get_token()
        except Exception as e:  # noqa: BLE001 - keystoneauth raises many kinds
            raise ServiceTokenUnavailable(
                'Cannot get a token for the [keystone_authtoken] service user: %s' % e) from e

    def prefetch(self):
        """Get the service token now (in a worker, before its first request); never raises.

        A worker then keeps serving from the token caches while Keystone is briefly
        unreachable, as it did before it needed a token of its own.
        """
        if not self.keystone:
            return
        try:
            self.token()
        except ServiceTokenUnavailable as e:
            LOG.warning('%s; the first registry call will try again', e)

    def context(self, user_id=None):
        """Return the admin context the api acts with on its own behalf.

        :raises ServiceTokenUnavailable:
        """
        if not self.keystone:
            return RequestContext(user_id=user_id, roles=['admin'], is_admin=True)
        token = self.token()
        sess, auth = self._session_and_auth()
        return RequestContext(project_id=auth.get_project_id(sess),
                              user_id=user_id or auth.get_user_id(sess), roles=['admin'],
                              is_admin=True, auth_token=token)

    def check_roles(self):
        """Log an error when the service user lacks every ``service_token_roles`` role.

        The registry then refuses every write the api forwards (403), so say it at start.
        """
        if not self.keystone:
            return
        sess, auth = self._session_and_auth()
        try:
            roles = set(auth.get_access(sess).role_names)
        except Exception as e:  # noqa: BLE001 - reported, the start goes on
            LOG.error('Cannot authenticate the [keystone_authtoken] service user: %s', e)
            return
        wanted = set(self.conf.keystone_authtoken.service_token_roles)
        if not roles & wanted:
            LOG.error('SECURITY: the [keystone_authtoken] service user has none of the roles '
                      '%s ([keystone_authtoken] service_token_roles): glance-registry will '
                      'refuse every change glance-api forwards. Grant it one (e.g. '
                      '"openstack role add --user glance --project service service").',
                      sorted(wanted))


def _load_session(conf, auth=None):
    """Return (a new keystoneauth session, ``auth`` or the plugin ``conf`` configures)."""
    # NOTE: imported here so noauth deployments never load keystoneauth.
    from keystoneauth1 import loading, session
    from keystonemiddleware import auth_token

    if auth is None:
        for group, opts in auth_token.list_opts():
            conf.register_opts(opts, group=group)
        loading.register_auth_conf_options(conf, 'keystone_authtoken')
        auth = loading.load_auth_from_conf_options(conf, 'keystone_authtoken')
    return session.Session(auth=auth), auth
