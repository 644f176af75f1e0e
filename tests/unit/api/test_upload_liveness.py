"""A running upload stays alive for glance-scrubber, and a silent client cannot hold it.

uploads.Heartbeat renews the image from a timer (not per chunk), bodies.client_timeout
fails an upload whose client sends nothing for client_socket_timeout, and glance-scrubber
refuses a stalled_upload_time a heartbeat could miss.
"""

import hashlib
import socket
import threading
import time

import pytest
from gunicorn.http.body import Body
from gunicorn.http.body import LengthReader
from gunicorn.http.unreader import SocketUnreader
from oslo_config import cfg

from glance_api import exceptions
from glance_api.rules import policy
from glance_api.cli import scrubber
from glance_api.data import uploads
from glance_api.web.context import RequestContext
from glance_registry import exceptions as registry_exc
from glance_server import bodies
from tests.unit.api.test_image_data_fakes import (
    OWNER, FakeRegistry, FakeStores, MemoryStore, make_conf, new_image)

TICK = 0.05


class SlowStream:
    """A body whose reads block ``pause`` seconds each (a client that sends nothing)."""

    def __init__(self, pieces, pause):
        self.pieces = list(pieces)
        self.pause = pause

    def read(self, size=-1):
        time.sleep(self.pause)
        return self.pieces.pop(0) if self.pieces else b''


def test_heartbeat_beats_while_a_read_waits_for_the_client():
    beats = []
    heartbeat = uploads.Heartbeat(lambda: beats.append(time.monotonic()), interval=TICK)
    with heartbeat:
        stream = heartbeat.watch(SlowStream([b'a'], pause=12 * TICK))
        assert stream.read(10) == b'a'   # one read, no data for 12 intervals
    # NOTE: a per-chunk heartbeat would beat at most once here.
    assert len(beats) >= 6
    count = len(beats)
    time.sleep(4 * TICK)
    assert len(beats) == count, 'beats went on after the upload ended'


def test_a_failing_beat_is_retried_and_does_not_fail_the_upload():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise registry_exc.RegistryUnavailable('registry restarting')
    heartbeat = uploads.Heartbeat(flaky, interval=TICK)
    with heartbeat:
        stream = heartbeat.watch(SlowStream([b'x', b'y'], pause=5 * TICK))
        assert stream.read(1) + stream.read(1) == b'xy'
    assert len(calls) >= 3


@pytest.mark.parametrize('lost, expected', [
    (registry_exc.ImageNotFound('gone'), exceptions.Gone),
    (registry_exc.Conflict('queued'), exceptions.Conflict),
])
def test_image_leaving_saving_stops_the_upload_at_the_next_read(lost, expected):
    registry = FakeRegistry(new_image(status='saving'))
    image_id = next(iter(registry.images))

    def deleted_or_scrubbed(iid, values, from_state):
        assert (iid, values, from_state) == (image_id, {}, 'saving')
        raise lost
    registry.before_update = deleted_or_scrubbed
    heartbeat = uploads.Heartbeat(lambda: uploads._renew(registry, None, image_id),
                                  interval=TICK)
    with heartbeat:
        stream = heartbeat.watch(SlowStream([b'1', b'2'], pause=4 * TICK))
        assert stream.read(1) == b'1'   # the first beat came while this read waited
        with pytest.raises(expected, match=image_id):
            stream.read(1)


@pytest.fixture
def sockets():
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def _upload_from_socket(conf, sock, length):
    image = new_image()
    registry = FakeRegistry(image)
    store = MemoryStore(conf)
    stores = FakeStores({'mem': store}, 'mem')
    body = Body(LengthReader(SocketUnreader(sock), length))
    ctx = RequestContext(project_id=OWNER, roles=['member', 'reader'])

    def run():
        return uploads.upload(conf, registry, stores, ctx, image['id'], bodies.fast_body(body),
                              length, None, None, enforcer=policy.Enforcer(conf))
    return run, registry, store, body, image['id']


def test_client_silent_longer_than_client_socket_timeout_is_400_and_requeued(sockets):
    server, client = sockets
    conf = make_conf(client_socket_timeout=1)
    run, registry, store, body, image_id = _upload_from_socket(conf, server, 4096)
    client.sendall(b's' * 1000)   # then nothing more
    started = time.monotonic()
    with pytest.raises(exceptions.BadRequest, match='client_socket_timeout') as err:
        run()
    assert 0.9 < time.monotonic() - started < 5
    assert isinstance(err.value.__cause__, TimeoutError)
    image = registry.images[image_id]
    assert image['status'] == 'queued' and image['size'] is None
    assert store.objects == {} and store.partial == {}
    assert body.failed   # gunicorn closes the connection instead of reusing it
    assert server.gettimeout() is None   # the socket is blocking again
    started = time.monotonic()
    assert bodies.drain(body) is False   # returns at once: no read on a silent client
    assert time.monotonic() - started < 0.5


def test_client_sending_slowly_within_client_socket_timeout_completes(sockets):
    server, client = sockets
    conf = make_conf(client_socket_timeout=1)
    data = bytes(range(256)) * 16
    run, registry, store, body, image_id = _upload_from_socket(conf, server, len(data))

    def trickle():
        for start in range(0, len(data), 1024):
            time.sleep(0.6)   # each pause under the timeout; the whole upload over it
            client.sendall(data[start:start + 1024])
    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        image = run()
    finally:
        sender.join()
    assert image['status'] == 'active'
    assert image['checksum'] == hashlib.md5(data).hexdigest()
    assert server.gettimeout() is None


def test_client_socket_timeout_zero_sets_no_timeout(sockets):
    server, _client = sockets
    body = Body(LengthReader(SocketUnreader(server), 10))
    with bodies.client_timeout(bodies.fast_body(body), 0):
        assert server.gettimeout() is None
    with bodies.client_timeout(body, 7):   # gunicorn's own Body (chunked, buffered)
        assert server.gettimeout() == 7
    assert server.gettimeout() is None


def _scrubber_conf(tmp_path, value):
    path = tmp_path / 'glance-scrubber.conf'
    path.write_text('[DEFAULT]\nstalled_upload_time = %d\n' % value)
    return scrubber.load_conf(['--config-file', str(path)])


@pytest.mark.parametrize('value', [1, scrubber.STALLED_UPLOAD_MIN - 1])
def test_scrubber_refuses_a_stalled_upload_time_a_heartbeat_could_miss(tmp_path, value):
    with pytest.raises(cfg.Error, match='stalled_upload_time = %d is too short' % value):
        _scrubber_conf(tmp_path, value)


@pytest.mark.parametrize('value', [0, scrubber.STALLED_UPLOAD_MIN, 600])
def test_scrubber_accepts_zero_and_the_floor(tmp_path, value):
    assert _scrubber_conf(tmp_path, value).stalled_upload_time == value


def test_floor_leaves_room_for_a_lost_and_a_late_beat():
    assert scrubber.STALLED_UPLOAD_MIN >= 3 * uploads.HEARTBEAT_SECONDS
    opt = next(o for o in scrubber.scrubber_opts if o.dest == 'stalled_upload_time')
    assert 'every %d seconds' % uploads.HEARTBEAT_SECONDS in opt.help
    assert '1 to %d are refused' % (scrubber.STALLED_UPLOAD_MIN - 1) in opt.help
