"""The gunicorn worker of both services: gthread, with request heads read in its event loop
and the requests that move image bytes served by a pool of their own.

Why (docs/internals.md §9): gunicorn's gthread worker gives a connection a thread as soon as
one byte arrives, and the thread then blocks reading the rest of the head. A client that
trickles its headers (or opens a socket and waits) holds one of ``threads`` for as long as it
likes, and so does every slow image transfer: a few of either stalled every image-show.
Here the main thread reads each request line, its headers and, for a metadata request, a small
body, without blocking, up to ``header_timeout``; only a complete request reaches a thread.
A request that moves image bytes (the app's ``moves_image_data(method, path)``) goes to a
separate, larger, bounded pool, so the ``threads`` pool is always free for metadata calls.
"""

import select
import selectors
import socket
import threading
import time
from concurrent import futures
from concurrent.futures import thread as futures_thread
from functools import partial

from gunicorn import http
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from glance_server import transfers

# How long a worker thread waits for the next request on a kept-alive connection before
# handing the connection back to the worker's poller, in seconds.
NEXT_REQUEST_WAIT = 0.002
# SECURITY: the most bytes of request line + headers held for one connection while the
# head is incomplete; a longer head is refused with 431 (gunicorn's own limits are lower:
# 100 fields). Bounds the memory of many slow connections: 64 KiB each.
HEAD_MAX = 64 * 1024
# A metadata request's Content-Length body up to this size is read with its head, so a
# client trickling a JSON body holds no thread either. Larger bodies are read in the thread.
BODY_PREREAD_MAX = 64 * 1024
_CRLF = b'\r\n'
_REFUSED = (b'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n'
            b'Content-Length: 0\r\n\r\n')


def head_status(data, moves_image_data=None):
    """Return (bytes needed, moves image data) for the request starting in ``data``.

    None while the head (request line + headers) is incomplete. The bytes needed are the
    head's, plus the body's for a metadata request with a small Content-Length body.
    """
    start = 0
    while data.startswith(_CRLF, start):   # RFC 9112 2.2: blank lines before a request
        start += 2
    end = data.find(b'\r\n\r\n', start)
    if end < 0:
        return None
    end += 4
    lines = bytes(data[start:end - 4]).split(_CRLF)
    method, _, rest = lines[0].partition(b' ')
    target = rest.partition(b' ')[0].partition(b'?')[0]
    if target.startswith((b'http://', b'https://')):   # absolute-form
        target = b'/' + target.split(b'/', 3)[-1] if target.count(b'/') > 2 else b'/'
    transfer = bool(moves_image_data and moves_image_data(
        method.decode('latin-1'), target.decode('latin-1')))
    if transfer:
        return end, True
    return end + _small_body_length(lines[1:]), False


def _small_body_length(header_lines):
    length = 0
    for line in header_lines:
        name, _, value = line.partition(b':')
        name = name.strip().lower()
        if name in (b'transfer-encoding', b'expect'):
            return 0   # NOTE: the thread reads these; a 100-continue client waits for us
        if name == b'content-length':
            value = value.strip()
            length = int(value) if value.isdigit() else 0
    return length if length <= BODY_PREREAD_MAX else 0


