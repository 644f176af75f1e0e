"""``glance-manage``: database administration, command line compatible with Glance's."""

import sys

import sqlalchemy
from oslo_config import cfg

from glance_db import config, migration

UP_TO_DATE = "Database is up to date. No migrations needed."
EXPAND_NEEDED = ("Your database is not up to date. "
                 "Your first step is to run `glance-manage db expand`.")
CONTRACT_NEEDED = ("Your database is not up to date. "
                   "Your next step is to run `glance-manage db contract`.")
NOT_CONTROLLED = ('Database is either not under migration control or under legacy migration '
                  'control, please run "glance-manage db sync" to place the database under '
                  'alembic migration control.')


class CommandError(Exception):
    """A command failed; the message is for the operator."""


def _older_message(revs):
    return ("The database is at Glance schema revision %s, older than the revision this "
            "service needs (%s, Glance 33 / 2026.2). This glance-manage cannot upgrade it: "
            "upgrade the database with real Glance's own `glance-manage db sync` (Glance "
            "28.0.0 / 2024.1 or newer, which brings it to %s), then run this command again."
            % (", ".join(revs), migration.HEAD, migration.HEAD))


def _refuse(kind, revs):
    if kind == migration.OLDER:
        raise CommandError(_older_message(revs))
    if kind == migration.UNKNOWN:
        raise CommandError("The database is at unknown schema revision %s; this service "
                           "needs %s. Refusing to touch it." % (", ".join(revs), migration.HEAD))
    raise CommandError("The database has Glance tables but no alembic_version table (legacy "
                       "sqlalchemy-migrate control). Upgrade it with real Glance's own "
                       "`glance-manage db sync` first (it needs revision %s)." % migration.HEAD)


def _sync(engine, done_message):
    with engine.connect() as conn:
        kind, revs = migration.state(conn)
    if kind == migration.CURRENT:
        print(UP_TO_DATE)
        return 0
    if kind != migration.EMPTY:
        _refuse(kind, revs)
    with engine.begin() as conn:
        migration.upgrade(conn)
    print(done_message)
    return 0


def db_sync(engine, version=None):
    """Create the schema on an empty database; refuse databases at older revisions."""
    _check_version_arg(version)
    return _sync(engine, "Database is synced successfully.")


def db_upgrade(engine, version=None):
    """Same as sync (Glance's older spelling)."""
    _check_version_arg(version)
    return _sync(engine, "Upgraded database, current revision(s): %s" % migration.HEAD)


def db_version(engine):
    """Print the database's current revision(s)."""
    with engine.connect() as conn:
        revs = migration.current_revisions(conn)
    print("\n".join(revs) if revs else NOT_CONTROLLED)
    return 0


def db_version_control(engine, version=None):
    """Stamp an existing Glance 33 schema as being at the head revision."""
    _check_version_arg(version)
    with engine.begin() as conn:
        migration.stamp(conn)
    print("Placed database under migration control at revision:", migration.HEAD)
    return 0


def db_check(engine):
    """Report pending upgrades: exit 0 up to date, 3 expand needed, 5 contract needed."""
    with engine.connect() as conn:
        kind, revs = migration.state(conn)
    if kind == migration.CURRENT:
        print("Database is up to date. No upgrades needed.")
        return 0
    if migration.EXPAND_HEAD in revs:
        print(CONTRACT_NEEDED)
        return 5
    print(EXPAND_NEEDED)
    return 3


def _check_version_arg(version):
    if version not in (None, "heads", "head", migration.HEAD):
        raise CommandError("Unknown database version %s: only %s is available."
                           % (version, migration.HEAD))


ACTIONS = {"sync": db_sync, "upgrade": db_upgrade, "version": db_version,
           "version_control": db_version_control, "check": db_check}
_TAKES_VERSION = ("sync", "upgrade", "version_control")


def _add_parsers(subparsers):
    db = subparsers.add_parser("db", help="Database commands")
    actions = db.add_subparsers(dest="action")
    actions.required = True
    for name in ACTIONS:
        parser = actions.add_parser(name, help=ACTIONS[name].__doc__)
        if name in _TAKES_VERSION:
            parser.add_argument("--version", metavar="<version>", help="Database version")
    for name in ACTIONS:
        # Legacy spelling, e.g. "glance-manage db_sync".
        parser = subparsers.add_parser("db_" + name, help=ACTIONS[name].__doc__)
        parser.set_defaults(action=name)
        if name in _TAKES_VERSION:
            parser.add_argument("version", nargs="?", metavar="<version>")


def build_conf(argv):
    """Parse ``argv`` into a fresh ConfigOpts (Glance's default config files apply)."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf.register_cli_opt(cfg.SubCommandOpt("command", title="Commands",
                                            handler=_add_parsers))
    files = (cfg.find_config_files(project="glance", prog="glance-registry")
             + cfg.find_config_files(project="glance", prog="glance-api"))
    conf(argv, project="glance", prog="glance-manage", default_config_files=files)
    return conf


def main(argv=None):
    """Run glance-manage; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    conf = build_conf(argv)
    action = conf.command.action
    try:
        engine = sqlalchemy.create_engine(config.connection_url(conf),
                                          poolclass=sqlalchemy.pool.NullPool)
        kwargs = {}
        if action in _TAKES_VERSION:
            kwargs["version"] = conf.command.version
        try:
            return ACTIONS[action](engine, **kwargs)
        finally:
            engine.dispose()
    except (CommandError, config.ConnectionNotConfigured) as exc:
        print(exc, file=sys.stderr)
        return 1
    except sqlalchemy.exc.SQLAlchemyError as exc:
        print("Database error: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
