"""Token validation is cached: a token seen once is not sent to Keystone again.

keystonemiddleware caches validated tokens in each worker (in process, without
memcached_servers), so that stack runs one worker per service; with memcached_servers the
workers of both services share one memcached. Keystone is frozen with SIGSTOP (its whole
process group) between the first and the repeated requests.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.functional.conftest import _die_with_parent, free_port, stop_process
from tests.functional.keystone.conftest import keystone_stack, unique

pytestmark = pytest.mark.keystone


@pytest.fixture(scope="module")
def one_worker_stack(tmp_path_factory, keystone):
    with keystone_stack(tmp_path_factory, keystone, "ks-cache", workers=1) as running:
        yield running


@contextlib.contextmanager
def frozen(keystone):
    """Stop every Keystone process (SIGSTOP its process group) for the with-block."""
    pgid = keystone.pgid()
    os.killpg(pgid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pgid, signal.SIGCONT)


@pytest.fixture(scope="module")
def memcached():
    """A private memcached on a free 127.0.0.1 port; skip without memcached/python-memcached."""
    binary = shutil.which("memcached")
    if binary is None:
        pytest.skip("memcached is not installed (apt-get install memcached)")
    pytest.importorskip("memcache", reason="python-memcached is not installed")
    for _ in range(3):  # NOTE: another process may take the probed port first
        port = free_port()
        proc = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                                 "-u", "nobody", "-m", "16"], start_new_session=True,
                                preexec_fn=_die_with_parent)
        if _listening(proc, port):
            break
        stop_process(proc)
    else:
        raise RuntimeError("memcached did not start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _listening(proc, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def memcached_stack(tmp_path_factory, keystone, memcached):
    extra = f"memcached_servers = {memcached}\n"
    with keystone_stack(tmp_path_factory, keystone, "ks-memcached", api_extra=extra,
                        registry_extra=extra) as running:
        yield running


def test_workers_share_the_memcached_cache(memcached_stack, keystone):
    base = memcached_stack.api_url
    token = keystone.issue("demo")[0]
    first = requests.get(base + "/v2/images", headers={"X-Auth-Token": token}, timeout=60)
    assert first.status_code == 200, first.text
    with frozen(keystone):
        started = time.monotonic()
        # fresh connections: the requests land on either worker of the api and the registry
        answers = [requests.get(base + "/v2/images", headers={"X-Auth-Token": token},
                                timeout=10).status_code for _ in range(12)]
        elapsed = time.monotonic() - started
    assert answers == [200] * 12
    assert elapsed < 5, elapsed


def test_repeated_token_needs_no_keystone(one_worker_stack, keystone):
    base = one_worker_stack.api_url
    seen, project_id, _ = keystone.issue("demo")
    unseen = keystone.issue("demo")[0]
    first = requests.get(base + "/v2/images", headers={"X-Auth-Token": seen}, timeout=60)
    assert first.status_code == 200, first.text
    name = unique("cached")
    with frozen(keystone):
        started = time.monotonic()
        again = requests.get(base + "/v2/images", headers={"X-Auth-Token": seen}, timeout=10)
        created = requests.post(base + "/v2/images", json={"name": name}, timeout=10,
                                headers={"X-Auth-Token": seen})
        elapsed = time.monotonic() - started
        # a token the stack has not seen must go to Keystone, which does not answer
        with pytest.raises(requests.Timeout):
            requests.get(base + "/v2/images", headers={"X-Auth-Token": unseen}, timeout=3)
    assert again.status_code == 200, again.text
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == project_id
    assert elapsed < 2, elapsed
    # Keystone back: the unseen token validates
    late = requests.get(base + "/v2/images", headers={"X-Auth-Token": unseen}, timeout=60)
    assert late.status_code == 200, late.text
    assert name in [i["name"] for i in late.json()["images"]]
