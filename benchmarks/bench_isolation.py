"""Measure image-show while slow transfers and slow clients load the api (issue 14, item 1).

Prints image-show p50/p99 at rest, then while --transfers slow uploads and as many slow
downloads run (--rate bytes/s each), then while --tricklers connections trickle their
request headers (one byte every 0.5 s); the target (p99 <= max(5 x p99 at rest, 100 ms),
no timeout) and the ratio to it; whether every transfer ended with the right checksum;
when the tricklers were dropped; and the peak RSS of each api worker (--api-pid, the
gunicorn master). Bounded in count and time; loopback endpoints only; removes its images.

    .venv/bin/python benchmarks/bench_isolation.py --endpoint http://127.0.0.1:9292 \\
        --api-pid "$(cat api.pid)"
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import select
import socket
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import table  # noqa: E402
from benchmarks.http_load import Endpoint  # noqa: E402
from benchmarks.images import create_image  # noqa: E402

PIECE = 64 * 1024
SHOW_TIMEOUT = 5
SOURCES = 10            # distinct images the downloads read
TRICKLE_BYTE_EVERY = 0.5


def _endpoint(args):
    ep = Endpoint(args.endpoint, args.token, timeout=60)
    if not args.token:   # noauth: the identity headers of one project
        project = 'bench-' + uuid.uuid4().hex[:8]
        ep.headers.update({'X-Identity-Status': 'Confirmed', 'X-Project-Id': project,
                           'X-User-Id': 'u-' + project, 'X-Roles': 'admin,member,reader'})
    return ep


def _paced(number, started, rate):
    delay = started + number * PIECE / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def slow_upload(ep, image_id, blob, rate):
    """PUT ``blob`` at ``rate``; return the status."""
    conn = ep.connect()
    conn.putrequest('PUT', '%s/v2/images/%s/file' % (ep.prefix, image_id))
    for key, value in ep.headers.items():
        conn.putheader(key, value)
    conn.putheader('Content-Type', 'application/octet-stream')
    conn.putheader('Content-Length', str(len(blob)))
    conn.endheaders()
    started = time.monotonic()
    view = memoryview(blob)
    for number, offset in enumerate(range(0, len(blob), PIECE)):
        _paced(number, started, rate)
        conn.send(view[offset:offset + PIECE])
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def slow_download(ep, image_id, rate):
    """GET the image data with a small receive window, read at ``rate``; return (status, md5)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIECE)
    sock.settimeout(60)
    sock.connect((ep.host, ep.port))
    conn = ep.connect()
    conn.sock = sock
    conn.request('GET', '%s/v2/images/%s/file' % (ep.prefix, image_id), headers=ep.headers)
    resp = conn.getresponse()
    digest, started, number = hashlib.md5(), time.monotonic(), 0
    while piece := resp.read(PIECE):
        digest.update(piece)
        number += 1
        _paced(number, started, rate)
    conn.close()
    return resp.status, digest.hexdigest()


def _run_all(jobs):
    """Run callables in one thread each; return their results (exceptions as results)."""
    results = [None] * len(jobs)

    def run(index, job):
        try:
            results[index] = job()
        except Exception as exc:   # NOTE: reported, not raised: one failure is a figure
            results[index] = exc

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _transfers_proc(args, kind, items, queue):
    if args.load_nice:
        # NOTE: the slow clients stand for compute nodes and users on other hosts; on this
        # one machine they are niced so that their own CPU use does not count as the
        # service's latency (the probe and the service keep the normal priority).
        os.nice(args.load_nice)
    ep = _endpoint(args)
    ep.headers = args.headers
    if kind == 'up':
        jobs = [lambda i=i, b=b: slow_upload(ep, i, args.blobs[b], args.rate) for i, b in items]
    else:
        jobs = [lambda i=i: slow_download(ep, i, args.rate) for i, _ in items]
    queue.put([r if not isinstance(r, Exception) else repr(r) for r in _run_all(jobs)])