class KeepAliveThreadWorker(ThreadWorker):
    """gunicorn's gthread worker: heads read by the event loop, two pools, kept-alive runs.

    PERF: gthread hands a kept-alive connection back to its main thread after every request
    (poller, thread pool, completion pipe): ~0.3 ms of CPU per request, measured on
    glance-registry. A complete request that follows within NEXT_REQUEST_WAIT, for the same
    pool, is served by the same thread instead; anything else goes back to the event loop.

    ``serve`` sets the class attributes on a subclass: ``header_timeout`` (seconds),
    ``transfer_threads`` (0: no transfer pool), ``transfer_process`` (serve transfers in a
    process of their own, glance_server.transfers), ``transfer_nice`` (that process's nice
    increment) and ``moves_image_data``.
    """

    header_timeout = 60
    transfer_threads = 0
    transfer_process = False
    transfer_nice = 0
    moves_image_data = None

    def init_process(self):
        self.heads = {}   # connections whose head is being read; in deadline order
        self.stop_deadline = None
        self.transfer_pool = None
        self.transfers = None
        if self.transfer_threads:
            # NOTE: the worker's own pool serves transfers only when the transfer process
            # cannot take them (not supported here, or gone).
            self.transfer_pool = futures.ThreadPoolExecutor(
                self.transfer_threads, thread_name_prefix='transfer')
            if self.transfer_process and transfers.supported():
                self.transfers = transfers.TransferProcess(self)
        super().init_process()

    def load_wsgi(self):
        if self.transfers is not None:
            # NOTE: forked before this worker builds its app or starts a thread.
            self.transfers.start()
        super().load_wsgi()

    def run(self):
        super().run()
        if self.transfer_pool is not None:
            self.transfer_pool.shutdown(wait=False)
        if self.transfers is not None:
            self.transfers.stop(self.cfg.graceful_timeout)
        forget_finished_threads(self.tpool, self.transfer_pool)

    def handle_quit(self, sig, frame):
        if self.transfers is not None:
            self.transfers.kill()
        if self.transfer_pool is not None:
            self.transfer_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)

    def _reads_heads(self, conn):
        # NOTE: TLS and HTTP/2 prior knowledge need the socket in a thread: gthread's path.
        return not (self.cfg.is_ssl or getattr(self.cfg, 'protocol', 'http') != 'http'
                    or negotiation.prior_knowledge_allowed(self.cfg, conn.client))

    def enqueue_req(self, conn):
        """Read the next request's head in the event loop, then give it to a thread."""
        if not self._reads_heads(conn):
            self._submit(self.tpool, conn)
            return
        conn.head = bytearray(conn.parser.unreader.take_buffered() if conn.parser else b'')
        conn.head_deadline = time.monotonic() + self.header_timeout
        if self.stop_deadline is not None:
            conn.head_deadline = min(conn.head_deadline, self.stop_deadline)
        conn.sock.setblocking(False)
        if not self._advance(conn, recv=not conn.head):
            self.heads[conn] = None
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 partial(self._on_head_readable, conn))

    def _on_head_readable(self, conn, _sock):
        self._advance(conn, recv=True)

    def _advance(self, conn, recv):
        """Take what the socket has; dispatch or drop the connection. True when done."""
        status = None if recv else self._status(conn.head)
        if status is None or len(conn.head) < status[0]:
            try:
                data = conn.sock.recv(HEAD_MAX)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                data = b''
            if not data:
                self._forget(conn)
                self._close(conn)   # the client went away
                return True
            conn.head += data
            status = self._status(conn.head)
        if status is None:
            if len(conn.head) <= HEAD_MAX:
                return False
            self._forget(conn)
            self._close(conn, _REFUSED)
            return True
        if len(conn.head) < status[0]:
            return False
        self._forget(conn)
        self._dispatch(conn, status[1])
        return True

    def _status(self, data):
        return head_status(data, self.moves_image_data)

    def _dispatch(self, conn, transfer):
        if transfer and self.transfers is not None and self.transfers.hand_over(conn,
                                                                                conn.head):
            self.nr_conns -= 1
            conn.head = None
            return
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = None
        conn.data_ready = True   # NOTE: gthread's handle() must not wait for data again
        conn.transfer = transfer
        pool = self.transfer_pool if transfer and self.transfer_pool else self.tpool
        self._submit(pool, conn)

    def _submit(self, pool, conn):
        fs = pool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def _forget(self, conn):
        if conn in self.heads:
            del self.heads[conn]
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass

    def _close(self, conn, answer=b''):
        self.nr_conns -= 1
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        conn.close()

    def murder_pending(self):
        """Close connections whose head is late (``header_timeout``), then gthread's."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.stop_deadline is None:
            # NOTE: a stopping worker waits STOP_KEEPALIVE_LINGER at most for a head, as
            # gthread does for a kept-alive connection; the order of self.heads holds.
            self.stop_deadline = now + STOP_KEEPALIVE_LINGER
            for conn in self.heads:
                conn.head_deadline = min(conn.head_deadline, self.stop_deadline)
        for conn in list(self.heads):
            if conn.head_deadline > now:
                break
            self._forget(conn)
            self._close(conn)

    def handle(self, conn):
        """Serve requests on ``conn`` while the next one follows promptly."""
        result = super().handle(conn)
        while result is True and self.alive and not conn.is_http2 and self._next_here(conn):
            result = super().handle(conn)
        return result

    def _next_here(self, conn):
        """Whether the next request is complete already and belongs to this thread's pool."""
        if not self._reads_heads(conn):
            return _next_soon(conn)
        data = conn.parser.unreader.buf.getvalue()
        status = self._status(data) if data else None
        if status is None or len(data) < status[0]:
            try:
                if not select.select([conn.sock], [], [], NEXT_REQUEST_WAIT)[0]:
                    return False
                data += conn.sock.recv(HEAD_MAX + BODY_PREREAD_MAX, socket.MSG_PEEK)
            except (OSError, ValueError):
                return False
            status = self._status(data)
        if status is None or len(data) < status[0]:
            return False   # a slow head: the event loop reads it, not this thread
        return status[1] == getattr(conn, 'transfer', False)


def forget_finished_threads(*pools, wait=STOP_KEEPALIVE_LINGER):
    """Let the interpreter exit without joining pool threads whose code has ended.

    Return the threads forgotten. Every connection is closed when this runs, so the pools'
    threads have nothing left to do; each is joined for ``wait`` seconds at most, together.
    NOTE: under load, glance-registry's worker was seen keeping a thread whose run had ended
    (gone from ``threading._active``, no OS thread left) but whose thread-state lock was never
    released: ``is_alive()`` stayed true, and concurrent.futures' exit hook joined it
    forever, so each graceful stop took the master's whole ``graceful_timeout`` (30 s) and
    ended in SIGKILL. Such a thread is removed from the two registries interpreter exit
    joins (privates of concurrent.futures and threading); a thread still running Python
    code is not. Not root-caused: the only foreign thing in those threads is oslo.cache's
    memcache pool (keystonemiddleware's token cache), which imports eventlet.
    """
    deadline = time.monotonic() + wait
    forgotten = []
    for pool in pools:
        if pool is None:
            continue
        pool.shutdown(wait=False)
        for thread in list(getattr(pool, '_threads', ())):
            # a thread whose code has ended releases its lock at once (or never)
            finished = thread.ident not in threading._active
            thread.join(0.1 if finished else max(0.0, deadline - time.monotonic()))
            if thread.is_alive() and thread.ident not in threading._active:
                futures_thread._threads_queues.pop(thread, None)
                with threading._shutdown_locks_lock:
                    threading._shutdown_locks.discard(thread._tstate_lock)
                forgotten.append(thread)
    return forgotten


def _next_soon(conn):
    if conn.parser.unreader.buf.getvalue():
        return True  # pipelined: already read
    try:
        return bool(select.select([conn.sock], [], [], NEXT_REQUEST_WAIT)[0])
    except (OSError, ValueError):
        return False
