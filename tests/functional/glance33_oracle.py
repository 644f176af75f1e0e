"""Real Glance 33.0.0 as a test oracle: its db_sync, and its API served from a scratch venv.

The venv comes from tools/glance33-venv.sh (PyPI glance==33.0.0, built once per machine).
Glance 33 has no standalone glance-api: glance33_wsgi.py serves glance.wsgi.api:application
with a paste pipeline that keeps Glance's `context` middleware but drops `authtoken`, so the
X-Identity-Status / X-Project-Id / X-Roles headers a test sends act as a Keystone token would.
"""
import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.conftest import Stack, _die_with_parent, free_port, stop_process

READY_TIMEOUT = 90
WSGI_SCRIPT = Path(__file__).resolve().parent / "glance33_wsgi.py"
# NOTE: both services render locations, so the comparison also covers `locations` and
# `direct_url`; everything else is left at Glance's defaults on both sides.
SHOW_LOCATIONS = "show_image_direct_url = true\nshow_multiple_locations = true\n"

REAL_API_CONF = """\
[DEFAULT]
{show_locations}node_staging_uri = file://{root}/staging
log_file = {root}/real-glance.log

[database]
connection = {db_url}

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {datadir}

[paste_deploy]
flavor = keystone

[oslo_concurrency]
lock_path = {root}/locks
"""
_AUTHTOKEN_PIPELINE = ("keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler "
                       "authtoken context rootapp")


def glance33_bin():
    """Return the bin/ directory of the real Glance 33 venv, building it the first time."""
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "glance33-venv.sh")],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.skip("pip could not install glance==33.0.0: %s" % proc.stderr[-500:])
    return Path(proc.stdout.strip().splitlines()[-1]) / "bin"


def real_db_sync(bin_dir, db_url, root):
    """Create the schema with real Glance 33's `glance-manage db_sync`."""
    conf = root / "real-glance-manage.conf"
    conf.write_text("[database]\nconnection = %s\n" % db_url)
    proc = subprocess.run([str(bin_dir / "glance-manage"), "--config-file", str(conf),
                           "db_sync"], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Database is synced successfully." in proc.stdout


class RealGlance:
    """Real Glance 33's API app under a threaded wsgiref server, over a given DB and datadir."""

    def __init__(self, bin_dir, root, db_url, datadir, extra_conf="", env=None):
        self.bin_dir = bin_dir
        self.env = env or {}
        self.root = root
        self.confdir = root / "real-glance-etc"
        self.confdir.mkdir(exist_ok=True)
        self.port_file = root / "real-glance.port"
        self.proc = None
        self.port = None
        paste = (bin_dir.parent / "etc" / "glance" / "glance-api-paste.ini").read_text()
        assert _AUTHTOKEN_PIPELINE in paste, "Glance's paste file changed; update the oracle"
        paste = paste.replace(_AUTHTOKEN_PIPELINE, _AUTHTOKEN_PIPELINE.replace(" authtoken", ""))
        (self.confdir / "glance-api-paste.ini").write_text(paste)
        (self.confdir / "glance-api.conf").write_text(REAL_API_CONF.format(
            show_locations=SHOW_LOCATIONS, root=root, db_url=db_url, datadir=datadir)
            + extra_conf)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        """Start the server and wait until /healthcheck answers."""
        self.port_file.unlink(missing_ok=True)
        env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(self.confdir), **self.env}
        env.pop("PYTHONPATH", None)
        with open(self.root / "real-glance.out", "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin_dir / "python"), str(WSGI_SCRIPT), str(self.port_file)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env=env,
                start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"real Glance exited with {self.proc.returncode}\n"
                                   + self.log_tail())
            if self.port is None and self.port_file.exists():
                self.port = int(self.port_file.read_text())
            if self.port is not None:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(self.url + "/healthcheck", timeout=2).status_code == 200:
                        return self
            time.sleep(0.1)
        raise RuntimeError(f"real Glance not ready after {READY_TIMEOUT}s\n" + self.log_tail())

    def stop(self):
        """Stop the server: SIGTERM, then SIGKILL after a grace period."""
        proc, self.proc, self.port = self.proc, None, None
        stop_process(proc)

    @contextlib.contextmanager
    def running(self):
        """Run the server for the duration of a with-block."""
        try:
            yield self.start()
        finally:
            self.stop()

    def log_tail(self, lines=60):
        """Return the last lines of the server's logs."""
        out = []
        for name in ("real-glance.out", "real-glance.log"):
            path = self.root / name
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            out.append(f"--- {name} ({path}) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)


class OurStack(Stack):
    """Our glance-registry + glance-api on a database someone else (real Glance) created."""

    def write_configs(self):
        """Write both config files, with the location options the oracle also sets."""
        super().write_configs()
        text = self.api_conf.read_text()
        self.api_conf.write_text(text.replace("[DEFAULT]\n", "[DEFAULT]\n" + SHOW_LOCATIONS, 1))

    def start(self):
        """Start the registry and the api WITHOUT syncing the schema first."""
        for attempt in range(3):
            self.api_port, self.reg_port = free_port(), free_port()
            self.write_configs()
            try:
                self._start_one("glance-registry", self.registry_conf, self.registry_url)
                self._start_one("glance-api", self.api_conf, self.api_url)
                return self
            except RuntimeError as exc:
                self.stop()
                # NOTE: another xdist worker may grab a probed port before we bind it.
                if attempt == 2 or "in use" not in str(exc):
                    raise

    @contextlib.contextmanager
    def running(self):
        """Run the stack for the duration of a with-block."""
        try:
            yield self.start()
        finally:
            self.stop()
