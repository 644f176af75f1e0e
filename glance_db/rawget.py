"""image-get straight on the driver's cursor: the registry's hottest statement."""

from sqlalchemy.exc import DBAPIError


class RawGet:
    """Run precompiled image-get statements on a pooled DBAPI cursor.

    PERF: SQLAlchemy's execute, result and connection wrappers were ~30% of the registry's
    CPU per image-show on MariaDB. The statements are fixed, so they are compiled once and
    their SQL handed to the driver; the rows are plain tuples, which
    queries.image_from_joined_rows takes as they are. Only for server databases whose
    driver returns Python types directly (SQLite keeps the SQLAlchemy path).
    """

    def __init__(self, engine, statements):
        """Compile ``statements`` (a dict of key → SELECT) for ``engine``'s dialect."""
        self._engine = engine
        self._dialect = engine.dialect
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
            conn = self._engine.raw_connection()
            try:
                return self._execute(conn, sql, args)
            except self._dialect.loaded_dbapi.Error as exc:
                if attempt == 0 and self._dialect.is_disconnect(exc, conn, None):
                    conn.invalidate()
                    continue
                raise DBAPIError.instance(sql, args, exc, self._dialect.loaded_dbapi.Error,
                                          dialect=self._dialect) from exc
            finally:
                conn.close()
        raise AssertionError("unreachable")

    @staticmethod
    def _execute(conn, sql, args):
        cur = conn.cursor()
        try:
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            cur.close()
