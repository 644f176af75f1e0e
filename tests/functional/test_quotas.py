"""user_storage_quota: refused before or while the bytes stream, nothing left behind.

One stack per database backend with ``user_storage_quota = 3MB`` (3 MiB, Glance's units),
the file store, and fresh projects per test. What a user sees is checked: the 413 and its
message, the image back in ``queued`` with no size or checksum, no file in the datadir,
and the registry's usage figure equal to what the DB rows say.
"""
import contextlib
import http.client

import pymysql
import pytest
import requests

from tests.functional.conftest import BACKENDS, Stack, User, running_stack

MIB = 1024 * 1024
QUOTA = 3 * MIB


@pytest.fixture(scope="module", params=BACKENDS)
def qstack(request, tmp_path_factory, worker_id_safe):
    """A stack whose projects may each store 3 MiB."""
    with running_stack(tmp_path_factory, request.param, f"quota-{request.param}",
                       worker_id_safe,
                       api_extra="[DEFAULT]\nuser_storage_quota = 3MB\n") as running:
        yield running


@pytest.fixture
def quser(qstack):
    return User(qstack.api_url)


def _new(user):
    return user.create_image(disk_format="raw", container_format="bare")


def _assert_queued_without_data(stack, user, image_id):
    image = user.show(image_id)
    assert image["status"] == "queued"
    assert image["size"] is None and image["checksum"] is None
    assert stack.stored_files(image_id) == []


def _chunked_upload(stack, user, image_id, total, chunk=256 * 1024):
    """Send ``total`` bytes chunked (no declared size); return (status, body, bytes sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=60)
    conn.putrequest("PUT", f"/v2/images/{image_id}/file")
    for key, value in user.session.headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sent = 0
    piece = b"q" * chunk
    try:
        while sent < total:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass   # the server answered and closed before taking the rest
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body, sent


def _registry_usage(stack, project_id):
    resp = requests.get(f"{stack.registry_url}/usage/{project_id}", timeout=30,
                        headers={"X-Identity-Status": "Confirmed", "X-Roles": "admin",
                                 "X-Project-Id": project_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["usage"]


def _db_storage(stack, project_id):
    """Σ size × live locations of the project's live images, straight from the tables."""
    sql = ("SELECT COALESCE(SUM(i.size), 0) FROM images i JOIN image_locations l "
           "ON l.image_id = i.id AND l.status != 'deleted' WHERE i.owner = %s AND i.size > 0 "
           "AND i.status NOT IN ('killed', 'deleted', 'pending_delete')")
    if stack.db_url.startswith("sqlite"):
        import sqlite3
        with contextlib.closing(sqlite3.connect(stack.db_url.split("///", 1)[1])) as conn:
            return conn.execute(sql.replace("%s", "?"), (project_id,)).fetchone()[0]
    name = stack.db_url.rsplit("/", 1)[1].split("?")[0]
    with contextlib.closing(pymysql.connect(host="127.0.0.1", user="root",
                                            database=name)) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, (project_id,))
            return int(cur.fetchone()[0])


def test_known_size_over_quota_refused_before_reading(qstack, quser):
    image = _new(quser)
    resp = quser.upload(image["id"], b"x" * (QUOTA + 1))
    assert resp.status_code == 413, resp.text
    assert ("Image exceeds the storage quota: The size of the data %d will exceed the "
            "limit. %d bytes remaining." % (QUOTA + 1, QUOTA)) in resp.text
    _assert_queued_without_data(qstack, quser, image["id"])


def test_unknown_size_refused_mid_stream(qstack, quser):
    image = _new(quser)
    status, body, sent = _chunked_upload(qstack, quser, image["id"], 8 * MIB)
    assert status == 413, body
    assert "Image exceeds the storage quota" in body
    assert "%d bytes remaining" % QUOTA in body
    _assert_queued_without_data(qstack, quser, image["id"])
    # The same image then takes data that fits.
    assert quser.upload(image["id"], b"y" * MIB).status_code == 204
    assert quser.show(image["id"])["status"] == "active"


def test_quota_counts_the_projects_other_images(qstack, quser, ):
    first = quser.create_active(b"a" * (2 * MIB))
    assert _registry_usage(qstack, quser.project_id)["image_size_total"] == 2 * MIB
    second = _new(quser)
    resp = quser.upload(second["id"], b"b" * (2 * MIB))
    assert resp.status_code == 413, resp.text
    assert "The size of the data %d will exceed the limit. %d bytes remaining." % (
        2 * MIB, MIB) in resp.text
    _assert_queued_without_data(qstack, quser, second["id"])
    # chunked, no size: refused after the first MiB that passes
    status, body, _ = _chunked_upload(qstack, quser, second["id"], 3 * MIB)
    assert status == 413, body
    _assert_queued_without_data(qstack, quser, second["id"])
    assert _db_storage(qstack, quser.project_id) == 2 * MIB
    # Another project is not affected by this one's usage.
    other = User(qstack.api_url)
    other.create_active(b"c" * (2 * MIB))
    # Deleting frees the room.
    assert quser.delete(f"/v2/images/{first['id']}").status_code == 204
    assert _registry_usage(qstack, quser.project_id)["image_size_total"] == 0
    assert quser.upload(second["id"], b"b" * (2 * MIB)).status_code == 204


def test_usage_matches_the_database(qstack, quser):
    quser.create_active(b"1" * MIB)
    quser.create_active(b"2" * (MIB // 2))
    _new(quser)   # queued, no size: not counted as storage, counted as an image
    usage = _registry_usage(qstack, quser.project_id)
    assert usage["image_size_total"] == _db_storage(qstack, quser.project_id) == MIB + MIB // 2
    assert usage["image_count_total"] == 3
    assert usage["image_count_uploading"] == 0
    assert usage["image_stage_total"] == 0
    # Without unified limits the api's usage document is empty, as Glance's.
    resp = quser.get("/v2/info/usage")
    assert resp.status_code == 200 and resp.json() == {"usage": {}}


def test_registry_usage_is_the_owners_or_an_admins(qstack, quser):
    resp = requests.get(f"{qstack.registry_url}/usage/{quser.project_id}", timeout=30,
                        headers={"X-Identity-Status": "Confirmed", "X-Roles": "member",
                                 "X-Project-Id": "someone-else"})
    assert resp.status_code == 403


def test_bad_quota_value_stops_the_api(tmp_path):
    running = Stack(tmp_path, f"sqlite:///{tmp_path}/g.sqlite", "badquota",
                    api_extra="[DEFAULT]\nuser_storage_quota = 3 GiB\n")
    try:
        with pytest.raises(RuntimeError):
            running.start()
        assert "Invalid value for option user_storage_quota: 3 GiB" in running.log_tail(
            "glance-api")
    finally:
        running.stop()
