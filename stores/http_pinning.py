"""HTTP(S) requests that connect only to addresses checked beforehand (DNS pinning).

SECURITY: a URL filter that resolves a host name and then lets the HTTP client resolve it
again can be beaten by DNS rebinding: the name answers a public address to the check and
a loopback or metadata address to the connection. A pinned session connects to the
addresses the check returned and to nothing else, while the Host header, TLS SNI and the
certificate check still use the name from the URL.
"""

import requests
import urllib3
from requests import adapters
from urllib3.util import connection as u3connection


class _PinnedConnectionMixin:
    """Open the socket to one of ``pinned`` instead of resolving ``self.host``."""

    pinned = ()

    def _new_conn(self):
        error = None
        for address in self.pinned:
            try:
                return u3connection.create_connection(
                    (address, self.port), self.timeout,
                    source_address=self.source_address, socket_options=self.socket_options)
            except OSError as e:
                error = e
        raise urllib3.exceptions.NewConnectionError(
            self, "Failed to establish a new connection to %s (pinned to %s): %s"
            % (self.host, ", ".join(self.pinned), error))


def _pool_classes(addresses):
    pinned = tuple(addresses)
    http_conn = type("PinnedHTTPConnection",
                     (_PinnedConnectionMixin, urllib3.connection.HTTPConnection),
                     {"pinned": pinned})
    https_conn = type("PinnedHTTPSConnection",
                      (_PinnedConnectionMixin, urllib3.connection.HTTPSConnection),
                      {"pinned": pinned})
    return {
        "http": type("PinnedHTTPConnectionPool", (urllib3.HTTPConnectionPool,),
                     {"ConnectionCls": http_conn}),
        "https": type("PinnedHTTPSConnectionPool", (urllib3.HTTPSConnectionPool,),
                      {"ConnectionCls": https_conn}),
    }


class PinnedAdapter(adapters.HTTPAdapter):
    """A transport adapter whose direct connections go only to ``addresses``.

    Requests through a proxy are not pinned: the proxy resolves the name.
    """

    def __init__(self, addresses, **kwargs):
        if not addresses:
            raise ValueError("no addresses to pin to")
        self._classes = _pool_classes(addresses)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        """Build the pool manager, then make its pools use the pinned connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._classes)


def pinned_session(template, addresses):
    """Return a new requests.Session like ``template`` that connects only to ``addresses``.

    One session per checked URL: pooled connections never outlive the check they came from.
    """
    session = requests.Session()
    session.headers.update(template.headers)
    session.verify = template.verify
    session.cert = template.cert
    session.proxies = dict(template.proxies)
    session.trust_env = template.trust_env
    adapter = PinnedAdapter(addresses)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
