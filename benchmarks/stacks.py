"""Start this service (glance-registry + glance-api) for the bench, and the MariaDB it uses.

The bench starts its own stack unless given ``--endpoint``: then it knows the processes
whose memory it samples, and it can start the same service again with `flavor = keystone`
over the same database. Ports are ephemeral on 127.0.0.1; configuration, images and logs go
under one temporary directory that is removed at the end.
"""

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pymysql

MARIADB = {'host': '127.0.0.1', 'port': 3306, 'user': 'root'}
BIN = pathlib.Path(sys.executable).parent
READY_TIMEOUT = 60

REGISTRY_CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {reg_port}
workers = {workers}

[database]
connection = {db_url}
"""

API_CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {api_port}
workers = {workers}
registry_host = 127.0.0.1
registry_port = {reg_port}

[database]
connection = {db_url}

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {datadir}
"""


def free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mariadb_database(prefix='glance_bench'):
    """Create a uniquely named MariaDB database for the with-block; yield its URL."""
    name = '%s_%d_%s' % (prefix, os.getpid(), uuid.uuid4().hex[:6])
    conn = pymysql.connect(connect_timeout=5, autocommit=True, **MARIADB)
    try:
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8' % name)
        yield 'mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8' % name
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS `%s`' % name)
        conn.close()


def wait_ready(proc, url, log):
    """Wait until ``url``/healthcheck answers 200; stop the bench if the process exits."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('%s exited at start:\n%s' % (url, log.read_text()[-3000:]))
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + '/healthcheck', timeout=2).status == 200:
                return
        time.sleep(0.1)
    raise SystemExit('%s not ready after %ds' % (url, READY_TIMEOUT))


def stop_process(proc, timeout=30):
    """Stop a gunicorn master started in its own session (SIGTERM, then SIGKILL)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


class Stack:
    """glance-registry + glance-api over ``db_url``, configuration and logs under ``root``."""

    def __init__(self, root, db_url, name='stack', api_extra='', registry_extra='',
                 workers=2):
        self.root = pathlib.Path(root) / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.datadir = pathlib.Path(root) / 'images'   # shared by the stacks of one run
        self.datadir.mkdir(exist_ok=True)
        self.db_url, self.workers = db_url, workers
        self.api_extra, self.registry_extra = api_extra, registry_extra
        self.procs = {}
        self.api_port = self.reg_port = None

    @property
    def api_url(self):
        return 'http://127.0.0.1:%d' % self.api_port

    @property
    def api_pid(self):
        return self.procs['glance-api'].pid

    @property
    def registry_pid(self):
        return self.procs['glance-registry'].pid

    def conf(self, name):
        return self.root / ('%s.conf' % name)

    def sync(self):
        """Create the schema (glance-manage db sync)."""
        self._write_configs()
        subprocess.run([str(BIN / 'glance-manage'), '--config-file',
                        str(self.conf('glance-registry')), 'db', 'sync'],
                       check=True, capture_output=True, timeout=300)

    def _write_configs(self):
        self.api_port, self.reg_port = free_port(), free_port()
        values = {'api_port': self.api_port, 'reg_port': self.reg_port, 'db_url': self.db_url,
                  'datadir': self.datadir, 'workers': self.workers}
        self.conf('glance-registry').write_text(REGISTRY_CONF.format(**values)
                                                + self.registry_extra)
        self.conf('glance-api').write_text(API_CONF.format(**values) + self.api_extra)

    def start(self):
        """Start the registry, then the api; return self once both answer."""
        self._write_configs()
        for name, port in (('glance-registry', self.reg_port), ('glance-api', self.api_port)):
            log = self.root / ('%s.log' % name)
            with open(log, 'ab') as out:
                proc = subprocess.Popen([str(BIN / name), '--config-file', str(self.conf(name))],
                                        stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                                        start_new_session=True)
            self.procs[name] = proc
            wait_ready(proc, 'http://127.0.0.1:%d' % port, log)
        return self

    def stop(self):
        """Stop both services."""
        for name in ('glance-api', 'glance-registry'):
            stop_process(self.procs.pop(name, None))

    @contextlib.contextmanager
    def running(self):
        """Run the stack for the with-block."""
        try:
            yield self.start()
        finally:
            self.stop()
