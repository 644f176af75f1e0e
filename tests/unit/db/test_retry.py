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


@pytest.mark.parametrize("exc, expected", [
    (_op(Exception(2003, "Can't connect to MySQL server")), True),
    (_op(Exception(2006, "MySQL server has gone away")), True),
    (_op(Exception(2013, "Lost connection to MySQL server during query")), True),
    (_op(Exception(1213, "Deadlock found when trying to get lock")), False),
    (ValueError("not a database error"), False),
])
def test_is_disconnect(exc, expected):
    assert retry.is_disconnect(exc) is expected


def test_a_read_is_run_again_while_the_database_is_unreachable(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    calls = []

    @retry.retry_read
    def read():
        calls.append(1)
        if len(calls) < 4:
            raise _op(Exception(2013, "Lost connection to MySQL server during query"))
        return "rows"

    assert read() == "rows" and len(calls) == 4


def test_a_read_gives_up_after_the_reconnect_wait(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(retry.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(retry.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    calls = []

    @retry.retry_read
    def read():
        calls.append(1)
        raise _op(Exception(2003, "Can't connect to MySQL server"))

    with pytest.raises(OperationalError):
        read()
    assert len(calls) == retry.RECONNECT_WAIT / retry.RECONNECT_STEP + 1


def test_a_write_is_never_run_again_after_a_lost_connection(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    calls = []

    @retry.retry_on_deadlock
    def write():
        calls.append(1)
        raise _op(Exception(2013, "Lost connection to MySQL server during query"))

    with pytest.raises(OperationalError):
        write()
    assert len(calls) == 1
