"""glance_api.data.bodies.SocketBody over gunicorn's real body classes and a socket pair."""

import io
import socket
import threading

import pytest
from gunicorn.http.body import Body
from gunicorn.http.body import ChunkedReader
from gunicorn.http.body import LengthReader
from gunicorn.http.unreader import SocketUnreader

from glance_server import bodies

MIB = 1024 * 1024


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def gunicorn_body(sock, length, read_ahead=b''):
    """Return gunicorn's wsgi.input for a Content-Length body; ``read_ahead`` came with
    the headers."""
    unreader = SocketUnreader(sock)
    if read_ahead:
        unreader.unread(read_ahead)
    return Body(LengthReader(unreader, length))


def send_later(sock, data, close=False):
    def run():
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=run)
    t.start()
    return t


def read_all(stream, size):
    out = bytearray()
    while True:
        chunk = stream.read(size)
        if not chunk:
            return bytes(out)
        out += chunk


def test_reads_body_exactly_and_leaves_the_next_request(pair):
    server, client = pair
    data = bytes(range(256)) * (3 * MIB // 256) + b'tail'
    head, rest = data[:1000], data[1000:]
    body = gunicorn_body(server, len(data), read_ahead=head)
    stream = bodies.fast_body(body)
    assert isinstance(stream, bodies.SocketBody)
    sender = send_later(client, rest + b'GET /next')
    assert read_all(stream, MIB) == data
    sender.join()
    # The body is consumed as far as gunicorn knows, and nothing past it was taken.
    assert body.read() == b''
    assert body.reader.unreader.read(9) == b'GET /next'


def test_read_ahead_longer_than_the_read_is_kept(pair):
    server, _client = pair
    stream = bodies.fast_body(gunicorn_body(server, 10, read_ahead=b'0123456789NEXT'))
    assert bytes(stream.read(4)) == b'0123'
    assert bytes(stream.read(-1)) == b'456789'
    assert stream.read(4) == b''


def test_client_gone_gives_a_short_body(pair):
    server, client = pair
    stream = bodies.fast_body(gunicorn_body(server, 2 * MIB))
    send_later(client, b'x' * 1000, close=True).join()
    assert read_all(stream, MIB) == b'x' * 1000


def test_socket_error_marks_the_connection_unusable(pair):
    server, client = pair
    body = gunicorn_body(server, MIB)
    stream = bodies.fast_body(body)
    server.settimeout(0.05)
    with pytest.raises(OSError):
        stream.read(MIB)
    assert body.failed is True


@pytest.mark.parametrize('make', [
    lambda sock: Body(ChunkedReader(None, SocketUnreader(sock))),
    lambda sock: io.BytesIO(b'data'),
])
def test_other_streams_are_left_alone(pair, make):
    stream = make(pair[0])
    assert bodies.fast_body(stream) is stream


def test_buffered_body_is_left_alone(pair):
    body = gunicorn_body(pair[0], 10)
    body.buf.write(b'12')  # the app already read part of it through Body
    assert bodies.fast_body(body) is body
