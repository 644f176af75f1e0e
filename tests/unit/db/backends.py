"""Throw-away databases on SQLite, MariaDB and PostgreSQL for the DB tests (xdist-safe)."""

import contextlib
import os
import socket
import uuid

import pytest
import sqlalchemy

MYSQL_SERVER = os.environ.get("GLANCE_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306")
PG_SERVER = os.environ.get("GLANCE_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
BACKENDS = ("sqlite", "mariadb", "postgresql")


def _server_engine(backend):
    if backend == "mariadb":
        return sqlalchemy.create_engine(MYSQL_SERVER + "/", poolclass=sqlalchemy.pool.NullPool)
    return sqlalchemy.create_engine(PG_SERVER + "/postgres", isolation_level="AUTOCOMMIT",
                                    poolclass=sqlalchemy.pool.NullPool)


def _listening(backend):
    url = sqlalchemy.engine.make_url(MYSQL_SERVER if backend == "mariadb" else PG_SERVER)
    default_port = 3306 if backend == "mariadb" else 5432
    try:
        socket.create_connection((url.host, url.port or default_port), timeout=3).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def scratch_database(backend, tmp_dir):
    """Yield the URL of a new empty database; drop it afterwards.

    Skips the test when no server of ``backend`` listens (tools/ensure-services.sh starts
    them); a server that is up but refuses us fails the test instead, so a broken setup
    never passes as skips.
    """
    if backend == "sqlite":
        yield "sqlite:///%s" % os.path.join(str(tmp_dir), "glance-%s.sqlite" % uuid.uuid4().hex)
        return
    if not _listening(backend):
        pytest.skip("no %s server listening" % backend)
    name = "gdbtest_%s" % uuid.uuid4().hex[:16]
    server = _server_engine(backend)
    with server.connect() as conn:
        charset = " CHARACTER SET utf8" if backend == "mariadb" else ""
        conn.exec_driver_sql("CREATE DATABASE %s%s" % (name, charset))
    base = MYSQL_SERVER if backend == "mariadb" else PG_SERVER
    suffix = "?charset=utf8" if backend == "mariadb" else ""
    try:
        yield "%s/%s%s" % (base, name, suffix)
    finally:
        with server.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
            else:
                conn.exec_driver_sql("DROP DATABASE IF EXISTS %s" % name)
        server.dispose()


def backend_marks(backend):
    """Return the pytest marks of a backend parameter."""
    return {"mariadb": [pytest.mark.mariadb], "postgresql": [pytest.mark.postgresql]}.get(
        backend, [])


BACKEND_PARAMS = [pytest.param(b, marks=backend_marks(b), id=b) for b in BACKENDS]
