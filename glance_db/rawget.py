"""image-get straight on the driver's cursor: the registry's hottest statement."""

import threading
import time

from sqlalchemy.exc import DBAPIError


class RawGet:
    """Run precompiled image-get statements on a pooled DBAPI cursor.

    PERF: SQLAlchemy's execute, result and connection wrappers were ~30% of the registry's
    CPU per image-show on MariaDB. The statements are fixed, so they are compiled once and
    their SQL handed to the driver; the rows are plain tuples, which
    queries.image_from_joined_rows takes as they are. Only for server databases whose
    driver returns Python types directly (SQLite keeps the SQLAlchemy path).

    PERF: each thread keeps its own connection, detached from the pool, instead of a pool
    checkout and checkin per statement (~12% of the registry's CPU per image-show). It is
    replaced after the pool's recycle time, and when the server dropped it.
    """

    def __init__(self, engine, statements):
        """Compile ``statements`` (a dict of key → SELECT) for ``engine``'s dialect."""
        self._engine = engine
        self._dialect = engine.dialect
        recycle = getattr(engine.pool, "_recycle", -1)
        self._recycle = recycle if recycle is not None and recycle > 0 else None
        self._local = threading.local()
        self._sql = {}
        for key, stmt in statements.items():
            compiled = stmt.compile(dialect=self._dialect)
            names = list(compiled.positiontup) if compiled.positional else None
            # The statement's own literals (e.g. 'public' in the visibility test) are binds.
            self._sql[key] = (str(compiled), names, dict(compiled.params))

    def rows(self, key, params):
        """Return all rows of statement ``key``; retry once on a dropped connection.

        :raises: sqlalchemy.exc.DBAPIError subclasses, as the SQLAlchemy path would.
        """
        sql, names, defaults = self._sql[key]
        values = {**defaults, **params}
        args = [values[n] for n in names] if names is not None else values
        for attempt in (0, 1):
            fairy = self._connection()
            try:
                return self._execute(fairy.dbapi_connection, sql, args)
            except self._dialect.loaded_dbapi.Error as exc:
                disconnect = self._dialect.is_disconnect(exc, fairy.dbapi_connection, None)
                if disconnect:
                    self._drop()
                    if attempt == 0:
                        continue
                raise DBAPIError.instance(sql, args, exc, self._dialect.loaded_dbapi.Error,
                                          dialect=self._dialect) from exc
        raise AssertionError("unreachable")

    def _connection(self):
        """Return this thread's connection, opened (or renewed after recycle) as needed."""
        local = self._local
        fairy = getattr(local, "fairy", None)
        if fairy is not None and self._recycle is not None \
                and time.monotonic() - local.born > self._recycle:
            self._drop()
            fairy = None
        if fairy is None:
            fairy = self._engine.raw_connection()
            # NOTE: detached, it is this thread's own: closing it really closes it.
            fairy.detach()
            local.fairy, local.born = fairy, time.monotonic()
        return fairy

    def _drop(self):
        fairy = getattr(self._local, "fairy", None)
        self._local.fairy = None
        if fairy is not None:
            try:
                fairy.invalidate()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close
                pass

    @staticmethod
    def _execute(conn, sql, args):
        cur = conn.cursor()
        try:
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            cur.close()
