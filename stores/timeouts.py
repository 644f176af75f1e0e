"""Deadlines for blocking filesystem calls (glance_store's ``filesystem_store_timeout``).

A call into a dead NFS mount blocks in the kernel and cannot be interrupted; run in a
pool thread, it leaves the caller free to fail with OperationTimeout once the deadline
passes. The stuck thread stays stuck, so the pool is bounded and its use is logged.
"""

import concurrent.futures
import logging
import threading

from stores import exceptions

LOG = logging.getLogger(__name__)


class TimeoutExecutor:
    """Run calls with a deadline of ``timeout`` seconds in a pool of ``pool_size`` threads.

    ``timeout`` 0 runs calls directly (no pool). The pool is made on first use, so a
    store configured before a worker forks gets its threads in the worker.
    """

    def __init__(self, timeout, pool_size=10, threshold=75):
        self.timeout = timeout
        self.pool_size = pool_size
        self.threshold = threshold
        self._pool = None
        self._lock = threading.Lock()
        self._active = 0

    def run(self, func, *args, discard=None):
        """Return ``func(*args)``; its own errors propagate.

        ``discard(result)``, when given, releases what a call that finishes after its
        deadline returns (an fd nobody will close otherwise).

        :raises: OperationTimeout when the call (or its wait for a free thread) takes
                 longer than the timeout
        """
        if self.timeout <= 0:
            return func(*args)
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.pool_size, thread_name_prefix="fs-timeout")
            self._active += 1
            usage = 100.0 * self._active / self.pool_size
            future = self._pool.submit(func, *args)
        future.add_done_callback(self._done)
        if usage >= self.threshold:
            LOG.warning("Thread pool usage is at %.1f%% (threshold: %d%%). Pool may start "
                        "blocking.", usage, self.threshold)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            LOG.error("Filesystem store operation %s%r timed out after %ds",
                      getattr(func, "__name__", func), args, self.timeout)
            if discard is not None:
                future.add_done_callback(lambda f: _discard_late(f, discard))
            raise exceptions.OperationTimeout(timeout=self.timeout) from None

    def _done(self, _future):
        with self._lock:
            self._active -= 1


def _discard_late(future, discard):
    if future.cancelled() or future.exception() is not None:
        return
    try:
        discard(future.result())
    except Exception:  # a late cleanup must never raise in a pool thread
        LOG.exception("Unable to release the result of a timed-out call")
