"""Schema version of a database and the alembic glue, from an installed package too."""

import os

import sqlalchemy
from alembic import command
from alembic.config import Config

HEAD = "2024_1_contract01"
EXPAND_HEAD = "2024_1_expand01"
# Revisions of real Glance's own migration chain (liberty .. 2024.1), oldest first.
GLANCE_REVISIONS = (
    "liberty", "mitaka01", "mitaka02", "ocata_expand01", "ocata_contract01",
    "pike_expand01", "pike_contract01", "queens_expand01", "queens_contract01",
    "rocky_expand01", "rocky_expand02", "rocky_contract01", "rocky_contract02",
    "train_expand01", "train_contract01", "ussuri_expand01", "ussuri_contract01",
    "wallaby_expand01", "wallaby_contract01", "xena_expand01", "xena_contract01",
    "yoga_expand01", "yoga_contract01", "zed_expand01", "zed_contract01",
    "2023_1_expand01", "2023_1_contract01", EXPAND_HEAD, HEAD,
)

CURRENT, EMPTY, OLDER, UNKNOWN, UNVERSIONED = (
    "current", "empty", "older", "unknown", "unversioned")


def script_location():
    """Return the directory of the shipped migrations (env.py, versions/)."""
    import migrations

    # NOTE: an editable install may see the package as a namespace package (no __file__).
    for path in migrations.__path__:
        if os.path.isfile(os.path.join(path, "env.py")):
            return path
    raise RuntimeError("migrations/env.py not found in %s" % list(migrations.__path__))


def alembic_config(connection):
    """Return an alembic Config running our migrations on ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    cfg.set_main_option("sqlalchemy.url",
                        connection.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    return cfg


def current_revisions(connection):
    """Return the revisions in alembic_version, or None when there is no such table."""
    if not sqlalchemy.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    return sorted(r[0] for r in rows)


def state(connection):
    """Classify the database: (state, revisions found)."""
    revs = current_revisions(connection)
    if revs and HEAD in revs:
        return CURRENT, revs
    if revs:
        known = all(r in GLANCE_REVISIONS for r in revs)
        return (OLDER if known else UNKNOWN), revs
    if sqlalchemy.inspect(connection).has_table("images"):
        return UNVERSIONED, revs or []
    return EMPTY, []


def upgrade(connection):
    """Create the schema on an empty database and stamp it at HEAD."""
    command.upgrade(alembic_config(connection), "head")
    ensure_extra_indexes(connection)


# --- indexes of our own ---------------------------------------------------------------------
# An index Glance's schema lacks, kept outside the alembic chain: the revision stays
# Glance's HEAD, so real Glance 33 runs on a database of ours unchanged (it never names
# the index; MariaDB, PostgreSQL and SQLite keep it up to date under its writes), and a
# database real Glance made gets it from `glance-manage db sync` or `db expand` here.
# owner_created_at_image_idx serves a project's own images in page order (a non-admin's
# `visibility=private` list, an `owner=` filter): without it the list reads every image
# the project owns and sorts them (glance_db/listing.py, docs/internals.md §2.1).
EXTRA_INDEXES = ("owner_created_at_image_idx",)   # defined in glance_db.models


def ensure_extra_indexes(connection):
    """Create the EXTRA_INDEXES the database lacks; return them (sqlalchemy Index)."""
    from glance_db import models

    inspector = sqlalchemy.inspect(connection)
    made = []
    for table in models.Base.metadata.sorted_tables:
        wanted = [ix for ix in table.indexes if ix.name in EXTRA_INDEXES]
        if not wanted or not inspector.has_table(table.name):
            continue
        present = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in wanted:
            if index.name not in present:
                index.create(connection)
                made.append(index)
    return made


def stamp(connection, revision=HEAD):
    """Record ``revision`` in alembic_version without touching the schema."""
    command.stamp(alembic_config(connection), revision)


# --- rolling upgrades (glance-manage db expand / migrate / contract) ---------------------
# Glance 2024.1's expand step (2024_1_expand01) adds the cache tables; its migrate and
# contract steps are empty. So a database of Glance 2023.1 (2023_1_contract01) can be
# brought to HEAD here, in Glance's three phases.
PREVIOUS_HEAD = "2023_1_contract01"
EXPAND_TABLES = ("node_reference", "cached_images")


def set_revisions(connection, revisions):
    """Replace the rows of alembic_version with ``revisions``."""
    connection.exec_driver_sql("DELETE FROM alembic_version")
    for rev in revisions:
        connection.execute(sqlalchemy.text(
            "INSERT INTO alembic_version (version_num) VALUES (:rev)"), {"rev": rev})


def expand_previous(connection):
    """Apply 2024_1_expand01 to a database at PREVIOUS_HEAD: create the cache tables."""
    from glance_db import models

    inspector = sqlalchemy.inspect(connection)
    for name in EXPAND_TABLES:
        if not inspector.has_table(name):
            models.Base.metadata.tables[name].create(connection)
    set_revisions(connection, [PREVIOUS_HEAD, EXPAND_HEAD])


def expand_empty(connection):
    """Create the whole schema on an empty database, recorded at the expand head.

    The contract step of 2024.1 changes nothing, so the tables are those of HEAD.
    """
    upgrade(connection)
    set_revisions(connection, [EXPAND_HEAD])


def contract(connection):
    """Apply the (empty) 2024_1_contract01: record HEAD."""
    set_revisions(connection, [HEAD])
