"""Serve a WSGI app with gunicorn, programmatically: shared by glance-registry and glance-api.

No database or registry-app imports: glance-api imports this module too.
"""

import atexit
import glob
import os
import shutil
import tempfile
import time

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from glance_server.workers import KeepAliveThreadWorker

# Seconds a client has to send a request's head (glance-api's client_header_timeout).
HEADER_TIMEOUT = 60

def default_workers():
    """Return Glance's default worker count: the number of CPUs."""
    return os.cpu_count() or 1


_format_http_date = gunicorn_util.http_date
_date_cache = (None, '')


def _http_date_per_second(timestamp=None):
    """gunicorn's http_date, formatted once per second for the Date header.

    PERF: email.utils.formatdate on every response was ~5% of each app's CPU per
    image-show. The cache is one (second, text) tuple, swapped whole between threads.
    """
    global _date_cache
    if timestamp is not None:
        return _format_http_date(timestamp)
    second = int(time.time())
    cached = _date_cache
    if cached[0] != second:
        cached = _date_cache = (second, _format_http_date(second))
    return cached[1]


def _prepare_metrics_dir(proc_name):
    """Give the workers' Prometheus samples a directory (see glance_server.metrics).

    Under an operator's PROMETHEUS_MULTIPROC_DIR each service gets a subdirectory named
    after it (so glance-api and glance-registry never mix samples), emptied of a previous
    run's files as prometheus_client asks; otherwise a private directory is made and
    removed at exit.
    """
    base = os.environ.get('PROMETHEUS_MULTIPROC_DIR')
    if base:
        path = os.path.join(base, proc_name)
        os.environ['PROMETHEUS_MULTIPROC_DIR'] = path
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith('.db'):
                os.unlink(os.path.join(path, name))
        return
    master = os.getpid()
    _sweep_metrics_dirs(proc_name)
    path = tempfile.mkdtemp(prefix='%s-metrics-%d-' % (proc_name, master))
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = path
    atexit.register(lambda: os.getpid() == master and shutil.rmtree(path, True))


def _sweep_metrics_dirs(proc_name):
    # NOTE: a master killed with SIGKILL cannot remove its directory; the next start does.
    for path in glob.glob(os.path.join(tempfile.gettempdir(), proc_name + '-metrics-*-*')):
        pid = os.path.basename(path)[len(proc_name) + 9:].split('-', 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True   # e.g. another user's process
    return True


class _Application(BaseApplication):
    """A gunicorn application whose settings come from a dict, not the command line."""

    def __init__(self, app_factory, settings):
        self._factory = app_factory
        self._settings = settings
        super().__init__()

    def load_config(self):
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self):
        # NOTE: called in each worker after fork (preload_app is off), so engines and
        # connection pools are never shared between processes.
        return self._factory()


def serve(app_factory, *, bind_host, bind_port, workers=None, threads=4, proc_name='glance',
          pidfile=None, keepalive=2, backlog=2048, timeout=30, graceful_timeout=30,
          loglevel='info', accesslog=None, header_map=None, header_timeout=HEADER_TIMEOUT,
          transfer_threads=0, moves_image_data=None, transfer_process=False,
          transfer_nice=0):
    """Run gunicorn (KeepAliveThreadWorker workers) until SIGTERM/SIGINT; never returns.

    ``app_factory()`` builds the WSGI app in each worker. ``workers`` None → CPU count,
    0 → one worker (Glance's "no fork" setting). ``keepalive`` is how long an idle
    keep-alive connection stays open, in seconds (0 → Connection: close). SIGTERM is a
    graceful stop: workers finish their requests for up to ``graceful_timeout`` seconds.
    ``bind_port`` 0 picks a free port, logged as "Listening at: http://HOST:PORT".
    ``header_map`` is gunicorn's setting for header names with underscores (None: its
    default, ``drop``).

    A connection has ``header_timeout`` seconds, from its accept or from the first byte of
    a kept-alive connection's next request, to send a complete head (and a metadata
    request's small body); it is closed otherwise. ``moves_image_data(method, path)`` True
    sends a request to a pool of ``transfer_threads`` threads (0: the ``threads`` pool),
    in a process of its own beside each worker when ``transfer_process`` (at nice
    ``transfer_nice``);
    see glance_server.workers.
    """
    gunicorn_util.http_date = _http_date_per_second
    _prepare_metrics_dir(proc_name)
    host = '[%s]' % bind_host if ':' in bind_host else bind_host
    if workers is None:
        workers = default_workers()
    settings = {
        'bind': ['%s:%d' % (host, bind_port)],
        'workers': max(1, workers),
        'worker_class': type('KeepAliveThreadWorker', (KeepAliveThreadWorker,), {
            'header_timeout': header_timeout, 'transfer_threads': max(0, transfer_threads),
            'transfer_process': bool(transfer_process), 'transfer_nice': transfer_nice,
            'moves_image_data': staticmethod(moves_image_data) if moves_image_data else None}),
        'threads': max(1, threads),
        'proc_name': proc_name,
        'pidfile': pidfile,
        'keepalive': keepalive,
        'backlog': backlog,
        'timeout': timeout,
        'graceful_timeout': graceful_timeout,
        'loglevel': loglevel,
        'accesslog': accesslog,
        'errorlog': '-',
        'preload_app': False,
        # NOTE: gunicorn >= 25.1 opens ~/.gunicorn/gunicorn.ctl by default; several
        # instances (api, registry, tests in parallel) would fight over it.
        'control_socket_disable': True,
        # SECURITY: by default gunicorn takes the scheme from X-Forwarded-Proto/-Ssl sent by
        # any loopback peer (and answers 400 when they disagree), so any local process
        # chose the scheme of the api's URLs. Glance leaves forwarded headers to
        # http_proxy_to_wsgi, off unless [oslo_middleware] enable_proxy_headers_parsing.
        'forwarded_allow_ips': '',
    }
    if header_map is not None:
        settings['header_map'] = header_map
    _Application(app_factory, settings).run()
