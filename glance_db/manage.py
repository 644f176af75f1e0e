"""``glance-manage``: database administration, command line compatible with Glance's."""

import sys

import sqlalchemy
from oslo_config import cfg

from glance_db import config, metadef_files, migration, purge

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
            "service needs (%s, Glance 33 / 2026.2). This glance-manage upgrades only from "
            "%s (Glance 26.0.0 / 2023.1): upgrade the database with real Glance's own "
            "`glance-manage db sync` (Glance 26.0.0 / 2023.1 or newer) first, then run this "
            "command again." % (", ".join(revs), migration.HEAD, migration.PREVIOUS_HEAD))


def _refuse(kind, revs):
    if kind == migration.OLDER:
        raise CommandError(_older_message(revs))
    if kind == migration.UNKNOWN:
        raise CommandError("The database is at unknown schema revision %s; this service "
                           "needs %s. Refusing to touch it." % (", ".join(revs), migration.HEAD))
    raise CommandError("The database has Glance tables but no alembic_version table (legacy "
                       "sqlalchemy-migrate control). Upgrade it with real Glance's own "
                       "`glance-manage db sync` first (it needs revision %s)." % migration.HEAD)


def _extra_indexes(engine):
    """Add the indexes of our own a database lacks (one made by real Glance)."""
    with engine.begin() as conn:
        made = migration.ensure_extra_indexes(conn)
    for index in made:
        print("Added index %s on %s (%s), which Glance's schema lacks and Glance ignores."
              % (index.name, index.table.name, ", ".join(c.name for c in index.columns)))


def _sync(engine, done_message):
    with engine.connect() as conn:
        kind, revs = migration.state(conn)
    if kind == migration.CURRENT:
        print(UP_TO_DATE)
        _extra_indexes(engine)
        return 0
    rolling = kind == migration.OLDER and (
        migration.EXPAND_HEAD in revs or revs == [migration.PREVIOUS_HEAD])
    if kind != migration.EMPTY and not rolling:
        _refuse(kind, revs)
    with engine.begin() as conn:
        if not rolling:
            migration.upgrade(conn)
        else:   # Glance 2023.1, or 2024.1 expanded: expand (if needed) and contract
            if migration.EXPAND_HEAD not in revs:
                migration.expand_previous(conn)
            migration.contract(conn)
    _extra_indexes(engine)
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


def _rolling(engine):
    with engine.connect() as conn:
        kind, revs = migration.state(conn)
    if kind == migration.CURRENT:
        print(UP_TO_DATE)
        _extra_indexes(engine)
        return None
    if kind not in (migration.EMPTY, migration.OLDER):
        _refuse(kind, revs)
    return revs


def db_expand(engine):
    """Run the expansion phase of a database migration."""
    revs = _rolling(engine)
    if revs is None:
        return 0
    if migration.EXPAND_HEAD in revs:
        print("Database expansion is up to date. No expansion needed.")
        return 0
    with engine.begin() as conn:
        if not revs:
            migration.expand_empty(conn)
        elif revs == [migration.PREVIOUS_HEAD]:
            migration.expand_previous(conn)
        else:
            raise CommandError(_older_message(revs))
        now = migration.current_revisions(conn)
    print("Upgraded database to: %s, current revision(s): %s"
          % (migration.EXPAND_HEAD, ", ".join(now)))
    _extra_indexes(engine)
    return 0


def db_migrate(engine):
    """Run the data migration phase of a database migration."""
    revs = _rolling(engine)
    if revs is None:
        return 0
    if migration.EXPAND_HEAD not in revs:
        raise CommandError("Data migration did not run. Data migration cannot be run "
                           "before database expansion. Run database expansion first using "
                           '"glance-manage db expand"')
    print("Database migration is up to date. No migration needed.")
    return 0


def db_contract(engine):
    """Run the contraction phase of a database migration."""
    revs = _rolling(engine)
    if revs is None:
        return 0
    if migration.EXPAND_HEAD not in revs:
        raise CommandError("Database contraction did not run. Database contraction cannot "
                           "be run before database expansion. Run database expansion first "
                           'using "glance-manage db expand"')
    with engine.begin() as conn:
        migration.contract(conn)
    print("Upgraded database to: %s, current revision(s): %s"
          % (migration.HEAD, migration.HEAD))
    return 0


def _purge_progress(age_in_days, out=sys.stdout, width=30):
    """Return a progress callback drawing one bar per table (redrawn in place on a tty)."""
    tty = out.isatty()

    def report(table, done, total):
        filled = width if not total else width * done // total
        bar = "[%s%s] %d/%d" % ("#" * filled, "." * (width - filled), done, total)
        line = "Purging rows deleted more than %d day(s) ago from %-18s %s" % (
            age_in_days, table, bar)
        if tty:
            out.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total:
            out.write(line + "\n")
        out.flush()
    return report


