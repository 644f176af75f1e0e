"""glance-scrubber: delayed delete, restore, and the data dead or failed uploads leave.

Real processes: a stack per database backend with ``delayed_delete = True`` and a short
``stalled_upload_time``, the ``glance-scrubber`` console script run against the stack's
glance-api.conf, and an api killed with SIGKILL in the middle of an upload.
"""
import contextlib
import http.client
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pymysql
import pytest
import requests

from glance_api.cli.scrubber import STALLED_UPLOAD_MIN
from tests.conftest import script
from tests.functional.conftest import BACKENDS, User, running_stack

MIB = 1024 * 1024
STALL = STALLED_UPLOAD_MIN   # the shortest the scrubber accepts


@pytest.fixture(scope="module", params=BACKENDS)
def sstack(request, tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, request.param, f"scrub-{request.param}",
                       worker_id_safe, api_extra=(
                           f"[DEFAULT]\ndelayed_delete = True\nscrub_time = 0\n"
                           f"stalled_upload_time = {STALL}\n")) as running:
        yield running


@pytest.fixture
def suser(sstack):
    return User(sstack.api_url)


def rows(stack, sql, *params):
    """Run one SELECT on the stack's database; return the rows."""
    if stack.db_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(stack.db_url.split("///", 1)[1])) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
    name = stack.db_url.rsplit("/", 1)[1].split("?")[0]
    with contextlib.closing(pymysql.connect(host="127.0.0.1", user="root",
                                            database=name)) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def image_row(stack, image_id):
    return rows(stack, "SELECT status, deleted FROM images WHERE id = %s", image_id)[0]


def location_rows(stack, image_id):
    return sorted(rows(stack, "SELECT status, deleted FROM image_locations "
                              "WHERE image_id = %s", image_id))


def all_files(stack, image_id):
    """Every file of the image in the datadir, temporary upload files included."""
    return sorted(p.name for p in stack.datadir.rglob("*") if image_id in p.name)


def scrub(stack, *args, extra=""):
    conf = stack.api_conf
    if extra:
        conf = stack.root / f"scrubber-{uuid.uuid4().hex[:6]}.conf"
        conf.write_text(stack.api_conf.read_text() + extra)
    return subprocess.run([script("glance-scrubber"), "--config-file", str(conf), *args],
                          capture_output=True, text=True, timeout=120, cwd=stack.root)


def test_delayed_delete_then_scrub(sstack, suser):
    image = suser.create_active(b"d" * MIB)
    assert suser.delete(f"/v2/images/{image['id']}").status_code == 204
    assert suser.get(f"/v2/images/{image['id']}").status_code == 404
    assert image_row(sstack, image["id"]) == ("pending_delete", 1)
    assert sstack.stored_files(image["id"]) == [image["id"]]
    # scrub_time not reached: nothing happens
    proc = scrub(sstack, extra="\n[DEFAULT]\nscrub_time = 3600\n")
    assert proc.returncode == 0, proc.stderr
    assert sstack.stored_files(image["id"]) == [image["id"]]
    proc = scrub(sstack)
    assert proc.returncode == 0, proc.stderr
    assert sstack.stored_files(image["id"]) == []
    assert image_row(sstack, image["id"]) == ("deleted", 1)
    # the location, and the upload's reservation released at activation
    assert location_rows(sstack, image["id"]) == [("deleted", 1), ("deleted", 1)]


def test_restore(sstack, suser):
    data = os.urandom(MIB)
    image = suser.create_active(data)
    assert suser.delete(f"/v2/images/{image['id']}").status_code == 204
    proc = scrub(sstack, "--restore", image["id"])
    assert proc.returncode == 0, proc.stderr
    shown = suser.show(image["id"])
    assert shown["status"] == "active"
    assert suser.get(f"/v2/images/{image['id']}/file").content == data
    # an active image cannot be restored
    proc = scrub(sstack, "--restore", image["id"])
    assert proc.returncode != 0
    assert "cannot restore the image from active to active" in proc.stderr
    proc = scrub(sstack, "--restore", image["id"], "--daemon")
    assert proc.returncode != 0 and "should not be set together" in proc.stderr


