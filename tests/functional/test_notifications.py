"""Notifications through the machine's real RabbitMQ, as Glance 33 sends them.

The stack runs with ``[oslo_messaging_notifications] driver = messagingv2`` and a topic of its
own; the test reads the queues oslo.messaging declares (``<topic>.info``/``.error`` on the
``glance`` exchange) with kombu and compares event types, order and payloads, the image
payload field for field with real Glance 33's ``format_image_notification``.
"""
import contextlib
import datetime
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.functional.conftest import Stack, User

kombu = pytest.importorskip("kombu")

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
WAIT = 20
NOTIFY_CONF = """
[DEFAULT]
workers = 1

[oslo_messaging_notifications]
driver = messagingv2
transport_url = rabbit://guest:guest@127.0.0.1:5672/
topics = {topic}

[import_filtering_opts]
allowed_hosts = [127.0.0.1]
"""
# Builds a Glance 33 domain Image from a JSON image (as the api shows it) and prints what
# glance.notifier.format_image_notification makes of it.
ORACLE = """
import datetime, json, sys
from glance import domain, notifier
src = json.load(sys.stdin)
at = lambda s: datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%SZ')
img = domain.Image(
    image_id=src['id'], status=src['status'], visibility=src['visibility'],
    min_disk=src['min_disk'], min_ram=src['min_ram'], protected=src['protected'],
    created_at=at(src['created_at']), updated_at=at(src['updated_at']), owner=src['owner'],
    name=src['name'], checksum=src['checksum'], disk_format=src['disk_format'],
    container_format=src['container_format'], size=src['size'],
    virtual_size=src['virtual_size'], os_hidden=src['os_hidden'],
    extra_properties=src['properties'], tags=set(src['tags']), locations=[])
print(json.dumps(notifier.format_image_notification(img)))
"""


def _connect():
    conn = kombu.Connection(AMQP, connect_timeout=5)
    try:
        conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means: no broker here
        subprocess.run(["bash", "tools/ensure-services.sh"], capture_output=True, timeout=120)
        try:
            conn = kombu.Connection(AMQP, connect_timeout=5)
            conn.ensure_connection(max_retries=3)
        except Exception:  # noqa: BLE001
            pytest.skip(f"RabbitMQ not reachable on 127.0.0.1:5672: {exc}")
    return conn


@pytest.fixture(scope="module")
def rabbit():
    conn = _connect()
    yield conn
    conn.release()


@pytest.fixture(scope="module")
def notifying(tmp_path_factory, rabbit):
    """A stack sending notifications to a topic of its own; yields (stack, topic)."""
    topic = "glance_test_" + uuid.uuid4().hex[:12]
    root = tmp_path_factory.mktemp("stack-notify")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "notify",
                    api_extra=NOTIFY_CONF.format(topic=topic))
    try:
        running.start()
        yield running, topic
    finally:
        running.stop()
        channel = rabbit.channel()
        for priority in ("info", "error"):
            with contextlib.suppress(Exception):
                channel.queue_delete(f"{topic}.{priority}")
        channel.close()


def _drain(conn, queue, count, wait=WAIT):
    """Return ``count`` notifications (the inner oslo.message dicts) read from ``queue``."""
    channel = conn.channel()
    got = []
    deadline = time.monotonic() + wait
    try:
        while len(got) < count and time.monotonic() < deadline:
            try:
                message = channel.basic_get(queue, no_ack=True)
            except Exception:  # noqa: BLE001 - the queue is declared on the first send
                message = None
                channel.close()
                channel = conn.channel()
            if message is None:
                time.sleep(0.05)
                continue
            body = json.loads(message.body)
            # NOTE: driver "messagingv2" wraps the message in an envelope; "messaging" not.
            got.append(json.loads(body["oslo.message"]) if "oslo.message" in body else body)
    finally:
        channel.close()
    return got


