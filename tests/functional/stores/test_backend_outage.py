"""A backend that goes away mid-upload: the image goes back to queued, and the partial
object it left is deleted by glance-scrubber once the backend is back.

Swift is reached through a TcpRelay the test cuts while the upload streams (segmented, so
segments are already written); the upload's reservation (glance_db.scrub) survives the
failed clean-up, and the scrubber finds it.
"""
import contextlib
import http.client
import subprocess
import time

import pytest
import swiftclient

from tests.conftest import script
from tests.functional.conftest import Stack, User
from tests.functional.stores.conftest import SWIFT_KEY, SWIFT_USER, TcpRelay, unique
from tests.functional.stores.contract import MiB


@pytest.fixture(scope="module")
def outage(swift_url, tmp_path_factory):
    relay = TcpRelay(int(swift_url.rsplit(":", 1)[1]))
    root = tmp_path_factory.mktemp("stack-outage")
    container = unique("glance-outage")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "outage", api_extra=f"""
[DEFAULT]
enabled_backends = cut:swift

[glance_store]
default_backend = cut

[cut]
swift_store_auth_address = {relay.url}/auth/v1.0
swift_store_auth_version = 1
swift_store_user = {SWIFT_USER}
swift_store_key = {SWIFT_KEY}
swift_store_container = {container}
swift_store_create_container_on_put = True
swift_store_large_object_size = 1
swift_store_large_object_chunk_size = 1
""")
    running.relay, running.container = relay, container
    running.swift = swiftclient.Connection(authurl=swift_url + "/auth/v1.0", user=SWIFT_USER,
                                           key=SWIFT_KEY, auth_version="1", retries=0)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(relay.cut)
        cleanup.callback(running.stop)
        running.start()
        yield running
        with contextlib.suppress(swiftclient.ClientException):
            for entry in running.swift.get_container(container, full_listing=True)[1]:
                running.swift.delete_object(container, entry["name"])
            running.swift.delete_container(container)


def _names(stack, image_id):
    try:
        listing = stack.swift.get_container(stack.container, full_listing=True)[1]
    except swiftclient.ClientException as e:
        if e.http_status == 404:
            return []
        raise
    return [o["name"] for o in listing if image_id in o["name"]]


def _upload_cut_midway(stack, user, image_id):
    """Send 6 MiB chunked; cut the backend once segments are stored; return the status."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=180)
    conn.putrequest("PUT", f"/v2/images/{image_id}/file")
    for key, value in user.session.headers.items():
        conn.putheader(key, value)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    piece = b"o" * (256 * 1024)
    sent, cut = 0, False
    try:
        while sent < 6 * MiB:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            if not cut and sent >= 3 * MiB:
                deadline = time.monotonic() + 30
                while not _names(stack, image_id) and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert _names(stack, image_id), "no segment was written before the cut"
                stack.relay.cut()
                cut = True
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body


def test_outage_mid_upload_then_scrubber_cleans_up(outage):
    user = User(outage.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    status, body = _upload_cut_midway(outage, user, image["id"])
    assert status == 503, body
    shown = user.show(image["id"])
    assert shown["status"] == "queued" and shown["size"] is None
    left = _names(outage, image["id"])
    assert left, "the outage should have left segments behind"

    outage.relay.resume()
    proc = subprocess.run([script("glance-scrubber"), "--config-file", str(outage.api_conf)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _names(outage, image["id"]) == []
    # the image takes data again once the backend is back
    assert user.upload(image["id"], b"x" * (2 * MiB)).status_code == 204
    assert user.show(image["id"])["status"] == "active"
