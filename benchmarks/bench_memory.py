"""Memory during a big upload and download: api and registry RSS against their idle size.

Each service's RSS is the sum over its gunicorn master, its workers and their children (the
api workers' transfer processes, glance_server.transfers), read from /proc every
``INTERVAL`` seconds while the transfer runs. The figure is the peak of that sum minus its
idle value just before: a leak or a buffered image would show there, shared pages cannot
hide it (a sum counts them more than once, never less).
"""

import shutil
import threading
import time

from benchmarks import images

INTERVAL = 0.2
TARGET_MIB = 64


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _rss_mib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mib(pid):
    """Return the RSS in MiB of ``pid`` and all its descendants."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += _rss_mib(current)
        todo.extend(_children(current))
    return total


class Sampler:
    """Sample the RSS trees of some processes in a thread; keep each one's peak."""

    def __init__(self, pids):
        self.pids = pids
        self.peak = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], tree_rss_mib(pid))
            self._stop.wait(INTERVAL)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def idle_rss(pids, settle=1.0):
    """Return each process tree's RSS after ``settle`` seconds without requests."""
    time.sleep(settle)
    return {name: tree_rss_mib(pid) for name, pid in pids.items()}


def run(ep, conn, pids, size, datadir=None):
    """Upload then download a ``size``-byte image, sampling RSS; return
    {(service, 'upload'|'download'): growth in MiB} and the image id (to delete), or
    (None, None) when the file system under ``datadir`` has no room for it."""
    if datadir is not None and shutil.disk_usage(datadir).free < size * 1.1 + 2**30:
        print('  memory: not measured, %s has less than %d MiB free'
              % (datadir, size * 1.1 // 2**20))
        return None, None
    image_id = images.create_image(ep, conn, 'bench-memory')
    growth = {}
    for phase, transfer in (('upload', images.upload), ('download', images.download)):
        idle = idle_rss(pids)
        with Sampler(pids) as sampler:
            transfer(ep, image_id, size)
        for name in pids:
            growth[(name, phase)] = sampler.peak[name] - idle[name]
    return growth, image_id
