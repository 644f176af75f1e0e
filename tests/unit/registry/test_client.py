"""RegistryClient's wire format, error mapping and retry, against a scripted HTTP server."""

import json
import socket
import threading

import pytest

from glance_registry import exceptions as exc
from glance_registry.client import RegistryClient


class Ctx:
    project_id, user_id, roles, is_admin = 'p1', 'u1', ['Member', 'reader'], False
    request_id, auth_token = 'req-1', 'tok'


class ScriptedServer:
    """Answer requests with scripted responses: one list of responses per connection.

    A connection stays open while it has responses left. A response of None closes the
    connection after reading the request, without answering.
    """

    def __init__(self, connections):
        self.connections = [list(c) for c in connections]
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for responses in self.connections:
            conn, _ = self.sock.accept()
            with conn:
                while responses:
                    self.requests.append(self._read(conn))
                    answer = responses.pop(0)
                    if answer is None:
                        break
                    status, body = answer
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    close = b'' if responses else b'Connection: close\r\n'
                    conn.sendall(b'HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s'
                                 % (status, len(data), close, data))

    @staticmethod
    def _read(conn):
        data = b''
        while b'\r\n\r\n' not in data:
            data += conn.recv(65536)
        head, body = data.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        headers = dict(line.split(': ', 1) for line in lines[1:])
        length = int(headers.get('Content-Length', 0))
        while len(body) < length:
            body += conn.recv(65536)
        return {'line': lines[0], 'headers': headers, 'body': json.loads(body) if body else None}

    def close(self):
        self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def make(*responses, connections=None):
        server = ScriptedServer(connections or [[r] for r in responses])
        servers.append(server)
        return server, RegistryClient('127.0.0.1', server.port, timeout=5)
    yield make
    for s in servers:
        s.close()


def test_identity_headers_and_body(serve):
    server, client = serve((200, {'image': {'id': 'i1'}}))
    image = client.image_update(Ctx(), 'i1', {'name': 'n'}, from_state='queued')
    assert image == {'id': 'i1'}
    req = server.requests[0]
    assert req['line'] == 'PATCH /images/i1 HTTP/1.1'
    assert req['body'] == {'values': {'name': 'n'}, 'from_state': 'queued',
                           'purge_props': False}
    h = req['headers']
    assert (h['X-Project-Id'], h['X-User-Id'], h['X-Roles'], h['X-Is-Admin']) == \
        ('p1', 'u1', 'member,reader', 'False')
    assert (h['X-Openstack-Request-Id'], h['X-Auth-Token']) == ('req-1', 'tok')
    assert h['Content-Type'] == 'application/json'


def test_create_chooses_the_id(serve):
    server, client = serve((201, {'image': {'id': 'x'}}))
    client.image_create(Ctx(), {'name': 'n'})
    sent = server.requests[0]['body']['image']
    assert sent['name'] == 'n' and len(sent['id']) == 36


@pytest.mark.parametrize('call,line', [
    (lambda c: c.image_tag_add(Ctx(), 'i 1', 'a/b?c'), 'PUT /images/i%201/tags/a%2Fb%3Fc'),
    (lambda c: c.image_destroy(Ctx(), 'i1', from_state='active', status='pending_delete'),
     'DELETE /images/i1?from_state=active&status=pending_delete'),
    (lambda c: c.member_list(Ctx(), 'i1', member='p 2'), 'GET /images/i1/members?member=p+2'),
    (lambda c: c.image_get(Ctx(), 'i1', include_deleted=True),
     'GET /images/i1?include_deleted=true'),
])
def test_urls_are_quoted(serve, call, line):
    server, client = serve((204, b''), (200, {'image': {}, 'members': []}))
    try:
        call(client)
    except exc.RegistryError:
        pass  # the scripted status does not matter here
    assert server.requests[0]['line'] == line + ' HTTP/1.1'


@pytest.mark.parametrize('code,cls', sorted(exc.CODES.items()))
def test_error_codes_map_back(serve, code, cls):
    _, client = serve((409, {'error': {'code': code, 'message': 'why'}}))
    with pytest.raises(cls) as e:
        client.image_get(Ctx(), 'i1')
    assert type(e.value) is cls
    assert e.value.message == 'why' and e.value.status == 409


@pytest.mark.parametrize('status,body,cls', [
    (500, {'error': {'code': 'InternalError', 'message': 'bad'}}, exc.RegistryError),
    (418, {'error': {'code': '__class__', 'message': 'tea'}}, exc.RegistryError),
    (502, {'error': {'code': 'Bogus', 'message': 'bad'}}, exc.RegistryError),
    (503, b'Service Unavailable', exc.RegistryUnavailable),
    # a load balancer's answer when the registry node behind it died or timed out
    (502, b'<html><body><h1>502 Bad Gateway</h1></body></html>', exc.RegistryUnavailable),
    (504, b'<html><body><h1>504 Gateway Time-out</h1></body></html>', exc.RegistryUnavailable),
    # gunicorn's own refusals of a request line or headers too long
    (414, b'<html><title>URI Too Long</title></html>', exc.BadRequest),
    (431, b'<html>Request Header Fields Too Large</html>', exc.BadRequest),
    # keystonemiddleware's own 401 body (keystone flavor), and a bare one
    (401, {'error': {'code': 401, 'title': 'Unauthorized',
                     'message': 'The request you have made requires authentication.'}},
     exc.Unauthorized),
    (401, b'Authentication required', exc.Unauthorized),
])
def test_unknown_errors(serve, status, body, cls):
    _, client = serve((status, body))
    with pytest.raises(cls) as e:
        client.image_get(Ctx(), 'i1')
    assert type(e.value) is cls
    assert e.value.status == status


def test_stale_kept_alive_connection_is_retried_once(serve):
    server, client = serve(connections=[[(200, {'members': []}), None],
                                        [(200, {'members': [{'member': 'p'}]})]])
    assert client.member_list(Ctx(), 'i1') == []
    assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert len(server.requests) == 3
    assert server.requests[1] == server.requests[2]


def test_fresh_connection_dropped_is_unavailable_without_retry(serve):
    server, client = serve(None, (200, {'members': []}))
    with pytest.raises(exc.RegistryUnavailable):
        client.member_list(Ctx(), 'i1')
    assert len(server.requests) == 1


def test_keep_alive_reuses_one_connection(serve):
    server, client = serve(connections=[[(200, {'members': []})] * 3])
    for _ in range(3):
        assert client.member_list(Ctx(), 'i1') == []
    assert len(server.requests) == 3


def test_from_conf():
    class Conf:
        registry_host, registry_port, registry_client_timeout = '127.0.0.1', 9, 0
    client = RegistryClient.from_conf(Conf())
    assert (client._pool.port, client._pool.read_timeout) == (9, None)


def test_forked_child_does_not_reuse_parent_connections(serve):
    import os

    server, client = serve(connections=[[(200, {'members': []})] * 2])
    client.member_list(Ctx(), 'i1')
    assert len(client._pool._idle) == 1
    pid = os.fork()
    if pid == 0:  # child: report through the exit code only
        os._exit(0 if client._pool._idle == [] else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert len(client._pool._idle) == 1
    assert client.member_list(Ctx(), 'i1') == []
