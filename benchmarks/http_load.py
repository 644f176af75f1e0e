"""HTTP clients of the bench: one endpoint's address and headers, and request-rate loads.

Loopback only. The loads run in separate processes with lean keep-alive sockets, so the
client's own GIL and http.client's parsing take as little as possible of the CPU the
servers are measured on.
"""

import http.client
import ipaddress
import json
import multiprocessing
import socket
import time
import urllib.parse

# What Keystone's middleware would set for an admin of project "bench": sent to a no-auth
# endpoint (ours, or Glance 33 without `authtoken`, tools of benchmarks/glance33_server.py),
# so both sides see the same caller. An admin sees every image, as with no headers at all.
ADMIN_HEADERS = {'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'bench',
                 'X-User-Id': 'bench', 'X-Roles': 'admin,member,reader'}


def _is_loopback(host):
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


class Endpoint:
    """Where to send requests, and the headers every request carries."""

    def __init__(self, url, token=None, timeout=120, headers=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != 'http':
            raise SystemExit('only http:// endpoints are supported')
        self.url = url
        self.host, self.port = parts.hostname, parts.port or 80
        if not _is_loopback(self.host):
            raise SystemExit('refusing to benchmark %s: loopback endpoints only' % self.host)
        self.prefix = parts.path.rstrip('/')
        self.timeout = timeout
        self.token = token
        self.headers = dict(headers if headers is not None else ADMIN_HEADERS)
        if token:
            self.headers = {'X-Auth-Token': token}

    def connect(self):
        """Return a new keep-alive connection."""
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, conn, method, path, body=None, headers=None):
        """Send one request on ``conn``; return (status, body bytes)."""
        all_headers = dict(self.headers, **(headers or {}))
        if body is not None:
            body = json.dumps(body).encode()
            all_headers.setdefault('Content-Type', 'application/json')
        for attempt in (1, 2):
            try:
                conn.request(method, self.prefix + path, body=body, headers=all_headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # NOTE: the server closed an idle keep-alive connection; http.client
                # reconnects on the next request.
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError('unreachable')


def check(status, body, expected, what):
    """Stop the bench when a request did not get an expected status."""
    if status not in expected:
        raise SystemExit('%s failed: HTTP %s %s' % (what, status, body[:300]))


class LeanClient:
    """Repeat one request on a keep-alive socket, reading each answer by its Content-Length.

    PERF: the load generator shares the machine's cores with the servers; http.client's
    header parsing would take CPU the servers are being measured on.
    """

    def __init__(self, ep, method, path, body=None):
        headers = dict(ep.headers)
        payload = b''
        if body is not None:
            payload = json.dumps(body).encode()
            headers['Content-Type'] = 'application/json'
            headers['Content-Length'] = str(len(payload))
        head = ''.join('%s: %s\r\n' % kv for kv in headers.items())
        self.ep, self.sock, self.buf = ep, None, b''
        self.request = ('%s %s%s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n' % (
            method, ep.prefix, path, ep.host, ep.port, head)).encode('latin-1') + payload

    def _recv(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionResetError('server closed the connection')
        self.buf += data

    def send(self):
        """Send the request; return (status, body bytes)."""
        if self.sock is None:
            self.sock = socket.create_connection((self.ep.host, self.ep.port), self.ep.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(self.request)
        while b'\r\n\r\n' not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.split(b'\r\n')
        headers = dict(line.lower().split(b':', 1) for line in lines[1:])
        length = int(headers.get(b'content-length', b'-1'))
        if length < 0:
            raise SystemExit('answer without Content-Length: %r' % head[:300])
        while len(self.buf) < length:
            self._recv()
        body, self.buf = self.buf[:length], self.buf[length:]
        if headers.get(b'connection', b'').strip() == b'close':
            self.close()
        return int(lines[0].split()[1]), body

    def close(self):
        """Close the socket (the next send reconnects)."""
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b''


def _rps_worker(args):
    url, token, headers, method, path, body, count, deadline = args
    client = LeanClient(Endpoint(url, token, headers=headers), method, path, body)
    done = errors = 0
    created = []
    ok = 201 if method == 'POST' else 200
    while done < count and time.time() < deadline:
        try:
            status, answer = client.send()
        except (ConnectionResetError, BrokenPipeError):
            client.close()  # an idle keep-alive connection the server closed
            status, answer = client.send()
        done += 1
        errors += status != ok
        if method == 'POST' and status == 201:
            created.append(json.loads(answer)['id'])
    client.close()
    return done, errors, created


def measure_rps(ep, path, requests, concurrency, time_limit, method='GET', body=None):
    """Send ``requests`` requests over ``concurrency`` keep-alive clients; return
    (requests/s, ids of the images POSTs created)."""
    per_client = max(1, requests // concurrency)
    deadline = time.time() + time_limit
    jobs = [(ep.url, ep.token, ep.headers, method, path, body, per_client,
             deadline)] * concurrency
    # NOTE: processes, not threads, so the client's own GIL does not cap the figure.
    with multiprocessing.Pool(concurrency) as pool:
        start = time.perf_counter()
        results = pool.map(_rps_worker, jobs)
        elapsed = time.perf_counter() - start
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    if errors:
        print('  warning: %d of %d %s %s requests failed' % (errors, done, method, path))
    return done / elapsed, [iid for r in results for iid in r[2]]


def _delete_worker(args):
    url, token, headers, ids = args
    ep = Endpoint(url, token, headers=headers)
    conn = ep.connect()
    try:
        for iid in ids:
            ep.call(conn, 'DELETE', '/v2/images/%s' % iid)
    finally:
        conn.close()


def delete_all(ep, ids, concurrency=4):
    """Delete the images ``ids`` (not timed), over a few connections."""
    if not ids:
        return
    jobs = [(ep.url, ep.token, ep.headers, ids[i::concurrency]) for i in range(concurrency)]
    with multiprocessing.Pool(concurrency) as pool:
        pool.map(_delete_worker, jobs)
