"""The worker's reading of request heads in its event loop (glance_server.workers)."""

import threading
import time
from concurrent import futures
from concurrent.futures import thread as futures_thread

from glance_api.app import moves_image_data
from glance_server.workers import BODY_PREREAD_MAX, forget_finished_threads, head_status

HEAD = b'GET /v2/images/x HTTP/1.1\r\nHost: a\r\n\r\n'


def test_an_incomplete_head_is_none_and_a_complete_one_its_length():
    assert head_status(HEAD[:-2]) is None
    assert head_status(b'\r\n' + HEAD) == (len(HEAD) + 2, False)


def test_a_small_metadata_body_is_awaited_but_not_a_transfer_or_large_body():
    post = b'POST /v2/images HTTP/1.1\r\nContent-Length: 10\r\n\r\n'
    assert head_status(post) == (len(post) + 10, False)
    big = post.replace(b'10', str(BODY_PREREAD_MAX + 1).encode())
    assert head_status(big) == (len(big), False)
    chunked = b'POST /v2/images HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
    assert head_status(chunked) == (len(chunked), False)
    put = b'PUT /v2/images/x/file?a=1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n'
    assert head_status(put, moves_image_data) == (len(put), True)


def test_requests_that_move_image_bytes():
    assert moves_image_data('PUT', '/v2/images/x/file')
    assert moves_image_data('GET', '/v2/images/x/file')
    assert moves_image_data('PUT', '/v2/images/x/stage')
    assert moves_image_data('POST', '/v1/images')
    assert moves_image_data('GET', '/v1.1/images/x')
    assert not moves_image_data('GET', '/v2/images/x')
    assert not moves_image_data('GET', '/v1/images/detail')
    assert not moves_image_data('HEAD', '/v1/images/x')
    assert not moves_image_data('POST', '/v2/images')


class EndedButLocked:
    """A pool thread as glance-registry's worker was seen holding one at exit: its code has
    ended (not in threading._active) but its thread-state lock was never released."""

    ident = -1

    def __init__(self):
        self._tstate_lock = threading.Lock()
        self._tstate_lock.acquire()

    def join(self, timeout=None):
        time.sleep(min(timeout or 0, 0.01))

    def is_alive(self):
        return True


def test_a_stopping_worker_forgets_only_pool_threads_whose_code_has_ended():
    pool = futures.ThreadPoolExecutor(2)
    busy = threading.Event()
    pool.submit(busy.wait)
    ghost = EndedButLocked()
    pool._threads.add(ghost)
    futures_thread._threads_queues[ghost] = None
    with threading._shutdown_locks_lock:
        threading._shutdown_locks.add(ghost._tstate_lock)
    running = [t for t in pool._threads if t is not ghost]
    try:
        assert forget_finished_threads(pool, None, wait=0.2) == [ghost]
        assert ghost not in futures_thread._threads_queues
        assert ghost._tstate_lock not in threading._shutdown_locks
        # the thread still waiting in its task is neither forgotten nor abandoned
        assert all(t in futures_thread._threads_queues and t.is_alive() for t in running)
    finally:
        busy.set()
        pool.shutdown(wait=True)
