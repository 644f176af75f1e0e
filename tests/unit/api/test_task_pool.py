"""[wsgi] task_pool_threads bounds how many tasks an api worker runs at once (Glance's)."""

import threading
import time

from glance_api.wiring import Api
from tests.unit.api.conftest import make_conf
from tests.unit.api.fakes import FakeRegistry, FakeStores


def _concurrency(api, tasks=4):
    running, peak, lock = [0], [0], threading.Lock()

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
    futures = [api.task_pool.spawn(task) for _ in range(tasks)]
    for future in futures:
        future.result(10)
    api.task_pool.shutdown()
    return peak[0]


def test_default_is_glances_16():
    assert make_conf().wsgi.task_pool_threads == 16


def test_pool_runs_at_most_task_pool_threads_at_once():
    one = Api(make_conf(**{'wsgi.task_pool_threads': 1}), FakeRegistry(), FakeStores())
    assert _concurrency(one) == 1
    three = Api(make_conf(**{'wsgi.task_pool_threads': 3}), FakeRegistry(), FakeStores())
    assert _concurrency(three) == 3