def _start_slow_upload(stack, user, image_id, first=2 * MIB):
    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=60)
    conn.putrequest("PUT", f"/v2/images/{image_id}/file")
    for key, value in user.session.headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    piece = b"k" * (256 * 1024)
    for _ in range(first // len(piece)):
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    return conn


def _wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_api_killed_mid_upload_leaves_nothing_after_scrub(sstack, suser):
    image = suser.create_image(disk_format="raw", container_format="bare")
    conn = _start_slow_upload(sstack, suser, image["id"])
    assert _wait_for(lambda: any(name.endswith(".part")
                                 for name in all_files(sstack, image["id"])))
    assert suser.show(image["id"])["status"] == "saving"
    api = sstack.procs.pop("glance-api")
    os.killpg(api.pid, signal.SIGKILL)     # master and workers, no clean-up runs
    api.wait(timeout=30)
    conn.close()
    try:
        assert any(name.endswith(".part") for name in all_files(sstack, image["id"]))
        assert image_row(sstack, image["id"]) == ("saving", 0)
        assert location_rows(sstack, image["id"]) == [("pending_delete", 1)]
        # an upload still within stalled_upload_time is left alone
        proc = scrub(sstack, extra="\n[DEFAULT]\nstalled_upload_time = 3600\n")
        assert proc.returncode == 0, proc.stderr
        assert all_files(sstack, image["id"]) != []
        time.sleep(STALL + 1)
        proc = scrub(sstack)
        assert proc.returncode == 0, proc.stderr
        assert all_files(sstack, image["id"]) == []
        assert image_row(sstack, image["id"]) == ("queued", 0)
        assert location_rows(sstack, image["id"]) == [("deleted", 1)]
    finally:
        sstack._start_one("glance-api", sstack.api_conf, sstack.api_url)
    # the user can upload again
    assert suser.upload(image["id"], b"again").status_code == 204
    assert suser.show(image["id"])["status"] == "active"
    # the new location, and both uploads' released reservations
    assert location_rows(sstack, image["id"]) == [("active", 0), ("deleted", 1),
                                                  ("deleted", 1)]


def test_successful_and_failed_uploads_leave_nothing_queued(sstack, suser):
    image = suser.create_active(b"ok" * 1000)
    assert location_rows(sstack, image["id"]) == [("active", 0), ("deleted", 1)]
    bad = suser.create_image(disk_format="raw", container_format="bare")
    resp = suser.upload(bad["id"], b"x" * 100, **{"x-openstack-image-size": "50"})
    assert resp.status_code == 400, resp.text
    assert all_files(sstack, bad["id"]) == []
    assert location_rows(sstack, bad["id"]) == [("deleted", 1)]
    proc = scrub(sstack)
    assert proc.returncode == 0, proc.stderr
    assert suser.get(f"/v2/images/{image['id']}/file").content == b"ok" * 1000


def test_scrubber_never_deletes_data_in_use(sstack, suser):
    image = suser.create_active(b"keep" * 1000)
    url = f"file://{sstack.datadir}/{image['id']}"
    # a stale queue entry naming the live image's data (as a crash between activation
    # and release could leave)
    resp = requests.post(f"{sstack.registry_url}/images/{image['id']}/reservations",
                         json={"url": url, "metadata": {}}, timeout=30,
                         headers={"X-Roles": "admin", "X-Is-Admin": "True",
                                  "X-Identity-Status": "Confirmed"})
    assert resp.status_code == 201, resp.text
    proc = scrub(sstack)
    assert proc.returncode == 0, proc.stderr
    assert sstack.stored_files(image["id"]) == [image["id"]]
    assert suser.get(f"/v2/images/{image['id']}/file").content == b"keep" * 1000
