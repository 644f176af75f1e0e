"""Start real glance-registry processes (gunicorn) over a migrated SQLite or MariaDB database.

Kept local to the registry tests; the shared stack fixtures are in tests/functional/conftest.py.
"""

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid

import pymysql
import pytest
import requests
import sqlalchemy

from glance_registry.client import RegistryClient
from tests.conftest import script

READY_TIMEOUT = 30
LISTENING = re.compile(rb'Listening at: http://127\.0\.0\.1:(\d+)')
CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 0
workers = {workers}
{extra}
[database]
connection = {db_url}
"""


class RegistryProcess:
    """One glance-registry started from its console script on an ephemeral port."""

    def __init__(self, root, db_url, workers=2, extra=''):
        self.root = root
        self.conf = root / ('glance-registry-%s.conf' % uuid.uuid4().hex[:8])
        self.log = self.conf.with_suffix('.log')
        self.conf.write_text(CONF.format(workers=workers, extra=extra, db_url=db_url))
        self.proc = None
        self.port = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def start(self):
        """Start the process; return once /healthcheck answers 200."""
        with open(self.log, 'ab') as log:
            # NOTE: its own session, so stop() signals the master and not pytest.
            self.proc = subprocess.Popen(
                [script('glance-registry'), '--config-file', str(self.conf)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('glance-registry exited %s:\n%s'
                                   % (self.proc.returncode, self.log_text()))
            if self.port is None:
                found = LISTENING.search(self.log.read_bytes())
                self.port = int(found.group(1)) if found else None
            elif self._healthy():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('glance-registry not ready:\n%s' % self.log_text())

    def _healthy(self):
        with contextlib.suppress(requests.RequestException):
            return requests.get(self.url + '/healthcheck', timeout=2).status_code == 200
        return False

    def stop(self, timeout=10):
        """SIGTERM the master (graceful), SIGKILL the group if it lingers; return the code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout)

    def log_text(self):
        """Return the process log."""
        return self.log.read_text(errors='replace') if self.log.exists() else '(no log)'


def migrate(db_url):
    """Create the schema at head, as ``glance-manage db sync`` does."""
    from glance_db import migration

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.begin() as conn:
            migration.upgrade(conn)
    finally:
        engine.dispose()


@contextlib.contextmanager
def mariadb_url(name):
    """Create a uniquely named MariaDB database; drop it afterwards."""
    try:
        conn = pymysql.connect(host='127.0.0.1', port=3306, user='root', connect_timeout=5,
                               autocommit=True)
    except pymysql.MySQLError as e:
        pytest.skip('MariaDB not reachable on 127.0.0.1:3306: %s' % e)
    try:
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8' % name)
        yield 'mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8' % name
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS `%s`' % name)
        conn.close()


@contextlib.contextmanager
def postgresql_url(name):
    """Create a uniquely named PostgreSQL database; drop it afterwards."""
    import psycopg2

    try:
        conn = psycopg2.connect(host='127.0.0.1', port=5432, user='postgres',
                                dbname='postgres', connect_timeout=5)
    except psycopg2.Error as e:
        pytest.skip('PostgreSQL not reachable on 127.0.0.1:5432: %s' % e)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE "%s"' % name)
        yield 'postgresql+psycopg2://postgres@127.0.0.1:5432/%s' % name
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        conn.close()


SERVERS = {'mariadb': mariadb_url, 'postgresql': postgresql_url}


@pytest.fixture(scope='session', params=[
    'sqlite', pytest.param('mariadb', marks=pytest.mark.mariadb),
    pytest.param('postgresql', marks=pytest.mark.postgresql)])
def registry(request, tmp_path_factory, worker_id_safe):
    """A running registry over a migrated database, one per backend and xdist worker."""
    root = tmp_path_factory.mktemp('registry-%s' % request.param)
    with contextlib.ExitStack() as stack:
        if request.param == 'sqlite':
            db_url = 'sqlite:///%s/glance.sqlite' % root
        else:
            name = 'glance_reg_%s_%s' % (worker_id_safe, uuid.uuid4().hex[:10])
            db_url = stack.enter_context(SERVERS[request.param](name))
        migrate(db_url)
        proc = RegistryProcess(root, db_url).start()
        stack.callback(proc.stop)
        yield proc


@pytest.fixture
def client(registry):
    """A RegistryClient talking to the running registry."""
    c = RegistryClient('127.0.0.1', registry.port, timeout=30)
    yield c
    c.close()


@pytest.fixture
def sqlite_url(tmp_path):
    """A migrated SQLite database of its own, for tests about the process, not the DB."""
    url = 'sqlite:///%s/glance.sqlite' % tmp_path
    migrate(url)
    return url
