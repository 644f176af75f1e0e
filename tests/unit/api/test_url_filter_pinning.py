"""A filtered fetch connects to the addresses the filter accepted (no DNS rebinding)."""

import http.server
import os
import socket
import ssl
import subprocess
import threading

import pytest
import urllib3

from glance_api.rules import url_filter
from stores import exceptions
from stores.http import HttpStore
from tests.unit.api.conftest import make_conf

DATA = os.urandom(300 * 1024 + 7)
PUBLIC = '198.51.100.7'  # TEST-NET-2: not loopback, link-local or denied


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    hosts = []

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server naming
        self.hosts.append(self.headers.get('Host'))
        if self.path.startswith('/redirect/'):
            self.send_response(302)
            self.send_header('Location', self.path[len('/redirect'):].replace('/to/', '//', 1))
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA)


@pytest.fixture
def server():
    _Handler.hosts = []
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1], _Handler.hosts
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def store():
    return HttpStore(make_conf())


def test_pinned_fetch_never_resolves_the_name(store, server):
    # 'pinned.invalid' cannot resolve: the bytes arrive only if the connection goes to
    # the pinned address, and the server still sees the name in Host.
    port, hosts = server
    url = 'http://pinned.invalid:%d/image' % port
    chunks, size = store.get(url, url_check=lambda u: ['127.0.0.1'])
    assert (b''.join(chunks), size) == (DATA, len(DATA))
    assert hosts == ['pinned.invalid:%d' % port]


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 whose certificate names only pinned.invalid."""
    cert, key = str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days',
                    '1', '-subj', '/CN=pinned.invalid', '-addext',
                    'subjectAltName=DNS:pinned.invalid', '-keyout', key, '-out', cert],
                   check=True, capture_output=True)
    _Handler.hosts = []
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1], cert
    srv.shutdown()
    srv.server_close()


def test_pinned_https_still_verifies_the_certificate_by_name(tls_server):
    port, cert = tls_server
    verifying = HttpStore(make_conf(**{'glance_store.https_ca_certificates_file': cert}))
    chunks, _size = verifying.get('https://pinned.invalid:%d/image' % port,
                                  url_check=lambda u: ['127.0.0.1'])
    assert b''.join(chunks) == DATA
    # The certificate does not name the address connected to: the name is what counts.
    with pytest.raises(exceptions.BackendUnavailable):
        verifying.get('https://127.0.0.1:%d/image' % port, url_check=lambda u: ['127.0.0.1'])


def test_each_redirect_hop_is_pinned_to_its_own_check(store, server):
    port, hosts = server
    checked = []

    def check(url):
        checked.append(url)
        return ['127.0.0.1']
    url = 'http://first.invalid:%d/redirect/to/second.invalid:%d/image' % (port, port)
    chunks, _size = store.get(url, url_check=check)
    assert b''.join(chunks) == DATA
    assert checked == [url, 'http://second.invalid:%d/image' % port]
    assert hosts == ['first.invalid:%d' % port, 'second.invalid:%d' % port]


def test_dns_rebinding_cannot_reach_loopback(store, server, monkeypatch):
    """The name answers a public address to the filter, then loopback to anyone after."""
    port, hosts = server
    state = {'rebound': False, 'lookups_after_check': 0}
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, port_, *args, **kwargs):
        if host.rstrip('.') != 'rebind.example':
            return real_getaddrinfo(host, port_, *args, **kwargs)
        if state['rebound']:
            state['lookups_after_check'] += 1
        address = '127.0.0.1' if state['rebound'] else PUBLIC
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (address, port_))]
    monkeypatch.setattr(socket, 'getaddrinfo', rebinding_getaddrinfo)

    connects = []
    real_connect = urllib3.util.connection.create_connection

    def recording_connect(address, *args, **kwargs):
        connects.append(address)
        if address[0] == PUBLIC:  # nothing listens there; fail at once, not after 10 s
            raise ConnectionRefusedError('refused')
        return real_connect(address, *args, **kwargs)
    monkeypatch.setattr(urllib3.util.connection, 'create_connection', recording_connect)

    conf = make_conf(**{'import_filtering_opts.allowed_ports': [port]})
    url = 'http://rebind.example:%d/image' % port

    def check(u):
        verdict = url_filter.pins(u, conf)
        state['rebound'] = True  # from now on the name points at loopback
        return verdict
    with pytest.raises(exceptions.BackendUnavailable):
        store.get(url, url_check=check)
    assert connects == [(PUBLIC, port)]
    assert state['lookups_after_check'] == 0
    assert hosts == []  # the loopback server was never reached


def test_pins_returns_the_accepted_addresses_or_none(monkeypatch):
    conf = make_conf()
    monkeypatch.setattr(url_filter.socket, 'getaddrinfo', lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('127.0.0.1', port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, '', (PUBLIC, port))])
    assert url_filter.pins('http://mixed.example/x', conf) == [PUBLIC]
    assert url_filter.pins('http://127.0.0.1/x', conf) is None
    assert url_filter.pins('http://2130706433/x', conf) is None
    assert url_filter.fetch_kwargs(HttpStore(make_conf()), conf)['url_check'](
        'http://mixed.example/x') == [PUBLIC]