def _probe_proc(args, image_id, stop, queue):
    """Show ``image_id`` until ``stop`` is set (at most --time-limit); put the timings."""
    ep = _endpoint(args)
    ep.headers = args.headers
    conn = ep.connect()
    conn.timeout = SHOW_TIMEOUT
    times, failures = [], 0
    deadline = time.monotonic() + args.time_limit
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            status, _ = ep.call(conn, 'GET', '/v2/images/%s' % image_id)
            failures += status != 200
        except OSError:
            failures += 1
            conn.close()
        times.append(time.monotonic() - started)
        time.sleep(0.02)
    queue.put((sorted(times), failures))


class Probe:
    """image-show in a process of its own, so the load's threads never delay the client."""

    def __init__(self, args, image_id):
        self.stop, self.queue = multiprocessing.Event(), multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=_probe_proc,
                                            args=(args, image_id, self.stop, self.queue))
        self.proc.start()

    def result(self):
        self.stop.set()
        times, failures = self.queue.get(timeout=SHOW_TIMEOUT + 30)
        self.proc.join()
        return times, failures


def _pct(times, p):
    return times[min(len(times) - 1, int(len(times) * p))] if times else float('nan')


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def worker_rss(master_pid):
    """Return {pid: RSS in MiB} of the gunicorn master's workers and their transfer
    processes (the workers' children, glance_server.transfers)."""
    out = {}
    pids = _children(master_pid)
    pids += [child for pid in pids for child in _children(pid)]
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        out[pid] = int(line.split()[1]) / 1024
        except OSError:
            pass
    return out


def trickle_all(ep, count, limit):
    """Open ``count`` connections trickling a head; return each one's seconds until dropped."""
    head = b'GET /v2/images/x HTTP/1.1\r\nHost: a\r\nX-Pad: ' + b'a' * 4000
    socks = {socket.create_connection((ep.host, ep.port), timeout=5): 0 for _ in range(count)}
    started, dropped = time.monotonic(), {}
    while socks and time.monotonic() - started < limit:
        for sock, sent in list(socks.items()):
            try:
                sock.send(head[sent:sent + 1])
                socks[sock] = sent + 1
            except OSError:
                dropped[sock] = time.monotonic() - started
        readable = select.select([s for s in socks if s not in dropped], [], [],
                                 TRICKLE_BYTE_EVERY)[0]
        for sock in readable:
            try:
                gone = not sock.recv(1024)
            except OSError:
                gone = True
            if gone:
                dropped[sock] = time.monotonic() - started
        for sock in dropped:
            if sock in socks:
                del socks[sock]
                sock.close()
    for sock in socks:
        sock.close()
    return sorted(dropped.values()) + [None] * len(socks)


def setup(args, ep, conn):
    """Create the probe image, the download sources and the upload targets; return ids."""
    probe = create_image(ep, conn, 'bench-iso-probe')
    args.blobs = [os.urandom(args.size) for _ in range(SOURCES)]
    sources = []
    for index in range(SOURCES):
        image_id = create_image(ep, conn, 'bench-iso-src-%d' % index)
        status, body = _put(ep, conn, image_id, args.blobs[index])
        if status != 204:
            raise SystemExit('upload of a source failed: HTTP %s %s' % (status, body[:200]))
        sources.append(image_id)
    targets = [create_image(ep, conn, 'bench-iso-up-%d' % n) for n in range(args.transfers)]
    return probe, sources, targets


def _put(ep, conn, image_id, blob):
    conn.request('PUT', '%s/v2/images/%s/file' % (ep.prefix, image_id), body=bytes(blob),
                 headers=dict(ep.headers, **{'Content-Type': 'application/octet-stream'}))
    resp = conn.getresponse()
    return resp.status, resp.read()