def _glance33(image):
    """Return real Glance 33's image payload for an image as the api shows it."""
    from tests.functional.glance33_oracle import glance33_bin

    python = glance33_bin() / "python"
    proc = subprocess.run([str(python), "-c", ORACLE], input=json.dumps(image),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _recent(stamp, slack=120):
    when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return abs((now - when).total_seconds()) < slack


def test_image_life_cycle_notifications(notifying, rabbit):
    running, topic = notifying
    owner, other = User(running.api_url), User(running.api_url)
    data = os.urandom(300 * 1024 + 7)
    image = owner.create_image(name="notify-me", disk_format="raw", container_format="bare",
                               visibility="shared", tags=["t1"], flavour="vanilla")
    assert owner.upload(image["id"], data).status_code == 204
    got = owner.get(f"/v2/images/{image['id']}/file")
    assert got.status_code == 200 and got.content == data
    resp = owner.post(f"/v2/images/{image['id']}/members", json={"member": other.project_id})
    assert resp.status_code == 200, resp.text
    active = owner.show(image["id"])
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204

    events = _drain(rabbit, f"{topic}.info", 9)
    # NOTE: image.send is published once the whole body has left the api's transfer
    # process, which can be after the client has read it and sent its next request: the
    # member's event may come first (in Glance too, a send is only known once it ended).
    if [e["event_type"] for e in events[6:8]] == ["image.member.create", "image.send"]:
        events[6], events[7] = events[7], events[6]
    assert [e["event_type"] for e in events] == [
        "image.create", "image.update", "image.prepare", "image.upload", "image.activate",
        "image.update", "image.send", "image.member.create", "image.delete"]
    assert {e["publisher_id"] for e in events} == {"image.localhost"}
    assert {e["priority"] for e in events} == {"INFO"}
    create, saving, prepare, upload, activate, done, send, member, delete = (
        e["payload"] for e in events)

    # image.create: field for field what Glance 33's formatter makes of the same image.
    assert create == _glance33(dict(image, properties={"flavour": "vanilla"}))
    assert create["status"] == "queued" and create["owner"] == owner.project_id
    assert saving["status"] == prepare["status"] == "saving"
    assert prepare["os_glance_importing_to_stores"] == []
    assert prepare["os_glance_failed_import"] == []
    for payload in (upload, activate, done):
        assert payload["status"] == "active"
        assert payload["checksum"] == active["checksum"]
        assert payload["size"] == len(data)
    assert set(upload) == set(create) | {"os_glance_importing_to_stores",
                                         "os_glance_failed_import"}
    assert done == _glance33(dict(active, properties={"flavour": "vanilla"}))
    assert send == {"bytes_sent": len(data), "image_id": image["id"],
                    "owner_id": owner.project_id, "receiver_tenant_id": owner.project_id,
                    "receiver_user_id": "u-" + owner.project_id}
    assert member["image_id"] == image["id"] and member["member_id"] == other.project_id
    assert member["status"] == "pending" and member["deleted"] is False
    assert set(member) == {"image_id", "member_id", "status", "created_at", "updated_at",
                           "deleted", "deleted_at"}
    assert delete["id"] == image["id"] and delete["status"] == "deleted"
    assert delete["deleted"] is True and _recent(delete["deleted_at"])
    assert _drain(rabbit, f"{topic}.info", 1, wait=1) == []   # nothing more


def test_failed_upload_sends_error_then_restores(notifying, rabbit):
    running, topic = notifying
    owner = User(running.api_url)
    image = owner.create_image(disk_format="raw", container_format="bare")
    resp = owner.upload(image["id"], b"x" * 100, **{"x-openstack-image-size": "200"})
    assert resp.status_code == 400, resp.text

    errors = _drain(rabbit, f"{topic}.error", 1)
    assert [(e["event_type"], e["priority"]) for e in errors] == [("image.upload", "ERROR")]
    assert image["id"] in errors[0]["payload"]
    assert errors[0]["payload"].startswith("Failed to upload image data for image ")
    events = _drain(rabbit, f"{topic}.info", 4)
    assert [e["event_type"] for e in events] == [
        "image.create", "image.update", "image.prepare", "image.update"]
    assert [e["payload"]["status"] for e in events] == ["queued", "saving", "saving",
                                                        "queued"]


def test_task_life_cycle_notifications(notifying, rabbit):
    running, topic = notifying
    admin = User(running.api_url, roles="admin,member,reader")
    # NOTE: no import_from_format: the task starts, then fails in its runner.
    resp = admin.post("/v2/tasks", json={"type": "import", "input": {
        "import_from": "http://127.0.0.1:80/x.raw", "image_properties": {}}})
    assert resp.status_code == 201, resp.text
    task_id = resp.json()["id"]

    events = _drain(rabbit, f"{topic}.info", 4)
    assert [e["event_type"] for e in events] == [
        "task.create", "task.run", "task.processing", "task.failure"]
    payloads = [e["payload"] for e in events]
    assert [p["status"] for p in payloads] == ["pending", "pending", "processing", "failure"]
    for p in payloads:
        # Glance 33's format_task_notification: no input, result or message (sensitive)
        assert set(p) == {"id", "type", "status", "result", "owner", "message", "expires_at",
                          "created_at", "updated_at", "deleted", "deleted_at"}
        assert p["id"] == task_id and p["type"] == "import"
        assert p["owner"] == admin.project_id
        assert p["result"] is None and p["message"] is None and p["deleted"] is False
    shown = admin.get(f"/v2/tasks/{task_id}").json()
    assert shown["status"] == "failure"
    assert payloads[-1]["expires_at"] == shown["expires_at"]
