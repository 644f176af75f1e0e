"""Fixtures of the rbd store tests: the project's single-node Ceph and an api stack on it.

Imported by the rbd test modules (not a conftest.py, so it never collides with the
fixtures of the other store suites).
"""

import importlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from oslo_config import cfg

from tests.conftest import REPO_ROOT
from tests.functional.conftest import Stack, User

CEPH_SH = REPO_ROOT / "tools" / "ceph.sh"
# tools/ceph.sh exits with this text when the Ceph packages cannot be installed at all.
CANNOT_INSTALL = ("apt-get could not install", "cannot run here")


def _bindings_on_path():
    """Make the rados/rbd modules linked by tools/ceph.sh importable in this process.

    The .pth file it writes is only read by interpreters started after it.
    """
    pth = Path(sysconfig.get_paths()["purelib"]) / "ceph-bindings.pth"
    if pth.exists():
        for line in pth.read_text().splitlines():
            if line.strip() and line.strip() not in sys.path:
                sys.path.append(line.strip())


@pytest.fixture(scope="session")
def ceph_conf():
    """Start (or reuse) the machine-wide Ceph of tools/ceph.sh; return its ceph.conf path."""
    env = dict(os.environ, VENV=str(Path(sys.executable).parent.parent))
    proc = subprocess.run(["bash", str(CEPH_SH), "start"], capture_output=True, text=True,
                          timeout=900, env=env)
    if proc.returncode != 0:
        if any(text in proc.stderr for text in CANNOT_INSTALL):
            pytest.skip("Ceph packages cannot be installed here: " + proc.stderr.strip())
        raise RuntimeError(f"tools/ceph.sh start failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    conf = proc.stdout.strip().splitlines()[-1].split("=", 1)[1]
    _bindings_on_path()
    return conf


@pytest.fixture(scope="session")
def rbd_driver(ceph_conf):
    """Return the stores.rbd module with its bindings loaded."""
    module = importlib.import_module("stores.rbd")
    if module.rados is None:
        # NOTE: imported (at collection) before tools/ceph.sh linked the bindings.
        module = importlib.reload(module)
    assert module.rados is not None, "rados/rbd bindings not importable after ceph.sh start"
    return module


@pytest.fixture(scope="session")
def make_store(rbd_driver, ceph_conf):
    """Return a factory of configured RbdStores: (conf_file=None, group, **overrides)."""
    def make(conf_file=None, group="ceph", **overrides):
        conf = cfg.ConfigOpts()
        conf([], project="glance-clone-test", default_config_files=[])
        store = rbd_driver.RbdStore(conf, group)
        conf.set_override("rbd_store_ceph_conf", conf_file or ceph_conf, group)
        for name, value in overrides.items():
            conf.set_override(name, value, group)
        store.configure()
        return store
    return make


@pytest.fixture(scope="session")
def rados_ioctx(rbd_driver, ceph_conf):
    """Return an open ioctx on the images pool, for checks behind the driver's back."""
    cluster = rbd_driver.rados.Rados(conffile=ceph_conf)
    cluster.connect(timeout=30)
    ioctx = cluster.open_ioctx("images")
    yield ioctx
    ioctx.close()
    cluster.shutdown()


RBD_API_CONF = """
[DEFAULT]
show_image_direct_url = true

[glance_store]
stores = file,http,rbd
default_store = rbd
rbd_store_ceph_conf = {conf}
"""


@pytest.fixture(scope="session")
def rbd_stack(tmp_path_factory, ceph_conf, rbd_driver):
    """Start a glance-registry + glance-api (SQLite) whose default store is rbd."""
    root = tmp_path_factory.mktemp("stack-rbd")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "rbd",
                    api_extra=RBD_API_CONF.format(conf=ceph_conf))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def rbd_user(rbd_stack):
    """Return a member of a fresh project on the rbd stack."""
    return User(rbd_stack.api_url)
