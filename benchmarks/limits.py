"""The machine's own limits for the image data path: digest and disk-write MB/s."""

import hashlib
import multiprocessing
import os
import queue
import socket
import tempfile
import threading
import time

CHUNK = 1024 * 1024


def pattern_chunk(seed=0):
    """Return one CHUNK of incompressible-looking bytes (cheap to generate once)."""
    block = hashlib.sha512(b'glance-bench-%d' % seed).digest()
    return (block * (CHUNK // len(block) + 1))[:CHUNK]


def _rate(nbytes, seconds):
    return nbytes / seconds / 1e6 if seconds > 0 else float('inf')


def digest_mbps(name, size):
    """Return MB/s of one hashlib digest over ``size`` bytes of 1 MiB chunks."""
    chunk, hasher = pattern_chunk(), hashlib.new(name)
    start = time.perf_counter()
    for _ in range(size // CHUNK):
        hasher.update(chunk)
    return _rate(size // CHUNK * CHUNK, time.perf_counter() - start)


def parallel_digest_mbps(size, names=('md5', 'sha512')):
    """Return MB/s of several digests over the same data, one thread each."""
    chunk = pattern_chunk()

    def work(name):
        hasher = hashlib.new(name)
        for _ in range(size // CHUNK):
            hasher.update(chunk)
    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _rate(size // CHUNK * CHUNK, time.perf_counter() - start)


def disk_write_mbps(size, directory=None):
    """Return MB/s of writing ``size`` bytes to a temp file and fsyncing it."""
    chunk = pattern_chunk()
    fd, path = tempfile.mkstemp(prefix='glance-bench-', dir=directory)
    try:
        start = time.perf_counter()
        for _ in range(size // CHUNK):
            os.write(fd, chunk)
        os.fsync(fd)
        return _rate(size // CHUNK * CHUNK, time.perf_counter() - start)
    finally:
        os.close(fd)
        os.unlink(path)


# Buffers the bare pipeline's receiver cycles through. A hasher queue holds at most
# BARE_QUEUE_DEPTH chunks and its worker one more, so a buffer is free again after
# BARE_QUEUE_DEPTH + 1 further reads; the ring is larger than that.
BARE_QUEUE_DEPTH = 8
BARE_RING = 16


def bare_stream(size):
    """Yield the ``size`` bytes the bare pipeline sends: 1 MiB pieces of three patterns in turn
    (so a buffer reused too early would change the digest)."""
    patterns = [pattern_chunk(seed) for seed in (1, 2, 3)]
    for i, offset in enumerate(range(0, size, CHUNK)):
        yield patterns[i % 3][:size - offset] if size - offset < CHUNK else patterns[i % 3]


def _bare_receiver(listener, size, path, result):
    """Take ``size`` bytes on one connection into reused buffers, feed md5 and sha512
    threads and write each chunk to ``path``; then answer b'ok'."""
    conn, _addr = listener.accept()
    hashers = [hashlib.md5(), hashlib.sha512()]
    queues = [queue.Queue(BARE_QUEUE_DEPTH) for _ in hashers]

    def work(hasher, q):
        while (chunk := q.get()) is not None:
            hasher.update(chunk)
    threads = [threading.Thread(target=work, args=pair)
               for pair in zip(hashers, queues, strict=True)]
    for t in threads:
        t.start()
    ring = [bytearray(CHUNK) for _ in range(BARE_RING)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    got = 0
    try:
        while got < size:
            view = memoryview(ring[got // CHUNK % BARE_RING])[:min(CHUNK, size - got)]
            filled = 0
            while filled < len(view):
                n = conn.recv_into(view[filled:])
                if not n:
                    raise ConnectionError('sender closed early')
                filled += n
            got += filled
            for q in queues:
                q.put(view)
            os.write(fd, view)
    finally:
        for q in queues:
            q.put(None)
        for t in threads:
            t.join()
        os.close(fd)
    conn.sendall(b'ok')
    result.put(hashers[0].hexdigest())


def bare_pipeline_mbps(size, directory=None):
    """Return MB/s of the upload's work done by a bare Python pipeline on this machine.

    A receiver process with no HTTP, no registry and reused buffers reads ``size`` bytes
    from a loopback socket, hashes them with md5 and sha512 in two threads and writes
    them to a file in ``directory``, while this process sends them in 1 MiB pieces as
    the upload benchmark does: the same client, cores, digests and file writes as an
    upload, and nothing else. An upload near this figure loses nothing to the service.

    NOTE: the best of two runs. On a VM the first write of freshly freed memory can cost
    several times the copy (the host gives the pages back lazily); the second run
    writes into pages the first one just freed.
    """
    return max(bare_pipeline(size, directory)[0] for _ in range(2))


def bare_pipeline(size, directory=None):
    """Return (MB/s, md5 hex digest the receiver computed) of one bare pipeline run."""
    ctx = multiprocessing.get_context('fork')
    fd, path = tempfile.mkstemp(prefix='glance-bench-bare-', dir=directory)
    os.close(fd)
    listener = socket.create_server(('127.0.0.1', 0))
    result = ctx.Queue()
    receiver = ctx.Process(target=_bare_receiver, args=(listener, size, path, result))
    receiver.start()
    try:
        with socket.create_connection(listener.getsockname()) as conn:
            start = time.perf_counter()
            for piece in bare_stream(size):
                conn.sendall(piece)
            if conn.recv(2) != b'ok':
                raise RuntimeError('the bare pipeline receiver failed')
            elapsed = time.perf_counter() - start
        return _rate(size, elapsed), result.get(timeout=60)
    finally:
        receiver.join(60)
        if receiver.is_alive():
            receiver.kill()
        listener.close()
        os.unlink(path)


def machine_limits(size, directory=None):
    """Return {md5, sha512, disk, parallel, bare pipeline} MB/s for ``size`` bytes."""
    return {
        'md5': digest_mbps('md5', size),
        'sha512': digest_mbps('sha512', size),
        'disk': disk_write_mbps(size, directory),
        'parallel md5+sha512': parallel_digest_mbps(size),
        'bare pipeline': bare_pipeline_mbps(size, directory),
    }


class GeneratedStream:
    """A file-like body of ``size`` generated bytes; never holds more than one chunk."""

    def __init__(self, size):
        self.remaining = size
        self._chunk = pattern_chunk(1)

    def read(self, n=-1):
        """Return up to ``n`` bytes (a slice of the pattern chunk)."""
        if self.remaining <= 0:
            return b''
        n = CHUNK if n is None or n < 0 else n
        n = min(n, self.remaining, CHUNK)
        self.remaining -= n
        return self._chunk if n == CHUNK else self._chunk[:n]

    def __iter__(self):
        while True:
            data = self.read(CHUNK)
            if not data:
                return
            yield data
