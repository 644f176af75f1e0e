"""Parallel writes of one import to several stores (``max_parallel_stores``).

Split from glance_api/imports/flows.py; :func:`run` is ``ImportJob._import_in_parallel``.
"""

import logging
import queue
import threading
from concurrent import futures

from glance_api.exceptions import TaskAborted

LOG = logging.getLogger(__name__)


def run(job, path, data, workers):
    """Write the staged file to the stores from ``workers`` threads (Glance's
    parallel_api_image_import, ``[image_import_opts] max_parallel_stores``).

    Each thread streams the staged file itself (its own file handle, the store's
    chunk size: memory stays one chunk per thread). Image updates are made one at a
    time under a lock, as each write ends, with the serial path's rules: with
    ``all_stores_must_succeed`` the image becomes active when the last store is in
    and the first failure stops the other writes (between two chunks) and fails
    the task; otherwise the first store in activates it and a failed store is
    recorded in ``os_glance_failed_import``.
    """
    LOG.info('Parallel store import starting for image %s: stores=%s num_workers=%s '
             'all_stores_must_succeed=%s method=%s', job.image_id,
             ','.join(job.backends), workers, job.must_succeed, job.method)
    lock, cancel = threading.Lock(), threading.Event()
    errors = []
    pending = queue.SimpleQueue()
    for backend in job.backends:
        pending.put(backend)

    def one(backend):
        try:
            store, url, metadata = job._write(backend, path, data['size'], cancel)
        except Exception as e:  # noqa: BLE001 - sorted out under the lock below
            with lock:
                if cancel.is_set():
                    return
                if job.must_succeed or isinstance(e, TaskAborted):
                    raise
                job._store_failed(backend)
                job._store_done(backend)
            return
        with lock:
            if cancel.is_set():
                # NOTE: the import failed meanwhile: revert() deletes it.
                job.written.append((store, url))
                return
            set_active = not job.must_succeed or (
                len(job.done) + 1 == len(job.backends))
            job._register(backend, store, url, metadata, data, set_active)
            job._store_done(backend)

    def worker():
        while not cancel.is_set():
            try:
                backend = pending.get_nowait()
            except queue.Empty:
                return
            try:
                one(backend)
            except Exception as e:  # noqa: BLE001 - the first error fails the task
                with lock:
                    errors.append(e)
                    cancel.set()
                return

    with futures.ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix='import-store') as pool:
        for done in [pool.submit(worker) for _ in range(workers)]:
            done.result()
    if errors:
        raise errors[0]
