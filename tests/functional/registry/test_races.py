"""Concurrency, availability and lifecycle of a real registry."""

import concurrent.futures
import signal
import socket
import threading
import time

import pytest
import requests

from glance_registry import exceptions as exc
from glance_registry.client import RegistryClient
from tests.functional.registry.conftest import RegistryProcess
from tests.functional.registry.ctx import Ctx


def test_cas_race_has_exactly_one_winner(registry):
    owner = Ctx()
    clients = [RegistryClient('127.0.0.1', registry.port, timeout=30) for _ in range(2)]
    image = clients[0].image_create(owner, {'owner': owner.project_id})
    barrier = threading.Barrier(8)

    def race(i):
        barrier.wait()
        try:
            clients[i % 2].image_update(owner, image['id'], {'status': 'saving', 'name': str(i)},
                                        from_state='queued')
            return i
        except exc.Conflict:
            return None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    final = clients[1].image_get(owner, image['id'])
    assert final['status'] == 'saving' and final['name'] == str(winners[0])
    for c in clients:
        c.close()


def test_concurrent_creates_all_land(registry, client):
    owner = Ctx()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: client.image_create(
            owner, {'owner': owner.project_id, 'name': 'c%d' % i})['id'], range(24)))
    listed = client.image_list(owner, {'limit': 100, 'filters': [['owner', 'eq',
                                                                  owner.project_id]]})
    assert sorted(i['id'] for i in listed) == sorted(made)


def test_unavailable_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    client = RegistryClient('127.0.0.1', port, timeout=5)
    with pytest.raises(exc.RegistryUnavailable) as e:
        client.image_get(Ctx(), 'x')
    assert str(port) in str(e.value)


def test_unavailable_on_read_timeout():
    with socket.socket() as sock:  # accepts (backlog) but never answers
        sock.bind(('127.0.0.1', 0))
        sock.listen(1)
        client = RegistryClient('127.0.0.1', sock.getsockname()[1], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(exc.RegistryUnavailable):
            client.image_list(Ctx(), {})
        assert time.monotonic() - started < 3


def test_idle_connection_closed_by_server_is_reused_safely(tmp_path, sqlite_url):
    # A registry that drops idle keep-alive connections after 1 s.
    proc = RegistryProcess(tmp_path, sqlite_url, workers=1,
                           extra='client_socket_timeout = 1').start()
    try:
        client = RegistryClient('127.0.0.1', proc.port, timeout=10)
        owner = Ctx()
        image = client.image_create(owner, {'owner': owner.project_id})
        time.sleep(1.6)
        assert client.image_update(owner, image['id'], {'name': 'after-idle'})['name'] == \
            'after-idle'
        assert client.image_get(owner, image['id'])['name'] == 'after-idle'
    finally:
        assert proc.stop() == 0


def test_sigterm_stops_gracefully(tmp_path, sqlite_url):
    proc = RegistryProcess(tmp_path, sqlite_url, workers=1).start()
    client = RegistryClient('127.0.0.1', proc.port, timeout=10)
    owner = Ctx()
    assert client.image_create(owner, {'owner': owner.project_id})['status'] == 'queued'
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(15) == 0
    assert 'Handling signal: term' in proc.log_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(proc.url + '/healthcheck', timeout=2)
    with pytest.raises(exc.RegistryUnavailable):
        client.image_get(owner, 'x')
