"""stalled_upload_time cannot kill a live upload; a silent client cannot hold its image.

Real processes: glance-registry and glance-api, and the ``glance-scrubber`` console script
(``--daemon`` every second) with ``stalled_upload_time`` at its floor while a client sends
nothing for longer than that; then an api with a short ``client_socket_timeout`` and a
client that stops sending.
"""
import hashlib
import http.client
import os
import subprocess
import time

import pytest

from glance_api.cli.scrubber import STALLED_UPLOAD_MIN
from tests.conftest import script
from tests.functional.conftest import BACKENDS, User, running_stack, stop_process
from tests.functional.test_scrubber import all_files, image_row, location_rows, scrub

MIB = 1024 * 1024
SILENT = 2   # client_socket_timeout of the strict stack


@pytest.fixture(scope="module", params=BACKENDS)
def live_stack(request, tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, request.param, f"live-{request.param}",
                       worker_id_safe, api_extra=(
                           f"[DEFAULT]\nstalled_upload_time = {STALLED_UPLOAD_MIN}\n"
                           f"wakeup_time = 1\nclient_socket_timeout = 120\n")) as running:
        yield running


@pytest.fixture(scope="module", params=BACKENDS)
def strict_stack(request, tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, request.param, f"strict-{request.param}",
                       worker_id_safe, api_extra=(
                           f"[DEFAULT]\nstalled_upload_time = {STALLED_UPLOAD_MIN}\n"
                           f"client_socket_timeout = {SILENT}\n")) as running:
        yield running


class Upload:
    """A PUT of image data sent piece by piece on a raw connection."""

    def __init__(self, stack, user, image_id, total=None):
        self.chunked = total is None
        self.conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=60)
        self.conn.putrequest("PUT", f"/v2/images/{image_id}/file")
        for key, value in user.session.headers.items():
            self.conn.putheader(key, value)
        self.conn.putheader("Content-Type", "application/octet-stream")
        if self.chunked:
            self.conn.putheader("Transfer-Encoding", "chunked")
        else:
            self.conn.putheader("Content-Length", str(total))
        self.conn.endheaders()

    def send(self, data):
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.conn.send(data)

    def finish(self):
        """End the body; return (status, body text)."""
        if self.chunked:
            self.conn.send(b"0\r\n\r\n")
        return self.answer()

    def answer(self):
        resp = self.conn.getresponse()
        return resp.status, resp.read().decode()


def _wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _partial_file_written(stack, image_id):
    return any(name.endswith(".part") for name in all_files(stack, image_id))


def test_upload_silent_longer_than_stalled_upload_time_survives_the_scrubber(live_stack):
    user = User(live_stack.api_url)
    log = live_stack.root / "scrubber-daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            [script("glance-scrubber"), "--config-file", str(live_stack.api_conf), "--daemon"],
            stdout=out, stderr=subprocess.STDOUT, cwd=live_stack.root, start_new_session=True)
    try:
        data = os.urandom(3 * MIB)
        image = user.create_image(disk_format="raw", container_format="bare")
        upload = Upload(live_stack, user, image["id"], total=len(data))
        upload.send(data[:MIB])
        assert _wait_for(lambda: _partial_file_written(live_stack, image["id"]))
        # NOTE: nothing is sent for longer than stalled_upload_time while the scrubber
        # looks every second; a heartbeat that waited for data would let it delete the
        # partial file and requeue the image.
        time.sleep(STALLED_UPLOAD_MIN + 3)
        assert user.show(image["id"])["status"] == "saving"
        upload.send(data[MIB:])
        status, text = upload.answer()
        assert status == 204, text
    finally:
        stop_process(daemon)
    scrubber_log = log.read_text()
    assert scrubber_log.count("Scrubbed 0 images") >= STALLED_UPLOAD_MIN, scrubber_log
    assert f"Scrubbing image {image['id']}" not in scrubber_log
    shown = user.show(image["id"])
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert user.get(f"/v2/images/{image['id']}/file").content == data
    assert all_files(live_stack, image["id"]) == [image["id"]]


def test_scrubber_refuses_a_stalled_upload_time_under_the_floor(live_stack):
    proc = scrub(live_stack, extra="\n[DEFAULT]\nstalled_upload_time = 3\n")
    assert proc.returncode != 0
    assert "stalled_upload_time = 3 is too short" in proc.stderr, proc.stderr


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_silent_for_client_socket_timeout_gets_400_and_image_requeued(
        strict_stack, chunked):
    user = User(strict_stack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    upload = Upload(strict_stack, user, image["id"], total=None if chunked else 3 * MIB)
    upload.send(b"s" * MIB)
    started = time.monotonic()
    status, text = upload.answer()   # nothing more is sent
    waited = time.monotonic() - started
    assert status == 400, text
    assert "client_socket_timeout" in text
    assert SILENT - 1 < waited < SILENT + 10
    assert image_row(strict_stack, image["id"]) == ("queued", 0)
    assert user.show(image["id"])["size"] is None
    assert all_files(strict_stack, image["id"]) == []
    assert location_rows(strict_stack, image["id"]) == [("deleted", 1)]
    # nothing left for the scrubber, and the user can upload again
    proc = scrub(strict_stack)
    assert proc.returncode == 0, proc.stderr
    assert "Scrubbed 0 images" in proc.stderr
    assert user.upload(image["id"], b"again").status_code == 204
    assert user.show(image["id"])["status"] == "active"