def run_transfers(args, sources, targets):
    """Run the slow uploads and downloads beside a probe; return the figures."""
    ups = [(image_id, n % SOURCES) for n, image_id in enumerate(targets)]
    downs = [(sources[n % SOURCES], n % SOURCES) for n in range(args.transfers)]
    queues = {kind: multiprocessing.Queue() for kind in ('up', 'down')}
    procs = [multiprocessing.Process(target=_transfers_proc, args=(args, kind, items, queues[kind]))
             for kind, items in (('up', ups), ('down', downs))]
    probe = Probe(args, args.probe_image)
    started = time.monotonic()
    for proc in procs:
        proc.start()
    rss, results = {}, {}
    while len(results) < 2 and time.monotonic() - started < args.time_limit:
        for pid, mib in worker_rss(args.api_pid).items() if args.api_pid else ():
            rss[pid] = max(rss.get(pid, 0), mib)
        for kind, queue in queues.items():
            if kind not in results and not queue.empty():
                results[kind] = queue.get()
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.terminate()
    expected = [hashlib.md5(blob).hexdigest() for blob in args.blobs]
    up_ok = down_ok = 0
    conn = args.ep.connect()
    for (image_id, blob), status in zip(ups, results.get('up', []), strict=False):
        if status == 204:
            _, body = args.ep.call(conn, 'GET', '/v2/images/%s' % image_id)
            up_ok += json.loads(body).get('checksum') == expected[blob]
    for (_, blob), got in zip(downs, results.get('down', []), strict=False):
        down_ok += got == (200, expected[blob])
    return probe.result(), up_ok, down_ok, elapsed, rss


