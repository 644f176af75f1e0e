"""glance_db.retry on its own: which errors are a rolled-back transaction, and the bound."""
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from glance_db import retry


class _PgError(Exception):
    def __init__(self, pgcode):
        super().__init__("pg")
        self.pgcode = pgcode


def _op(orig):
    return OperationalError("UPDATE images ...", {}, orig)


@pytest.mark.parametrize("exc, expected", [
    (_op(Exception(1213, "Deadlock found when trying to get lock")), True),
    (_op(_PgError("40P01")), True),
    (_op(_PgError("40001")), True),
    (_op(Exception(1205, "Lock wait timeout exceeded")), False),
    (_op(Exception(2013, "Lost connection to MySQL server during query")), False),
    (IntegrityError("INSERT ...", {}, Exception(1062, "Duplicate entry")), False),
    (ValueError("not a database error"), False),
])
def test_is_deadlock(exc, expected):
    assert retry.is_deadlock(exc) is expected


def test_retries_a_deadlock_then_returns(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    calls = []

    @retry.retry_on_deadlock
    def write():
        calls.append(1)
        if len(calls) < 3:
            raise _op(Exception(1213, "Deadlock"))
        return "done"

    assert write() == "done" and len(calls) == 3


def test_gives_up_after_max_attempts_and_never_retries_other_errors(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    calls = []

    @retry.retry_on_deadlock
    def always_deadlocks():
        calls.append(1)
        raise _op(Exception(1213, "Deadlock"))

    with pytest.raises(OperationalError):
        always_deadlocks()
    assert len(calls) == retry.MAX_ATTEMPTS

    calls.clear()

    @retry.retry_on_deadlock
    def lost_connection():
        calls.append(1)
        raise _op(Exception(2013, "Lost connection"))

    with pytest.raises(OperationalError):
        lost_connection()
    assert len(calls) == 1   # the commit may have happened: never run it twice
