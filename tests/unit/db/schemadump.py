"""A comparable description of a database schema: tables, columns, keys, indexes."""

import sqlalchemy

IGNORED_TABLES = frozenset(("alembic_version",))


def _column(col, dialect):
    default = col.get("default")
    if default is not None:
        default = str(default).strip("'\"()")
    return {
        "type": str(col["type"].compile(dialect=dialect)).replace("utf8mb3", "utf8"),
        "nullable": col["nullable"],
        "default": default,
    }


def _table(insp, name, dialect):
    return {
        "columns": {c["name"]: _column(c, dialect) for c in insp.get_columns(name)},
        "primary_key": sorted(insp.get_pk_constraint(name)["constrained_columns"]),
        "foreign_keys": sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"],
             tuple(fk["referred_columns"])) for fk in insp.get_foreign_keys(name)),
        "indexes": sorted(
            (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in insp.get_indexes(name)),
        "unique": sorted(
            (uc["name"], tuple(uc["column_names"])) for uc in insp.get_unique_constraints(name)),
    }


def dump(url):
    """Return {table: description} of the database at ``url``."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        insp = sqlalchemy.inspect(engine)
        return {name: _table(insp, name, engine.dialect)
                for name in insp.get_table_names() if name not in IGNORED_TABLES}
    finally:
        engine.dispose()


def differences(left, right):
    """List human-readable differences between two dumps (empty when equal)."""
    out = []
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            out.append("table %s only in %s" % (table, "right" if table in right else "left"))
            continue
        for key in ("columns", "primary_key", "foreign_keys", "indexes", "unique"):
            a, b = left[table][key], right[table][key]
            if a != b:
                out.append("%s.%s: %r != %r" % (table, key, a, b))
    return out
