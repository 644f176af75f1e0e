"""glance-api's own Prometheus instruments (the request ones and /metrics are in
glance_server.metrics, shared with glance-registry).

Each function records one event and never raises: a metrics failure must not fail a request.
"""

import logging

from glance_server.metrics import instrument

LOG = logging.getLogger(__name__)


def _inc(kind, name, documentation, labels=(), values=(), amount=1):
    try:
        counter = instrument(kind, name, documentation, labels)
        (counter.labels(*values) if labels else counter).inc(amount)
    except Exception:
        LOG.exception('Could not record metric %s', name)


def bytes_in(store_id, amount):
    """Count image bytes written to ``store_id`` by an upload."""
    _inc('Counter', 'glance_store_bytes_in', 'Image data bytes written, by store.',
         ('store',), (store_id,), amount)


def bytes_out(store_id, amount):
    """Count image bytes sent to clients from ``store_id``."""
    _inc('Counter', 'glance_store_bytes_out', 'Image data bytes sent, by store.',
         ('store',), (store_id,), amount)


def upload_failed(reason):
    """Count an upload that failed after its data started, by reason (exception name)."""
    _inc('Counter', 'glance_upload_failures', 'Failed image uploads, by reason.',
         ('reason',), (reason,))


def cache_hit():
    """Count an image download served from the local image cache."""
    _inc('Counter', 'glance_image_cache_hits', 'Downloads served from the image cache.')


def cache_miss():
    """Count an image download the image cache could not serve."""
    _inc('Counter', 'glance_image_cache_misses', 'Downloads not in the image cache.')

