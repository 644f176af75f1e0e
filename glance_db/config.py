"""Options of the metadata database layer: Glance's ``[database]`` group."""

from oslo_config import cfg

database_opts = [
    cfg.StrOpt(
        "connection",
        secret=True,
        help="The SQLAlchemy connection string to use to connect to the database, e.g. "
        "sqlite:////var/lib/glance/glance.sqlite or "
        "mysql+pymysql://glance:PASS@127.0.0.1/glance?charset=utf8.",
    ),
    cfg.IntOpt(
        "connection_recycle_time",
        default=3600,
        help="Connections which have been present in the connection pool longer than "
        "this number of seconds will be replaced with a new one the next time they are "
        "checked out from the pool.",
    ),
    cfg.IntOpt(
        "max_pool_size",
        default=5,
        help="Maximum number of SQL connections to keep open in a pool. Setting a value "
        "of 0 indicates no limit.",
    ),
    cfg.IntOpt(
        "max_overflow",
        default=50,
        help="If set, use this value for max_overflow with SQLAlchemy.",
    ),
    cfg.IntOpt(
        "pool_timeout",
        help="If set, use this value for pool_timeout with SQLAlchemy.",
    ),
    cfg.IntOpt(
        "mysql_wsrep_sync_wait",
        help="For Galera only, configure wsrep_sync_wait causality checks on new "
        "connections.  Default is None, meaning don't configure any setting.",
    ),
]


class ConnectionNotConfigured(Exception):
    """``[database] connection`` is unset."""


def register_opts(conf):
    """Register the ``[database]`` options on ``conf``."""
    conf.register_opts(database_opts, group="database")


def list_opts():
    """List the options for oslo-config-generator."""
    return [("database", database_opts)]


def connection_url(conf):
    """Return ``[database] connection``; raise a clear error when it is unset."""
    url = conf.database.connection
    if not url:
        raise ConnectionNotConfigured(
            "No database connection is configured: set [database] connection in the "
            "configuration file (e.g. sqlite:////var/lib/glance/glance.sqlite)."
        )
    return url