def _line(label, times, failures, target=None):
    text = '%-28s n=%5d  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  timeouts/errors %d' % (
        label, len(times), _pct(times, 0.5) * 1e3, _pct(times, 0.99) * 1e3,
        (times[-1] if times else float('nan')) * 1e3, failures)
    if target:
        text += '  p99/target %.2f' % (_pct(times, 0.99) / target)
    print(text, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--endpoint', default='http://127.0.0.1:9292')
    parser.add_argument('--token')
    parser.add_argument('--api-pid', type=int, help='the glance-api gunicorn master, for RSS')
    parser.add_argument('--transfers', type=int, default=100, help='uploads, and downloads')
    parser.add_argument('--rate', type=int, default=2 * 1000 * 1000, help='bytes/s each')
    parser.add_argument('--size-mib', type=int, default=8, help='size of each transfer')
    parser.add_argument('--tricklers', type=int, default=200)
    parser.add_argument('--load-nice', type=int, default=10,
                        help='nice increment of the slow clients (0: same priority as the '
                             'probe and the service)')
    parser.add_argument('--header-timeout', type=float, default=60,
                        help="the api's client_header_timeout (how long to trickle)")
    parser.add_argument('--rest-seconds', type=float, default=5)
    parser.add_argument('--time-limit', type=float, default=120, help='per phase, seconds')
    args = parser.parse_args(argv)
    args.transfers = min(args.transfers, 500)
    args.tricklers = min(args.tricklers, 1000)
    args.size = args.size_mib * 1024 * 1024
    return args


def measure(args):
    """Run the three phases on ``args.endpoint``, print them, and return the figures:
    {'target_ms', 'rest_p99_ms', 'transfers_p99_ms', 'transfers_timeouts', 'checksums_ok',
    'transfers', 'tricklers_p99_ms', 'tricklers_timeouts', 'dropped', 'tricklers',
    'peak_rss_mib' (largest api worker or transfer process; None without --api-pid)}."""
    args.ep = ep = _endpoint(args)
    args.headers = ep.headers
    conn = ep.connect()
    args.probe_image, sources, targets = setup(args, ep, conn)
    out = {'transfers': 2 * args.transfers, 'tricklers': args.tricklers}
    try:
        rest = Probe(args, args.probe_image)
        time.sleep(args.rest_seconds)
        rest_times, rest_failures = rest.result()
        target = max(5 * _pct(rest_times, 0.99), 0.1)
        out.update(target_ms=target * 1e3, rest_p99_ms=_pct(rest_times, 0.99) * 1e3)
        print('target: image-show p99 <= max(5 x %.1f ms, 100 ms) = %.1f ms, 0 timeouts'
              % (_pct(rest_times, 0.99) * 1e3, target * 1e3))
        _line('show at rest', rest_times, rest_failures, target)
        (times, failures), up_ok, down_ok, elapsed, rss = run_transfers(args, sources, targets)
        out.update(transfers_p99_ms=_pct(times, 0.99) * 1e3, transfers_timeouts=failures,
                   checksums_ok=up_ok + down_ok, peak_rss_mib=max(rss.values(), default=None))
        _line('show, %d+%d slow transfers' % (args.transfers, args.transfers), times, failures,
              target)
        size_mb = args.size / 1e6
        print('transfers: %d x %.1f MB each way at %.1f MB/s each in %.1f s; checksums ok: '
              'uploads %d/%d, downloads %d/%d' % (
                  args.transfers, size_mb, args.rate / 1e6, elapsed, up_ok, args.transfers,
                  down_ok, args.transfers))
        print('api worker peak RSS under transfers (MiB): %s' % (
            ', '.join('%d: %.0f' % item for item in sorted(rss.items())) or 'n/a (--api-pid)'))
        probe = Probe(args, args.probe_image)
        drops = trickle_all(ep, args.tricklers, args.header_timeout + 10)
        times, failures = probe.result()
        _line('show, %d header tricklers' % args.tricklers, times, failures, target)
        done = [d for d in drops if d is not None]
        out.update(tricklers_p99_ms=_pct(times, 0.99) * 1e3, tricklers_timeouts=failures,
                   dropped=len(done))
        print('tricklers dropped: %d/%d, after %.1f-%.1f s (client_header_timeout %g s)' % (
            len(done), len(drops), min(done, default=float('nan')),
            max(done, default=float('nan')), args.header_timeout))
        if args.api_pid:
            print('api worker RSS after (MiB): %s' % ', '.join(
                '%d: %.0f' % item for item in sorted(worker_rss(args.api_pid).items())))
    finally:
        conn = ep.connect()
        for image_id in [args.probe_image, *sources, *targets]:
            ep.call(conn, 'DELETE', '/v2/images/%s' % image_id)
    return out


def rows(this, ref):
    """Return `make bench`'s table rows of ``measure``'s figures (``ref``: Glance 33's)."""
    R = table.Row
    ref = ref or {}
    transfers, tricklers = this['transfers'], this['tricklers']
    return [
        R('show p99 at rest (ms)', this['rest_p99_ms'], ref.get('rest_p99_ms'), fmt='%.1f'),
        R('show p99, %d slow transfers (ms)' % transfers, this['transfers_p99_ms'],
          ref.get('transfers_p99_ms'), ('<=', round(this['target_ms'], 1)), on='this',
          fmt='%.1f'),
        R('show timeouts, %d slow transfers' % transfers, this['transfers_timeouts'],
          ref.get('transfers_timeouts'), ('<=', 0), on='this'),
        R('slow transfers with the right checksum', this['checksums_ok'],
          ref.get('checksums_ok'), ('>=', transfers), on='this'),
        R('show p99, %d header tricklers (ms)' % tricklers, this['tricklers_p99_ms'],
          ref.get('tricklers_p99_ms'), ('<=', round(this['target_ms'], 1)), on='this',
          fmt='%.1f'),
        R('show timeouts, %d header tricklers' % tricklers, this['tricklers_timeouts'],
          ref.get('tricklers_timeouts'), ('<=', 0), on='this'),
        R('header tricklers dropped', this['dropped'], ref.get('dropped'),
          ('>=', tricklers), on='this'),
        R('api process peak RSS, slow transfers (MiB)', this['peak_rss_mib']),
    ]


def main(argv=None):
    measure(parse_args(argv))


if __name__ == '__main__':
    main()
