"""glance_api.notifier and the metrics modules, one process, no broker."""
import os
import socket
import threading
import time

import falcon
import falcon.testing
import prometheus_client
from oslo_config import cfg

from glance_api.data import downloads
from glance_api.web import metrics as api_metrics
from glance_api import notifier
from glance_server import metrics


def make_conf(**overrides):
    conf = cfg.ConfigOpts()
    notifier.register_opts(conf)
    conf([])
    n = notifier.Notifier(conf)   # registers [oslo_messaging_notifications]
    for key, value in overrides.items():
        group, _, name = key.rpartition('.')
        conf.set_override(name, value, group=group or None)
    return conf, n


def test_no_driver_means_no_notifications_and_no_thread():
    conf, n = make_conf()
    assert not n.enabled and not n.wants('image.create')
    n.image('image.create', {'id': 'i', 'status': 'queued'})
    assert n._thread is None


def test_disabled_notifications_match_a_type_or_its_first_part_as_glance():
    conf, _ = make_conf(**{'oslo_messaging_notifications.driver': ['messaging'],
                           'disabled_notifications': ['image.create', 'task']})
    n = notifier.Notifier(conf)
    assert n.enabled
    assert not n.wants('image.create') and n.wants('image.update')
    assert not n.wants('task.success') and n.wants('image.member.create')


def test_unreachable_broker_never_blocks_nor_fails_a_caller():
    conf, _ = make_conf(**{'oslo_messaging_notifications.driver': ['messaging'],
                           'oslo_messaging_notifications.transport_url':
                               'rabbit://guest:guest@127.0.0.1:1/'})
    n = notifier.Notifier(conf)
    started = time.monotonic()
    for _ in range(5):
        n.info('image.update', {'id': 'x'})
        n.upload_failed('x', RuntimeError('boom'))
        n.image('image.update', {'created_at': 'not a time'})   # logged, not raised
    assert time.monotonic() - started < 0.5
    assert n._thread.is_alive() and n._thread.daemon


def test_payload_formats():
    image = {'id': 'i', 'name': 'n', 'status': 'active', 'visibility': 'public',
             'created_at': '2026-01-02T03:04:05.678901', 'updated_at': None,
             'properties': {'a': 'b'}, 'tags': ['t'], 'size': 3, 'owner': 'o',
             'locations': [{'url': 'file:///secret'}]}
    payload = notifier.format_image(image)
    assert payload['created_at'] == '2026-01-02T03:04:05Z'
    assert payload['updated_at'].endswith('Z')   # Glance's isotime(None) is "now"
    assert payload['is_public'] is True and 'locations' not in payload
    member = notifier.format_member({'image_id': 'i', 'member': 'p', 'status': 'pending',
                                     'created_at': '2026-01-02T03:04:05', 'updated_at': None})
    assert member['member_id'] == 'p' and member['deleted_at'] is None
    extra = notifier.deleted()
    assert extra['deleted'] is True and extra['deleted_at'].endswith('Z')
    assert notifier.upload_failure_message('i', RuntimeError('x')) == (
        'Failed to upload image data for image i due to internal error: x')


def test_count_sent_keeps_sendfile_and_counts_it(tmp_path):
    path = tmp_path / 'data'
    path.write_bytes(os.urandom(100000))
    seen = []
    body = notifier.count_sent(downloads.FileSlice(open(path, 'rb'), 1000, 5000), seen.append)
    a, b = socket.socketpair()
    received = bytearray()

    def reader():
        while len(received) < 5000:
            received.extend(b.recv(65536))
    t = threading.Thread(target=reader)
    t.start()
    a.sendfile(body, offset=1000, count=5000)   # what gunicorn does with the fileno
    t.join(5)
    body.close()
    assert seen == [5000] and bytes(received) == path.read_bytes()[1000:6000]
    a.close()
    b.close()


def test_count_sent_on_chunks_reports_once():
    seen = []
    body = notifier.count_sent(iter([b'ab', b'cde']), seen.append)
    assert b''.join(body) == b'abcde'
    body.close()
    body.close()
    assert seen == [5]


def _sample(name, **labels):
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_endpoint_counts_by_route_template():
    conf = cfg.ConfigOpts()
    conf([])
    app = falcon.App(middleware=[metrics.RouteLabel()])

    class Thing:
        def on_get(self, req, resp, thing_id):
            resp.media = {'id': thing_id}
    app.add_route('/things/{thing_id}', Thing())
    client = falcon.testing.TestClient(metrics.wrap(conf, app))
    before = _sample('glance_http_requests_total', route='/things/{thing_id}',
                     method='GET', status='200')
    for i in range(3):
        assert client.simulate_get('/things/%d' % i).status_code == 200
    resp = client.simulate_get('/metrics')
    assert resp.status_code == 200 and 'glance_http_requests_total' in resp.text
    assert _sample('glance_http_requests_total', route='/things/{thing_id}', method='GET',
                   status='200') == before + 3


def test_metrics_can_be_turned_off():
    conf = cfg.ConfigOpts()
    conf([])
    metrics.register_opts(conf)
    conf.set_override('enable_metrics', False)
    app = object()
    assert metrics.wrap(conf, app) is app


def test_cache_counters():
    hits, misses = _sample('glance_image_cache_hits_total'), _sample(
        'glance_image_cache_misses_total')
    api_metrics.cache_hit()
    api_metrics.cache_hit()
    api_metrics.cache_miss()
    assert _sample('glance_image_cache_hits_total') == hits + 2
    assert _sample('glance_image_cache_misses_total') == misses + 1
