"""The transfer process of a glance-api worker: requests that move image bytes, served
outside the process that answers metadata calls.

Why (docs/internals.md §9): in one process, a hundred slow uploads and downloads are a few
hundred threads (the request, two digest threads, a heartbeat) waking for every piece of
network data, and every wake takes the GIL. The worker's event loop and its metadata threads
then wait for the GIL behind them: image-show p99 went from ~5 ms to 0.15-0.5 s with 100 + 100
transfers at 2 MB/s on two cores, though the CPU was not saturated. A separate process has
its own GIL, and the kernel schedules the two fairly.

How: each api worker forks one transfer process before it builds its app (so no thread, lock
or connection of the worker is copied; the child builds its own app, the way a worker does).
The worker's event loop reads a request's head (glance_server.workers); when the request moves
image bytes it sends the connection's file descriptor, with the head bytes already read, over a
SOCK_SEQPACKET pair (SCM_RIGHTS) and forgets the connection. The transfer process serves that
one request with gunicorn's own request handling, in a pool of ``transfer_threads`` threads,
and closes the connection after it (``Connection: close``: the next request goes back to a
worker's event loop).

Lifetimes: the worker closes its end of the pair when it stops; the transfer process then
takes no new request, finishes those in flight (at most ``graceful_timeout``) and exits, and
the worker waits for it. SIGTERM alone changes nothing (systemd sends it to every process of
the unit; the worker then closes the pair). If the worker dies, the kernel kills the transfer
process (PR_SET_PDEATHSIG), as the worker's own transfer threads would have died with it.
"""

import ctypes
import errno
import os
import pickle
import signal
import socket
import sys
import threading
import time
from concurrent import futures

from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker, TConn

# A head (64 KiB at most) plus a metadata-sized body and the addresses fit in one message.
MESSAGE_MAX = 256 * 1024
_PR_SET_PDEATHSIG = 1
# How long the worker's event loop may wait to hand a connection over before it serves the
# transfer itself (the transfer process is not reading: stuck, or being replaced).
HANDOFF_TIMEOUT = 1.0


def supported():
    return hasattr(socket, 'send_fds') and sys.platform.startswith('linux')


class TransferProcess:
    """The worker's side: start the process, hand it connections, stop it."""

    def __init__(self, worker):
        self.worker = worker
        self.chan = None
        self.pid = None

    def start(self):
        """Fork the transfer process (call before the worker builds its app)."""
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker_pid = os.getpid()
        pid = os.fork()
        if pid == 0:   # the transfer process; never returns
            parent_end.close()
            code = 1
            try:
                code = _Child(self.worker, child_end, worker_pid).run()
            finally:
                os._exit(code)
        child_end.close()
        parent_end.settimeout(HANDOFF_TIMEOUT)
        self.chan, self.pid = parent_end, pid

    def hand_over(self, conn, head):
        """Send ``conn`` (its head already read) to the transfer process; False if it failed."""
        if self.chan is None:
            return False
        message = pickle.dumps((bytes(head), conn.client, conn.server))
        if len(message) > MESSAGE_MAX:
            return False
        try:
            socket.send_fds(self.chan, [message], [conn.sock.fileno()])
        except OSError as e:
            self.worker.log.warning('Transfer process %s does not take connections (%s); '
                                    'this worker serves its transfers itself', self.pid, e)
            self.chan.close()
            self.chan = None
            return False
        # NOTE: close only this process's descriptor: no shutdown(), which would end the
        # connection for the transfer process too.
        conn.sock.close()
        return True

    def stop(self, timeout):
        """Let in-flight transfers finish (at most ``timeout`` s), then reap the process."""
        if self.pid is None:
            return
        if self.chan is not None:
            self.chan.close()
            self.chan = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._reaped(os.WNOHANG):
                return
            time.sleep(0.05)
        self.kill()

    def kill(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self._reaped(0)

    def _reaped(self, flags):
        try:
            pid, _ = os.waitpid(self.pid, flags)
        except ChildProcessError:
            pid = self.pid
        if pid:
            self.pid = None
            return True
        return False


class _Child:
    """The transfer process: receive connections, serve each one's request, close it."""

    def __init__(self, worker, chan, worker_pid):
        self.worker = worker
        self.chan = chan
        self.worker_pid = worker_pid
        self.draining = False

    def run(self):
        worker = self.worker
        # NOTE: SIGTERM (systemd sends it to every process of the unit) is a graceful stop:
        # the worker closes its end of the pair and the transfers in flight finish.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
        for sig in (signal.SIGINT, signal.SIGQUIT):   # gunicorn's quick stop
            signal.signal(sig, _exit_now)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
                    signal.SIGCHLD, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_DFL)
        _die_with(self.worker_pid)
        for listener in worker.sockets:   # this process never accepts
            listener.close()
        util._setproctitle('transfers of worker %s [%s]' % (self.worker_pid,
                                                             worker.cfg.proc_name))
        worker.wsgi = worker.app.wsgi()
        if worker.transfer_nice:
            # NOTE: before any thread starts: Linux threads inherit the creator's nice.
            os.nice(worker.transfer_nice)
        # NOTE: with no room for kept-alive connections gunicorn answers each request with
        # "Connection: close" (ThreadWorker.handle_request).
        worker.keepalived_conns = []
        worker.max_keepalived = 0
        worker.alive = True
        pool = futures.ThreadPoolExecutor(worker.transfer_threads,
                                          thread_name_prefix='transfer')
        while True:
            try:
                message, fds, _flags, _addr = socket.recv_fds(self.chan, MESSAGE_MAX, 1)
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                break
            if not fds:
                break   # the worker closed its end: it is stopping
            try:
                head, client, server = pickle.loads(message)
            except Exception:  # noqa: BLE001 - only our worker writes here
                for fd in fds:
                    os.close(fd)
                continue
            sock = socket.socket(fileno=fds[0])
            for fd in fds[1:]:
                os.close(fd)
            pool.submit(self._serve, sock, client, server, head)
        worker.alive = False
        self._drain(pool, worker.cfg.graceful_timeout)
        return 0

    def _serve(self, sock, client, server, head):
        worker = self.worker
        conn = TConn(worker.cfg, sock, client, server)
        try:
            conn.parser = http.get_parser(worker.cfg, sock, client)
            conn.parser.unreader.unread(head)
            conn.data_ready = True
            ThreadWorker.handle(worker, conn)
        except Exception:  # noqa: BLE001 - one connection's failure ends only it
            worker.log.exception('Transfer request failed')
        finally:
            conn.close()

    @staticmethod
    def _drain(pool, timeout):
        done = threading.Event()
        threading.Thread(target=lambda: (pool.shutdown(wait=True), done.set()),
                         daemon=True).start()
        done.wait(timeout)


def _exit_now(_sig, _frame):
    os._exit(0)


def _die_with(worker_pid):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        # NOTE: a worker that dies (killed at its timeout, out of memory) takes its
        # transfers with it, as it would have taken its own transfer threads.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != worker_pid:   # the worker died before prctl took effect
        os._exit(0)
