"""RegistryClient's own HTTP/1.1 response reading: framings, connection reuse, bad answers."""

import socket
import threading

import pytest

from glance_registry import exceptions as exc
from glance_registry.client import RegistryClient


class Ctx:
    project_id, user_id, roles, is_admin = 'p1', 'u1', ['member'], False
    request_id, auth_token = 'req-1', None


class RawServer:
    """Answer each request with the next scripted raw bytes.

    None closes the connection without answering; a 1-tuple answers, then closes.
    """

    def __init__(self, connections):
        self.connections = [list(c) for c in connections]
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for answers in self.connections:
            conn, _ = self.sock.accept()
            self.accepted += 1
            with conn:
                for answer in answers:
                    data = b''
                    while b'\r\n\r\n' not in data:
                        data += conn.recv(65536)
                    if answer is None:
                        break
                    if isinstance(answer, tuple):
                        conn.sendall(answer[0])
                        break
                    conn.sendall(answer)

    def client(self):
        return RegistryClient('127.0.0.1', self.port, timeout=5)


@pytest.fixture
def raw():
    servers = []

    def make(*connections):
        server = RawServer(connections)
        servers.append(server)
        return server, server.client()
    yield make
    for s in servers:
        s.sock.close()


OK = b'{"members":[{"member":"p"}]}'


def _fixed(body, extra=b''):
    return b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s' % (len(body), extra, body)


def test_chunked_answer_is_decoded_and_connection_reused(raw):
    chunked = (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'5;ext=1\r\n{"mem\r\n' + b'%x\r\n' % (len(OK) - 5) + OK[5:] + b'\r\n'
               b'0\r\nX-Trailer: t\r\n\r\n')
    server, client = raw([chunked, _fixed(OK)])
    assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert server.accepted == 1


def test_interim_answer_skipped_and_close_delimited_body_read(raw):
    server, client = raw([(b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'
                           b'Connection: close\r\n\r\n' + OK,)], [_fixed(OK)])
    assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert server.accepted == 2


def test_connection_close_header_is_honoured(raw):
    server, client = raw([_fixed(OK, b'Connection: close\r\n')], [_fixed(OK)])
    for _ in range(2):
        assert client.member_list(Ctx(), 'i1') == [{'member': 'p'}]
    assert server.accepted == 2


@pytest.mark.parametrize('answer', [
    b'garbage\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"members":',
    b'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Len',
])
def test_bad_or_truncated_answers_are_unavailable(raw, answer):
    _, client = raw([(answer,)])
    with pytest.raises(exc.RegistryUnavailable):
        client.member_list(Ctx(), 'i1')


def test_header_injection_through_the_context_is_refused(raw):
    _, client = raw([_fixed(OK)])

    class Evil(Ctx):
        request_id = 'req-1\r\nX-Is-Admin: True'
    with pytest.raises(ValueError):
        client.member_list(Evil(), 'i1')
