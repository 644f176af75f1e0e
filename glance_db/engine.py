"""Engine construction, once per process."""

import datetime

import sqlalchemy
from sqlalchemy import event

# NOTE: a connection with this execution option starts its transaction with
# BEGIN IMMEDIATE on SQLite, so a read-then-write transaction takes the write lock up front
# and waits (busy_timeout) instead of failing with "database is locked" on lock upgrade.
SQLITE_WRITE = "glance_sqlite_immediate"
_BUSY_TIMEOUT_MS = 30000


def _setup_sqlite(engine):
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = %d" % _BUSY_TIMEOUT_MS)
        cur.execute("PRAGMA foreign_keys = ON")
        if engine.url.database and engine.url.database != ":memory:":
            # WAL lets readers in other gunicorn workers run while one writes.
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(SQLITE_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def create_engine(url, *, pool_size=None, max_overflow=None, pool_timeout=None,
                  pool_recycle=3600, echo=False, wsrep_sync_wait=None):
    """Create an engine for ``url`` with pooling and per-backend settings.

    ``wsrep_sync_wait`` (``[database] mysql_wsrep_sync_wait``, Galera only) is set on every
    new MySQL connection, through the URL so the read engine (``reader_for``) has it too:
    1 makes a read on one node wait until it has applied what any node committed before it
    (read-your-writes across registries on different nodes).
    """
    url = sqlalchemy.engine.make_url(url)
    kwargs = {"echo": echo, "future": True}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False,
                                  "timeout": _BUSY_TIMEOUT_MS / 1000.0}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = pool_recycle
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
        if max_overflow is not None:
            kwargs["max_overflow"] = max_overflow
        if pool_timeout is not None:
            kwargs["pool_timeout"] = pool_timeout
        if url.get_backend_name() == "mysql" and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8"})
        if url.get_backend_name() == "mysql" and wsrep_sync_wait is not None:
            url = url.update_query_dict(
                {"init_command": "SET SESSION wsrep_sync_wait = %d" % int(wsrep_sync_wait)})
    engine = sqlalchemy.create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _setup_sqlite(engine)
    return engine


def reader_for(engine):
    """Return the engine reads go through: ``engine`` itself, or an autocommit sibling.

    PERF: on a server database a plain read through ``engine`` costs three round trips
    (pre-ping, the SELECT, the ROLLBACK that ends the implicit transaction); image-show runs
    this on every call. Reads are single statements (image_get) or a page plus its children
    (image_list), so they need no transaction: an AUTOCOMMIT pool with no pre-ping and no
    rollback on return makes them one round trip each. A connection the server dropped is
    retried once by the caller (see ImageRepo._read).
    """
    if engine.dialect.name == "sqlite":
        return engine
    pool = engine.pool
    return sqlalchemy.create_engine(
        engine.url, future=True, isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True, pool_pre_ping=False,
        pool_recycle=getattr(pool, "_recycle", 3600),
        pool_size=pool.size(), max_overflow=getattr(pool, "_max_overflow", 10),
        pool_timeout=getattr(pool, "_timeout", 30))


def engine_from_conf(conf):
    """Create the engine from a ConfigOpts with the ``[database]`` options registered."""
    from glance_db.config import connection_url

    db = conf.database
    return create_engine(
        connection_url(conf),
        pool_size=db.max_pool_size or None,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout,
        pool_recycle=db.connection_recycle_time,
        wsrep_sync_wait=db.mysql_wsrep_sync_wait,
    )


def utcnow(dialect_name):
    """Return the naive UTC now a row of ``dialect_name`` stores.

    Glance's DATETIME columns hold whole seconds on MySQL; returning what is stored keeps
    a create's answer equal to a later get's.
    """
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=0) if dialect_name == "mysql" else now
