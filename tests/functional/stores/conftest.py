"""Fixtures of the store contract suites: the real Swift of tools/swift.sh, store factories.

Swift is shared machine-wide (both xdist workers, the benchmarks): tools/swift.sh is
flock-guarded and idempotent, so every worker just runs ``start`` and reuses it.
"""
import contextlib
import socket
import subprocess
import threading
import uuid

import pytest
from oslo_config import cfg

from tests.conftest import REPO_ROOT

SWIFT_USER, SWIFT_KEY = "test:tester", "testing"
START_TIMEOUT = 900  # the first start builds Swift's venv


def swift_start():
    """Start (or reuse) the project's Swift; return its proxy URL."""
    try:
        proc = subprocess.run([str(REPO_ROOT / "tools" / "swift.sh"), "start"],
                              capture_output=True, text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("tools/swift.sh start did not finish in %ss" % START_TIMEOUT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SWIFT_URL=")]
    if proc.returncode or not lines:
        pytest.fail("tools/swift.sh start failed:\n%s" % proc.stderr[-3000:])
    return lines[-1].split("=", 1)[1]


@pytest.fixture(scope="session")
def swift_url():
    """The proxy URL of the shared real Swift (Swift API, tempauth, s3api)."""
    return swift_start()


def make_store(cls, group, **options):
    """Build and configure a ``cls`` store in backend ``group`` with option overrides."""
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-test", default_config_files=[])
    store = cls(conf, group)
    for name, value in options.items():
        conf.set_override(name, value, group)
    store.configure()
    return store


def unique(prefix):
    """Return a unique container/bucket name."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


class TcpRelay:
    """A loopback TCP relay to a real server that a test can cut and resume.

    Stands for a network or server outage of a backend that other tests (and xdist
    workers) share, without stopping the backend itself.
    """

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = None
        self.listener = None
        self.sockets = set()
        self.lock = threading.Lock()
        self.resume()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def resume(self):
        """(Re)open the listening port; new connections are relayed again."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        """Refuse new connections and reset the open ones."""
        with self.lock:
            listener, self.listener = self.listener, None
            sockets, self.sockets = self.sockets, set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def swift_relay(swift_url):
    """A TcpRelay in front of the shared Swift proxy."""
    relay = TcpRelay(int(swift_url.rsplit(":", 1)[1]))
    yield relay
    relay.cut()
