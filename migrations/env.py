"""Alembic environment: run migrations on the connection or URL the caller gives."""

import sqlalchemy
from alembic import context

from glance_db.models import metadata

config = context.config
target_metadata = metadata


def _run(connection):
    context.configure(connection=connection, target_metadata=target_metadata,
                      version_table="alembic_version", render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline():
    """Emit the SQL of the migrations without a database."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the given connection or a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sqlalchemy.create_engine(config.get_main_option("sqlalchemy.url"),
                                      poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
