"""Run a write transaction again when the database rolled it back as a deadlock.

On MariaDB/MySQL a deadlock between two transactions rolls one of them back with error 1213;
on a Galera cluster a transaction that loses certification against a concurrent one committed
on another node fails the same way at COMMIT (wsrep reports it as 1213, "Deadlock found when
trying to get lock; try restarting transaction"). PostgreSQL says 40P01 or 40001. In each case
the whole transaction was undone, so running the repository method again is safe: a
compare-and-swap re-reads the row and either wins or raises Conflict, exactly once. Bounded
(MAX_ATTEMPTS, jittered backoff); any other error is raised at once.

A read (``retry_read``) is also run again when the database could not be reached or the
connection was lost, for up to RECONNECT_WAIT seconds: it changed nothing, so this is always
safe (a write is not: its COMMIT may have happened before the connection was lost). Behind a
load balancer in front of Galera, the dead node keeps getting new connections until its
health check fails (HAProxy in `make cluster`: every 1 s, down after 2), and the engine's own
reconnect-once finds it still there; `benchmarks/cluster_drills.py` showed such reads failing.
"""

import functools
import logging
import random
import time

from sqlalchemy.exc import DBAPIError

LOG = logging.getLogger(__name__)

MYSQL_DEADLOCK = 1213
PG_DEADLOCK_CODES = frozenset(("40P01", "40001"))
MAX_ATTEMPTS = 6
FIRST_DELAY = 0.01
MAX_DELAY = 0.5
# MySQL client errors: cannot connect, server has gone away, lost connection during query
MYSQL_DISCONNECTS = frozenset((2003, 2006, 2013))
RECONNECT_WAIT = 3.0
RECONNECT_STEP = 0.25


def is_deadlock(exc):
    """True when ``exc`` is a transaction the database rolled back (deadlock/certification)."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    args = getattr(exc.orig, "args", ())
    if args and args[0] == MYSQL_DEADLOCK:
        return True
    return getattr(exc.orig, "pgcode", None) in PG_DEADLOCK_CODES


def retry_on_deadlock(method):
    """Decorate a repository write method whose transaction may be rolled back as a deadlock."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        delay = FIRST_DELAY
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return method(*args, **kwargs)
            except DBAPIError as exc:
                if attempt == MAX_ATTEMPTS or not is_deadlock(exc):
                    raise
                LOG.info("%s: transaction rolled back as a deadlock (attempt %d of %d); "
                         "running it again", method.__qualname__, attempt, MAX_ATTEMPTS)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, MAX_DELAY)
    return wrapper


def is_disconnect(exc):
    """True when ``exc`` is a database that could not be reached or a connection lost."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in MYSQL_DISCONNECTS


def retry_read(method):
    """Decorate a repository read: run it again while the database is unreachable (bounded)."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        deadline = time.monotonic() + RECONNECT_WAIT
        while True:
            try:
                return method(*args, **kwargs)
            except DBAPIError as exc:
                if not is_disconnect(exc) or time.monotonic() >= deadline:
                    raise
                LOG.info("%s: database unreachable (%s); reading again", method.__qualname__,
                         exc.orig)
                time.sleep(RECONNECT_STEP)
    return wrapper