def _purge(fn, engine, age_in_days, max_rows):
    try:
        done = fn(engine, age_in_days, max_rows, progress=_purge_progress(age_in_days))
    except purge.PurgeError as exc:
        raise CommandError(str(exc)) from exc
    print("Purge complete: %d row(s) deleted." % sum(done.values()))
    return 0


def db_purge(engine, age_in_days=30, max_rows=100):
    """Purge deleted rows older than a given age from glance tables."""
    return _purge(purge.purge, engine, age_in_days, max_rows)


def db_purge_images_table(engine, age_in_days=180, max_rows=100):
    """Purge deleted rows older than a given age from images table."""
    return _purge(purge.purge_images_table, engine, age_in_days, max_rows)


ACTIONS.update(expand=db_expand, migrate=db_migrate, contract=db_contract,
               purge=db_purge, purge_images_table=db_purge_images_table)
_PURGE_DEFAULTS = {"purge": 30, "purge_images_table": 180}


def _add_purge_args(parser, name):
    if name not in _PURGE_DEFAULTS:
        return
    parser.add_argument("--age_in_days", type=int, default=_PURGE_DEFAULTS[name],
                        help="Purge deleted rows older than age in days")
    parser.add_argument("--max_rows", type=int, default=100,
                        help="Limit number of records to delete. All deleted rows will be "
                             "purged if equals -1.")


def _purge_kwargs(action, command):
    if action not in _PURGE_DEFAULTS:
        return {}
    return {"age_in_days": command.age_in_days, "max_rows": command.max_rows}


def db_load_metadefs(engine, path=None, merge=False, prefer_new=False, overwrite=False):
    """Load metadefinition json files to database"""
    try:
        metadef_files.load_metadefs(engine, path, merge, prefer_new, overwrite)
    except metadef_files.UsageError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def db_unload_metadefs(engine):
    """Unload metadefinitions from database"""
    metadef_files.unload_metadefs(engine)
    return 0


def db_export_metadefs(engine, path=None):
    """Export metadefinitions data from database to files"""
    metadef_files.export_metadefs(engine, path)
    return 0


ACTIONS.update(load_metadefs=db_load_metadefs, unload_metadefs=db_unload_metadefs,
               export_metadefs=db_export_metadefs)
_METADEF_FLAGS = ("merge", "prefer_new", "overwrite")


def _add_metadef_args(parser, name, legacy):
    if name not in ("load_metadefs", "export_metadefs"):
        return
    if legacy:   # Glance's db_load_metadefs takes them positionally
        parser.add_argument("path", nargs="?")
        for flag in _METADEF_FLAGS if name == "load_metadefs" else ():
            parser.add_argument(flag, nargs="?")
        return
    parser.add_argument("--path", metavar="<path>", help="Path to the json metadata files")
    for flag in _METADEF_FLAGS if name == "load_metadefs" else ():
        parser.add_argument("--" + flag, action="store_true", default=False)
    # NOTE: Glance's parser also takes the arguments in order ("db load_metadefs PATH"),
    # filling the parameters its options left unset.
    parser.add_argument("action_args", nargs="*", metavar="<path> [<merge> ...]",
                        help="the same values in order: path, then merge, prefer_new, "
                             "overwrite")


def _metadef_kwargs(action, command):
    if action not in ("load_metadefs", "export_metadefs"):
        return {}
    names = ("path",) + (_METADEF_FLAGS if action == "load_metadefs" else ())
    given = list(getattr(command, "action_args", None) or [])
    if len(given) > len(names):
        raise CommandError("%s takes at most %d arguments (%s)"
                           % (action, len(names), ", ".join(names)))
    kwargs = {"path": command.path}
    if action == "load_metadefs":
        kwargs.update((flag, bool(getattr(command, flag))) for flag in _METADEF_FLAGS)
    for name, value in zip(names[:len(given)], given, strict=True):
        if name == "path":
            kwargs["path"] = kwargs["path"] or value
        else:
            kwargs[name] = kwargs[name] or bool(value)
    return kwargs


def _add_parsers(subparsers):
    db = subparsers.add_parser("db", help="Database commands")
    actions = db.add_subparsers(dest="action")
    actions.required = True
    for name in ACTIONS:
        parser = actions.add_parser(name, help=ACTIONS[name].__doc__)
        if name in _TAKES_VERSION:
            parser.add_argument("--version", metavar="<version>", help="Database version")
        _add_metadef_args(parser, name, legacy=False)
        _add_purge_args(parser, name)
    for name in ACTIONS:
        # Legacy spelling, e.g. "glance-manage db_sync".
        parser = subparsers.add_parser("db_" + name, help=ACTIONS[name].__doc__)
        parser.set_defaults(action=name)
        if name in _TAKES_VERSION:
            parser.add_argument("version", nargs="?", metavar="<version>")
        _add_metadef_args(parser, name, legacy=True)
        _add_purge_args(parser, name)


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
        kwargs.update(_metadef_kwargs(action, conf.command))
        kwargs.update(_purge_kwargs(action, conf.command))
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
