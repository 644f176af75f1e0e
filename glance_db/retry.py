"""Run a write transaction again when the database rolled it back as a deadlock.

On MariaDB/MySQL a deadlock between two transactions rolls one of them back with error 1213;
on a Galera cluster a transaction that loses certification against a concurrent one committed
on another node fails the same way at COMMIT (wsrep reports it as 1213, "Deadlock found when
trying to get lock; try restarting transaction"). PostgreSQL says 40P01 or 40001. In each case
the whole transaction was undone, so running the repository method again is safe: a
compare-and-swap re-reads the row and either wins or raises Conflict, exactly once. Bounded
(MAX_ATTEMPTS, jittered backoff); any other error is raised at once.
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
