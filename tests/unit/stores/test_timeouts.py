"""stores.timeouts.TimeoutExecutor and the file store's use of it (a FIFO blocks open())."""

import logging
import os
import threading
import time

import pytest

from stores import exceptions
from stores.timeouts import TimeoutExecutor
from tests.unit.stores.conftest import make_conf


def test_zero_timeout_calls_directly():
    executor = TimeoutExecutor(0)
    assert executor.run(threading.current_thread) is threading.current_thread()


def test_result_and_errors_come_back():
    executor = TimeoutExecutor(5)
    assert executor.run(pow, 2, 10) == 1024
    with pytest.raises(FileNotFoundError):
        executor.run(os.stat, "/nonexistent/glance-clone")


def test_a_call_past_its_deadline_times_out_and_its_late_result_is_released():
    executor = TimeoutExecutor(1)
    gate, released = threading.Event(), []
    started = time.monotonic()
    with pytest.raises(exceptions.OperationTimeout) as info:
        executor.run(lambda: gate.wait(10) and "late fd", discard=released.append)
    assert 1 <= time.monotonic() - started < 5
    assert info.value.msg == ("Operation timed out after 1s. Check storage health and "
                              "connectivity.")
    gate.set()
    for _ in range(50):
        if released:
            break
        time.sleep(0.05)
    assert released == ["late fd"]


def test_busy_pool_is_logged(caplog):
    executor = TimeoutExecutor(1, pool_size=2, threshold=50)
    gate = threading.Event()
    with caplog.at_level(logging.WARNING, logger="stores.timeouts"):
        with pytest.raises(exceptions.OperationTimeout):
            executor.run(gate.wait, 10)
    gate.set()
    assert "Thread pool usage is at 50.0% (threshold: 50%)" in caplog.text


def test_file_store_get_times_out_on_a_blocking_open(datadir):
    from stores.filesystem import FilesystemStore
    conf = make_conf(filesystem_store_datadir=datadir, filesystem_store_timeout=1)
    store = FilesystemStore(conf)
    store.configure()
    fifo = os.path.join(datadir, "hangs")
    os.mkfifo(fifo)
    try:
        with pytest.raises(exceptions.OperationTimeout):
            store.get("file://" + fifo)
        # A writer lets the stuck open() finish; the late file object is closed for us.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert store.get_size("file://" + fifo) == 0   # stat does not block
        store.delete("file://" + fifo)
        assert not os.path.exists(fifo)
    finally:
        if os.path.exists(fifo):
            os.unlink(fifo)
