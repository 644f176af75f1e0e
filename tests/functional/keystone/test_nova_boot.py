"""A real Nova boots a server from an image of this service (issue 16).

tools/nova.sh start runs placement, nova-api, nova-conductor, nova-scheduler and nova-compute
(nova==34.0.0, libvirt driver on QEMU TCG) with Keystone; its ``[glance] api_servers`` names
NOVA_IMAGE_PORT, where this module starts a keystone-flavor stack. The demo user uploads a
1 MiB raw disk whose boot sector writes a line of its own to the serial port, and creates a
server from it with ``networks: none`` (no Neutron). What the user ends with:

- the server ACTIVE, its libvirt domain running (``virsh domstate``);
- Nova's image cache file (``instances/_base/<sha1 of the image id>``) with the md5 this
  service recorded as the image's checksum: the compute fetched the bytes from here;
- the guest's console log (``os-getConsoleOutput``) with the line the boot sector prints:
  QEMU ran the bytes this service served.

Where a component cannot run on this machine kind, tools/nova.sh exits with
"cannot run on this machine: <the component's error>" and the test skips with that line.
"""
import hashlib
import os
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.keystone.conftest import keystone_stack

pytestmark = [pytest.mark.keystone, pytest.mark.consumers]
NOVA_IMAGE_PORT = int(os.environ.get("GLANCE_CLONE_NOVA_IMAGE_PORT", "29293"))
SKIP_MARKERS = ("cannot run on this machine", "pip could not install")

# A boot sector (16-bit real mode): cli; ds=0; si=message; dx=COM1; write each byte of the
# NUL-terminated message to the serial port; then hlt forever. The message starts at 0x7c16.
BOOT_CODE = bytes.fromhex("FA31C08ED8BE167CBAF803AC84C07403EEEBF8F4EBFD")


def boot_disk(message):
    """A 1 MiB raw disk that SeaBIOS boots and that prints ``message`` on the serial port."""
    sector = BOOT_CODE + message.encode() + b"\r\n\0"
    # one bootable Linux partition (LBA 1, 2047 sectors): a valid MBR, as the format
    # inspectors of this service and of Nova want one
    entry = struct.pack("<B3BB3BII", 0x80, 0, 2, 0, 0x83, 0, 0, 0, 1, 2047)
    sector += b"\0" * (446 - len(sector)) + entry + b"\0" * 48 + b"\x55\xaa"
    return sector + b"\0" * (1024 * 1024 - len(sector))


@pytest.fixture(scope="module")
def nova():
    """Start (or find) the Nova of tools/nova.sh; return its KEY=value lines as a dict."""
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "nova.sh"), "start"],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        for line in proc.stderr.splitlines():
            if any(marker in line for marker in SKIP_MARKERS):
                pytest.skip("tools/nova.sh start: " + line)
        raise RuntimeError("tools/nova.sh start failed:\n" + proc.stderr[-3000:])
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert "NOVA_URL" in values, proc.stdout
    return values


@pytest.fixture(scope="module")
def image_stack(tmp_path_factory, keystone, nova):
    """The image service Nova's [glance] api_servers names."""
    with keystone_stack(tmp_path_factory, keystone, "nova-boot",
                        api_port=NOVA_IMAGE_PORT) as running:
        yield running


class Compute:
    """A caller of the compute API with a Keystone token (microversion 2.37: networks none)."""

    def __init__(self, url, token):
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token,
                                     "OpenStack-API-Version": "compute 2.37"})

    def call(self, method, path, **kwargs):
        """Send one call; a read (GET, or the console-output action) whose connection was
        reset is sent again, twice at most.

        NOTE: seen once in a full run: nova-api reset a connection in the middle of the
        test's polling (a recycled worker); a POST that creates or deletes is never resent.
        """
        body = kwargs.get("json") or {}
        read = method == "GET" or "os-getConsoleOutput" in body
        for attempt in range(3):
            try:
                return self.session.request(method, self.url + path, timeout=120, **kwargs)
            except requests.ConnectionError:
                if not read or attempt == 2:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")

    def wait(self, server_id, seconds=300):
        """Poll until the server leaves BUILD; return its body."""
        end = time.monotonic() + seconds
        while True:
            resp = self.call("GET", f"/servers/{server_id}")
            assert resp.status_code == 200, resp.text
            server = resp.json()["server"]
            if server["status"] != "BUILD" or time.monotonic() > end:
                return server
            time.sleep(2)

    def delete(self, server_id):
        self.call("DELETE", f"/servers/{server_id}")
        end = time.monotonic() + 120
        while self.call("GET", f"/servers/{server_id}").status_code != 404:
            assert time.monotonic() < end, "server %s not deleted after 120 s" % server_id
            time.sleep(2)


def test_nova_boots_a_server_from_an_image_of_this_service(nova, image_stack, keystone):
    demo = keystone.user(image_stack.api_url, "demo")
    line = "glance-clone guest " + uuid.uuid4().hex
    data = boot_disk(line)
    image = demo.create_image(name="boot-" + uuid.uuid4().hex[:8], disk_format="raw",
                              container_format="bare")
    assert demo.upload(image["id"], data).status_code == 204
    image = demo.show(image["id"])
    assert image["checksum"] == hashlib.md5(data).hexdigest()

    user = Compute(nova["NOVA_URL"], keystone.token("demo")[0])
    admin = Compute(nova["NOVA_URL"], keystone.token("admin")[0])
    resp = user.call("POST", "/servers", json={"server": {
        "name": "vm-" + uuid.uuid4().hex[:6], "imageRef": image["id"],
        "flavorRef": "gc-tiny", "networks": "none"}})
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    try:
        server = user.wait(server_id)
        assert server["status"] == "ACTIVE", server.get("fault", server)

        # the compute's image cache holds the bytes this service served
        cached = Path(nova["NOVA_INSTANCES_PATH"], "_base",
                      hashlib.sha1(image["id"].encode()).hexdigest())
        assert hashlib.md5(cached.read_bytes()).hexdigest() == image["checksum"]

        # the libvirt domain runs
        name = admin.call("GET", f"/servers/{server_id}").json()["server"][
            "OS-EXT-SRV-ATTR:instance_name"]
        state = subprocess.run(["virsh", "-c", "qemu:///system", "domstate", name],
                               capture_output=True, text=True, timeout=60)
        assert state.stdout.strip() == "running", state.stdout + state.stderr

        # and QEMU ran the boot sector it got from here
        end, output = time.monotonic() + 120, ""
        while line not in output and time.monotonic() < end:
            resp = user.call("POST", f"/servers/{server_id}/action",
                             json={"os-getConsoleOutput": {"length": 20}})
            assert resp.status_code == 200, resp.text
            output = resp.json()["output"]
            time.sleep(2)
        assert line in output, output
    finally:
        user.delete(server_id)
