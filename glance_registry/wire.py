"""The wire under the registry client: keep-alive HTTP/1.1 connections to glance-registry.

A lean exchange over raw sockets (see ConnectionPool); client.py is the registry API
catalogue on top of it. Standard library only.
"""

import os
import socket
import weakref
from http import client as http_client

# NOTE: a kept-alive connection the server closed while it sat idle fails with one of these
# before any response byte; sending the request again on a new connection is then safe.
_STALE = (http_client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_MAX_HEAD = 65536
_NO_BODY = frozenset((204, 304))


class _Conn:
    """One socket to the server and the bytes read from it past the last response."""

    __slots__ = ('sock', 'buf')

    def __init__(self, sock):
        self.sock, self.buf = sock, b''

    def close(self):
        self.sock.close()

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise http_client.IncompleteRead(self.buf)
        self.buf += data

    def read_head(self):
        """Return (status, headers dict with lower-case names) of the next response."""
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end >= 0:
                break
            if len(self.buf) > _MAX_HEAD:
                raise http_client.LineTooLong('response head')
            data = self.sock.recv(65536)
            if not data:
                if not self.buf:
                    raise http_client.RemoteDisconnected(
                        'Remote end closed connection without response')
                raise http_client.IncompleteRead(self.buf)
            self.buf += data
        lines = self.buf[:end].split(b'\r\n')
        self.buf = self.buf[end + 4:]
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b'HTTP/1.') or not parts[1].isdigit():
            raise http_client.BadStatusLine(repr(lines[0][:100]))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b':')
            headers[name.strip().lower()] = value.strip()
        if parts[0] == b'HTTP/1.0' and headers.get(b'connection', b'').lower() != b'keep-alive':
            headers[b'connection'] = b'close'
        return int(parts[1]), headers

    def read_exactly(self, n):
        """Return the next ``n`` bytes."""
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_chunked(self):
        """Return a chunked body, decoded (trailers skipped)."""
        out = []
        while True:
            while b'\r\n' not in self.buf:
                self._more()
            line, self.buf = self.buf.split(b'\r\n', 1)
            try:
                size = int(line.split(b';', 1)[0].strip(), 16)
            except ValueError:
                raise http_client.HTTPException('bad chunk size %r' % line[:40]) from None
            if size == 0:
                while not self.buf.startswith(b'\r\n'):  # trailer lines, then CRLF
                    while b'\r\n' not in self.buf:
                        self._more()
                    self.buf = self.buf.split(b'\r\n', 1)[1]
                self.buf = self.buf[2:]
                return b''.join(out)
            out.append(self.read_exactly(size + 2)[:-2])

    def read_to_eof(self):
        """Return everything up to the end of the stream."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                data, self.buf = self.buf, b''
                return data
            self.buf += data


def _read_response(conn, method):
    """Return (status, body, keep) of the next response on ``conn``."""
    while True:
        status, headers = conn.read_head()
        if status >= 200:
            break  # 1xx interim answers (e.g. 100 Continue) carry no body
    keep = headers.get(b'connection', b'').lower() != b'close'
    if status in _NO_BODY or method == 'HEAD':
        return status, b'', keep
    if b'chunked' in headers.get(b'transfer-encoding', b'').lower():
        return status, conn.read_chunked(), keep
    length = headers.get(b'content-length')
    if length is None:
        return status, conn.read_to_eof(), False
    if not length.isdigit():
        raise http_client.HTTPException('bad Content-Length %r' % length[:40])
    return status, conn.read_exactly(int(length)), keep


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one server, shared by the threads of a process.

    PERF: a lean exchange over raw sockets: glance-registry's answers are small JSON with
    Content-Length, and http.client's email-based header parsing cost ~20% of an api
    image-show; http.client itself was already ~100 us cheaper per call than urllib3 and
    ~500 us cheaper than requests. This hop is on every api request.
    """

    def __init__(self, host, port, maxsize, connect_timeout, read_timeout):
        self.host, self.port, self.maxsize = host, port, maxsize
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        netloc = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)
        self.host_header = ('Host: %s\r\n' % netloc).encode('idna')
        # NOTE: list.append/pop are atomic, so threads share it without a lock.
        self._idle = []
        # SECURITY: a forked child must never write on its parent's sockets (two processes'
        # requests interleaved on one connection); it starts with no connections.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: ref() is not None and ref()._idle.clear())

    def _connect(self):
        sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.read_timeout)
        except BaseException:
            sock.close()
            raise
        return _Conn(sock)

    def request(self, method, url, body, headers):
        """Send one request (``headers``: encoded header lines); return (status, body).

        :raises OSError, http.client.HTTPException: the server cannot be reached/read.
        """
        if body is not None:
            headers += b'Content-Length: %d\r\n' % len(body)
        data = b''.join((method.encode('ascii'), b' ', url.encode('ascii'),
                         b' HTTP/1.1\r\n', self.host_header, headers, b'\r\n', body or b''))
        while True:
            try:
                conn, reused = self._idle.pop(), True
            except IndexError:
                conn, reused = self._connect(), False
            try:
                conn.sock.sendall(data)
                status, answer, keep = _read_response(conn, method)
            except _STALE:
                conn.close()
                if reused:
                    continue  # a fresh connection failing this way is a real failure
                raise
            except BaseException:
                conn.close()
                raise
            if not keep or conn.buf or len(self._idle) >= self.maxsize:
                conn.close()
            else:
                self._idle.append(conn)
            return status, answer

    def close(self):
        """Close the idle connections."""
        while self._idle:
            self._idle.pop().close()
