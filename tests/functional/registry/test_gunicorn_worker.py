"""gunicorn_runner's worker: kept-alive connections answered in order, idle ones resumed."""

import re
import socket
import subprocess
import sys
import time

import pytest

APP = '''
import sys
from glance_server import gunicorn_runner

def factory():
    def app(environ, start_response):
        body = environ['PATH_INFO'].encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    return app

gunicorn_runner.serve(factory, bind_host='127.0.0.1', bind_port=0, workers=1, threads=2,
                      keepalive=5, loglevel='info')
'''


@pytest.fixture
def port():
    proc = subprocess.Popen([sys.executable, '-c', APP], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        found = None
        while found is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            found = re.search(r'Listening at: http://127\.0\.0\.1:(\d+)', line)
        assert found, 'gunicorn did not start'
        time.sleep(0.3)  # the worker boots after the arbiter logs its address
        yield int(found.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _request(path):
    return ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode()


def _read_answers(sock, count):
    data, bodies = b'', []
    while len(bodies) < count:
        while True:
            head, sep, rest = data.partition(b'\r\n\r\n')
            if sep:
                length = int(re.search(rb'(?i)content-length: *(\d+)', head).group(1))
                if len(rest) >= length:
                    assert head.startswith(b'HTTP/1.1 200')
                    bodies.append(rest[:length])
                    data = rest[length:]
                    break
            chunk = sock.recv(65536)
            assert chunk, 'connection closed early'
            data += chunk
    return bodies


def test_back_to_back_pipelined_and_idle_requests_on_one_connection(port):
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        for i in range(5):  # each sent as soon as the previous answer is read
            sock.sendall(_request('/seq/%d' % i))
            assert _read_answers(sock, 1) == [b'/seq/%d' % i]
        sock.sendall(_request('/pipe/1') + _request('/pipe/2'))
        assert _read_answers(sock, 2) == [b'/pipe/1', b'/pipe/2']
        time.sleep(0.2)  # idle: the connection is back on the worker's poller
        with socket.create_connection(('127.0.0.1', port), timeout=10) as other:
            other.sendall(_request('/other'))
            assert _read_answers(other, 1) == [b'/other']
        sock.sendall(_request('/after-idle'))
        assert _read_answers(sock, 1) == [b'/after-idle']
