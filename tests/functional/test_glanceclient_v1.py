"""The seeds' own CLI: python-glanceclient 2.17.1 with OS_IMAGE_API_VERSION=1, verbatim.

The client lives in a scratch venv built by tools/glanceclient-v1.sh (the project's own
python-glanceclient is newer and has no v1). Commands run on a pseudo-terminal, as typed:
``--progress`` draws only on a tty, and a non-tty stdin would count as image data.
"""
import hashlib
import json
import os
import pty
import select
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import script

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]
SEED_FIELDS = ("checksum", "container_format", "created_at", "deleted", "deleted_at",
               "disk_format", "id", "is_public", "min_disk", "min_ram", "name", "owner",
               "protected", "size", "status", "updated_at", "virtual_size")


@pytest.fixture(scope="session")
def glance_v1():
    """Return the path of glanceclient 2.17.1's `glance` (built once)."""
    proc = subprocess.run(["bash", str(ROOT / "tools" / "glanceclient-v1.sh")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def on_tty(args, env, cwd, timeout=120):
    """Run args with stdin/stdout/stderr on a pty; return (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            close_fds=True)
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"{args} timed out; output so far:\n{out!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:   # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return proc.wait(timeout), out.decode("utf-8", "replace").replace("\r\n", "\n")


class Glance:
    """`glance` as a noauth user types it: OS_IMAGE_API_VERSION=1 and an endpoint."""

    def __init__(self, binary, stack, tmp_path):
        self.binary, self.cwd = binary, tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update(HOME=str(tmp_path), OS_IMAGE_API_VERSION="1",
                        OS_IMAGE_URL=stack.api_url, OS_AUTH_TOKEN="noauth", TERM="dumb")

    def __call__(self, *args, check=True):
        code, out = on_tty([self.binary, *args], self.env, self.cwd)
        if check:
            assert code == 0, f"glance {' '.join(args)} exited {code}:\n{out}"
        return code, out


def table(output):
    """Return {Property: Value} of a prettytable printed by the CLI."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] != "Property":
            rows[cells[0]] = cells[1]
    return rows


def test_seed_image_create_verbatim(stack, tmp_path, glance_v1):
    glance = Glance(glance_v1, stack, tmp_path)
    disk = tmp_path / "cirros-0.3.3-x86_64-disk.img"
    data = os.urandom(3 * 1024 * 1024 + 11)
    disk.write_bytes(data)
    name = "cirros-0.3.3-x86_64"
    _, out = glance("image-create", "--name", name, "--file", disk.name, "--disk-format",
                    "raw", "--container-format", "bare", "--is-public", "True", "--progress")
    assert "100%" in out
    rows = table(out)
    assert set(SEED_FIELDS) <= set(rows), out
    assert (rows["is_public"], rows["status"], rows["size"]) == ("True", "active",
                                                                 str(len(data)))
    assert rows["checksum"] == hashlib.md5(data).hexdigest()
    image_id = rows["id"]
    assert stack.stored_files(image_id) == [image_id]
    assert (stack.datadir / image_id).read_bytes() == data

    _, listing = glance("image-list")
    assert image_id in listing and name in listing

    glance("image-download", "--file", "out.img", image_id)
    assert (tmp_path / "out.img").read_bytes() == data

    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)
    shown = subprocess.run([script("openstack"), "--os-auth-type", "none", "--os-endpoint",
                            stack.api_url, "image", "show", image_id, "-f", "json"],
                           capture_output=True, text=True, timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["visibility"] == "public"


def test_other_v1_commands(stack, tmp_path, glance_v1):
    glance = Glance(glance_v1, stack, tmp_path)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 65537)
    name = "v1cli-" + uuid.uuid4().hex[:8]
    _, out = glance("image-create", "--name", name, "--file", disk.name, "--disk-format",
                    "raw", "--container-format", "bare", "--is-public", "False")
    image_id = table(out)["id"]

    _, out = glance("image-show", name)
    assert table(out)["id"] == image_id and table(out)["is_public"] == "False"

    _, out = glance("image-update", "--property", "os_distro=cirros", "--is-protected",
                    "True", image_id)
    rows = table(out)
    assert rows["Property 'os_distro'"] == "cirros" and rows["protected"] == "True"

    # NOTE: glanceclient 2.17.1 reports a failed delete and goes on (exit code 0).
    _, out = glance("image-delete", image_id, check=False)
    assert "403 Forbidden" in out and "Unable to delete image" in out, out
    assert table(glance("image-show", image_id)[1])["status"] == "active"
    glance("image-update", "--is-protected", "False", image_id)

    member = "p-" + uuid.uuid4().hex[:8]
    glance("member-create", image_id, member)
    _, out = glance("member-list", "--image-id", image_id)
    assert member in out
    glance("member-delete", image_id, member)
    _, out = glance("member-list", "--image-id", image_id)
    assert member not in out

    glance("image-delete", image_id)
    assert stack.stored_files(image_id) == []
    # NOTE: noauth's caller is an admin, who sees deleted rows by id, as in Queens; the
    # client then refuses a second delete itself.
    _, out = glance("image-show", image_id)
    assert table(out)["status"] == "deleted" and table(out)["deleted"] == "True"
    code, out = glance("image-delete", image_id, check=False)
    assert code != 0 and f"No image with an ID of '{image_id}' exists." in out, out


def test_image_update_file_into_queued_image(stack, tmp_path, glance_v1):
    glance = Glance(glance_v1, stack, tmp_path)
    name = "v1put-" + uuid.uuid4().hex[:8]
    # stdin is a tty: no data, a reservation
    _, out = glance("image-create", "--name", name, "--disk-format", "raw",
                    "--container-format", "bare")
    rows = table(out)
    image_id = rows["id"]
    assert (rows["status"], rows["size"], rows["checksum"]) == ("queued", "0", "None")

    disk = tmp_path / "later.img"
    data = os.urandom(2 * 1024 * 1024 + 5)
    disk.write_bytes(data)
    _, out = glance("image-update", "--file", disk.name, "--progress", image_id)
    assert "100%" in out
    rows = table(out)
    assert (rows["status"], rows["size"]) == ("active", str(len(data)))
    assert rows["checksum"] == hashlib.md5(data).hexdigest()
    assert rows["name"] == name
    assert (stack.datadir / image_id).read_bytes() == data

    glance("image-download", "--file", "back.img", name)
    assert (tmp_path / "back.img").read_bytes() == data
    # a second upload: the client itself refuses an active image
    code, out = glance("image-update", "--file", disk.name, image_id, check=False)
    assert code != 0 and "Unable to upload image data to an image which is active" in out
    assert (stack.datadir / image_id).read_bytes() == data
    glance("image-delete", image_id)
