"""Prometheus metrics shared by glance-api and glance-registry: ``GET /metrics``.

Beyond Glance (which has no such endpoint). Served outside the versioned app and without
authentication, like ``/healthcheck``; ``[DEFAULT] enable_metrics = False`` turns it and
the request instruments off.

gunicorn workers are separate processes, so prometheus_client runs in multiprocess mode:
the runner (gunicorn_runner.serve) points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before the workers start and every worker writes its samples there; /metrics, answered
by any worker, adds them up. prometheus_client is imported only on first use, i.e. in the
worker, after the variable is set (it reads it at import).

No database imports: glance-api imports this module too.
"""

import logging
import os
import threading
import time

from oslo_config import cfg

LOG = logging.getLogger(__name__)
ROUTE_KEY = 'glance.route'   # WSGI environ key: the falcon uri template that matched
METRICS_PATH = '/metrics'
_METHODS = frozenset(('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0)

metrics_opts = [
    cfg.BoolOpt('enable_metrics', default=True,
                help='Serve Prometheus metrics at /metrics (without authentication, like '
                     '/healthcheck) and record request counts and latencies. Not a Glance '
                     'option.'),
]

_lock = threading.Lock()
_instruments = {}
_children = {}   # (route, method, status) -> (request counter, latency histogram) children


def register_opts(conf):
    """Register ``[DEFAULT] enable_metrics``."""
    conf.register_opts(metrics_opts)


def list_opts():
    """Return the metrics options for oslo-config-generator."""
    return [(None, metrics_opts)]


def instrument(kind, name, documentation, labels=(), **kwargs):
    """Return the process's one prometheus_client ``kind`` (Counter, Histogram) ``name``."""
    with _lock:
        found = _instruments.get(name)
        if found is None:
            import prometheus_client
            cls = getattr(prometheus_client, kind)
            found = _instruments[name] = cls(name, documentation, list(labels), **kwargs)
        return found


def _requests():
    return instrument('Counter', 'glance_http_requests',
                      'HTTP requests answered, by route template, method and status.',
                      ('route', 'method', 'status'))


def _latency():
    return instrument('Histogram', 'glance_http_request_duration_seconds',
                      'Time until the response headers (image data streams after), by '
                      'route template, method and status.',
                      ('route', 'method', 'status'), buckets=LATENCY_BUCKETS)


def exposition():
    """Return (content type, body) of all processes' metrics."""
    import prometheus_client
    from prometheus_client import multiprocess

    if os.environ.get('PROMETHEUS_MULTIPROC_DIR'):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return prometheus_client.CONTENT_TYPE_LATEST, prometheus_client.generate_latest(registry)


class RouteLabel:
    """falcon middleware: put the matched uri template in the WSGI environ."""

    def process_resource(self, req, resp, resource, params):
        """Record ``req.uri_template`` for :class:`MetricsMiddleware`."""
        if resource is not None:
            req.env[ROUTE_KEY] = req.uri_template


def _default_route(path):
    if path == '/healthcheck' or path.startswith('/healthcheck/'):
        return '/healthcheck'
    if path in ('', '/'):
        return '/'
    return 'unmatched'


class MetricsMiddleware:
    """Outermost WSGI wrapper: serve /metrics, count and time every other request."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path == METRICS_PATH and environ.get('REQUEST_METHOD') in ('GET', 'HEAD'):
            return self._serve(environ, start_response)
        started = time.perf_counter()
        status = ['500']

        def recording_start_response(status_line, headers, exc_info=None):
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            self._record(environ, path, status[0], time.perf_counter() - started)

    def _record(self, environ, path, status, elapsed):
        route = environ.get(ROUTE_KEY) or _default_route(path)
        method = environ.get('REQUEST_METHOD', '')
        if method not in _METHODS:
            method = 'other'   # SECURITY: clients must not mint label values
        try:
            key = (route, method, status)
            children = _children.get(key)
            if children is None:
                # PERF: labels() costs ~2 us per instrument; its children are kept.
                children = _children[key] = (_requests().labels(*key),
                                             _latency().labels(*key))
            children[0].inc()
            children[1].observe(elapsed)
        except Exception:  # NOTE: metrics never fail a request
            LOG.exception('Could not record request metrics')

    def _serve(self, environ, start_response):
        content_type, body = exposition()
        start_response('200 OK', [('Content-Type', content_type),
                                  ('Content-Length', str(len(body)))])
        return [] if environ.get('REQUEST_METHOD') == 'HEAD' else [body]


def wrap(conf, app):
    """Return ``app`` behind :class:`MetricsMiddleware`, or as is when metrics are off."""
    register_opts(conf)
    return MetricsMiddleware(app) if conf.enable_metrics else app
