"""Real glance-registry and glance-api processes, over SQLite and MariaDB, for the suite.

Each xdist worker starts its own stacks (session scope) on ephemeral 127.0.0.1 ports, with
its configuration, database, image directory and logs under the worker's tmp dir. Tests share
a stack but never each other's images: every test acts as fresh projects (noauth headers).
"""
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import uuid

import pymysql
import pytest
import requests

from tests.conftest import script

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}
READY_TIMEOUT = 60
STOP_TIMEOUT = 10
PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"

REGISTRY_CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {reg_port}
workers = 2

[database]
connection = {db_url}
"""

API_CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {api_port}
workers = 2
registry_host = 127.0.0.1
registry_port = {reg_port}

[database]
connection = {db_url}

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {datadir}
"""


def _die_with_parent():
    # NOTE: if pytest itself is killed (CI timeout), the kernel sends the gunicorn master
    # SIGTERM instead of leaving the stack running (PR_SET_PDEATHSIG = 1).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc):
    """Stop a process group started with a new session: SIGTERM, then SIGKILL after a grace."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


class Stack:
    """A glance-registry + glance-api pair started from the console scripts."""

    def __init__(self, root, db_url, name, api_extra="", registry_extra="", api_port=None):
        self.root = root
        # NOTE: extra config text is appended to each file; a repeated section such as
        # [DEFAULT] merges with the one above, as oslo.config reads files.
        self.api_extra = api_extra
        self.registry_extra = registry_extra
        self.db_url = db_url
        self.name = name
        self.datadir = root / "images"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.procs = {}
        self.api_port = self.reg_port = None
        # a fixed api port, for consumers that remember the image endpoint (Cinder)
        self.fixed_api_port = api_port

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def registry_url(self):
        return f"http://127.0.0.1:{self.reg_port}"

    @property
    def api_conf(self):
        return self.root / "glance-api.conf"

    @property
    def registry_conf(self):
        return self.root / "glance-registry.conf"

    def write_configs(self):
        """Write both config files for the current ports."""
        values = {"api_port": self.api_port, "reg_port": self.reg_port,
                  "db_url": self.db_url, "datadir": self.datadir}
        self.registry_conf.write_text(REGISTRY_CONF.format(**values) + self.registry_extra)
        self.api_conf.write_text(API_CONF.format(**values) + self.api_extra)

    def start(self):
        """Sync the schema, then start the registry and the api; retry on a port race."""
        self.api_port, self.reg_port = self.fixed_api_port or free_port(), free_port()
        self.write_configs()
        self.manage("db", "sync")
        for attempt in range(3):
            try:
                self._start_one("glance-registry", self.registry_conf, self.registry_url)
                self._start_one("glance-api", self.api_conf, self.api_url)
                return
            except RuntimeError as exc:
                self.stop()
                # NOTE: another xdist worker may grab a probed port before we bind it.
                if attempt == 2 or "in use" not in str(exc):
                    raise
                self.api_port, self.reg_port = self.fixed_api_port or free_port(), free_port()
                self.write_configs()

    def manage(self, *args):
        """Run glance-manage against this stack's database; return the finished process."""
        cmd = [script("glance-manage"), "--config-file", str(self.registry_conf), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}")
        return proc

    def _start_one(self, name, conf, url):
        log = open(self.root / f"{name}.log", "ab")
        # NOTE: a new session lets teardown signal the gunicorn master and its workers together.
        proc = subprocess.Popen([script(name), "--config-file", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True,
                                preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = proc
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url + "/healthcheck", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {READY_TIMEOUT}s\n{self.log_tail(name)}")

    def stop(self):
        """Stop the processes: SIGTERM, then SIGKILL after a grace period."""
        for name in ("glance-api", "glance-registry"):
            stop_process(self.procs.pop(name, None))

    def log_tail(self, name=None, lines=80):
        """Return the last lines of one (or both) process logs."""
        out = []
        for each in [name] if name else ["glance-registry", "glance-api"]:
            path = self.root / f"{each}.log"
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            out.append(f"--- {each} ({path}) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def stored_files(self, image_id):
        """Return the names of the files in the datadir that belong to one image."""
        return sorted(p.name for p in self.datadir.rglob("*") if image_id in p.name)


def _drop_orphans(cur):
    # NOTE: a run killed before teardown leaves its database behind; names carry the pid of
    # the pytest process that made them, so one whose process is gone can be dropped.
    cur.execute("SHOW DATABASES LIKE 'glance\\_ft\\_%'")
    for (name,) in cur.fetchall():
        pid = name.split("_")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def mariadb_database(name):
    """Create a uniquely-named MariaDB database; drop it afterwards."""
    try:
        conn = pymysql.connect(connect_timeout=5, autocommit=True, **MARIADB)
    except pymysql.MySQLError as exc:
        pytest.skip(f"MariaDB not reachable on 127.0.0.1:3306: {exc}")
    try:
        with conn.cursor() as cur:
            _drop_orphans(cur)
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


BACKENDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@contextlib.contextmanager
def running_stack(tmp_path_factory, backend, name, worker_id_safe, api_extra="",
                  registry_extra=""):
    """Run a Stack on a fresh SQLite file or MariaDB database for the with-block."""
    root = tmp_path_factory.mktemp(name)
    with contextlib.ExitStack() as cleanup:
        if backend == "sqlite":
            db_url = f"sqlite:///{root}/glance.sqlite"
        else:
            db_name = f"glance_ft_{os.getpid()}_{worker_id_safe}_{uuid.uuid4().hex[:8]}"
            db_url = cleanup.enter_context(mariadb_database(db_name))
        running = Stack(root, db_url, name, api_extra=api_extra,
                        registry_extra=registry_extra)
        cleanup.callback(running.stop)
        running.start()
        yield running


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request, tmp_path_factory, worker_id_safe):
    """Start one api+registry stack per database backend (per xdist worker)."""
    with running_stack(tmp_path_factory, request.param, f"stack-{request.param}",
                       worker_id_safe) as running:
        running.name = request.param
        yield running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the stack's log tails to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(running, Stack):
        report.sections.append((f"{running.name} stack logs", running.log_tail()))


class User:
    """One caller of the api in noauth mode: a project, roles and a keep-alive session."""

    def __init__(self, base_url, project_id=None, roles="member,reader"):
        self.base_url = base_url
        self.project_id = project_id or "p-" + uuid.uuid4().hex
        self.session = requests.Session()
        self.session.headers.update({
            "X-Identity-Status": "Confirmed", "X-Project-Id": self.project_id,
            "X-User-Id": "u-" + self.project_id, "X-Roles": roles,
            "Accept": "application/json"})

    def request(self, method, path, **kwargs):
        """Send one request to the api; return the response."""
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def patch(self, path, ops, media_type=PATCH_V21, **kwargs):
        """PATCH a JSON-patch document with the given media type."""
        headers = {"Content-Type": media_type, **kwargs.pop("headers", {})}
        return self.request("PATCH", path, json=ops, headers=headers, **kwargs)

    def create_image(self, **body):
        """Create an image (201 expected); return its body."""
        body.setdefault("name", "img-" + uuid.uuid4().hex[:8])
        resp = self.post("/v2/images", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def show(self, image_id):
        """Return an image the caller can see (200 expected)."""
        resp = self.get(f"/v2/images/{image_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def upload(self, image_id, data, **headers):
        """PUT bytes (or a file/generator) as the image data; return the response."""
        headers = {"Content-Type": "application/octet-stream", **headers}
        return self.put(f"/v2/images/{image_id}/file", data=data, headers=headers)

    def create_active(self, data, **body):
        """Create an image with formats set and upload data; return the active image."""
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        image = self.create_image(**body)
        resp = self.upload(image["id"], data)
        assert resp.status_code == 204, resp.text
        return self.show(image["id"])


@pytest.fixture
def user(stack):
    """Return a member of a fresh project."""
    return User(stack.api_url)


@pytest.fixture
def other_user(stack):
    """Return a member of another fresh project."""
    return User(stack.api_url)


@pytest.fixture
def third_user(stack):
    """Return a member of a third fresh project."""
    return User(stack.api_url)


@pytest.fixture
def admin(stack):
    """Return an admin of a fresh project."""
    return User(stack.api_url, roles="admin,member,reader")
