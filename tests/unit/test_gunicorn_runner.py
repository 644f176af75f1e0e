"""The Date header helper the runner puts in place of gunicorn's."""

import time
from email.utils import formatdate

from glance_server import gunicorn_runner


def test_http_date_per_second_is_gunicorns_date_of_this_second():
    before = int(time.time())
    text = gunicorn_runner._http_date_per_second()
    after = int(time.time())
    assert text in {formatdate(s, usegmt=True) for s in range(before, after + 1)}
    # the same second gives the cached text; an explicit timestamp is formatted as asked
    assert gunicorn_runner._http_date_per_second() in {text, formatdate(after + 1, usegmt=True)}
    assert gunicorn_runner._http_date_per_second(0) == 'Thu, 01 Jan 1970 00:00:00 GMT'
