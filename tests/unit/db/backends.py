"""Throw-away databases on SQLite, MariaDB and PostgreSQL for the DB tests (xdist-safe)."""

import contextlib
import os
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


@contextlib.contextmanager
def scratch_database(backend, tmp_dir):
    """Yield the URL of a new empty database; drop it afterwards.

    Skips the test when the server of ``backend`` cannot be reached.
    """
    if backend == "sqlite":
        yield "sqlite:///%s" % os.path.join(str(tmp_dir), "glance-%s.sqlite" % uuid.uuid4().hex)
        return
    name = "gdbtest_%s" % uuid.uuid4().hex[:16]
    server = _server_engine(backend)
    try:
        with server.connect() as conn:
            charset = " CHARACTER SET utf8" if backend == "mariadb" else ""
            conn.exec_driver_sql("CREATE DATABASE %s%s" % (name, charset))
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip("%s server unreachable: %s" % (backend, exc.orig))
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
