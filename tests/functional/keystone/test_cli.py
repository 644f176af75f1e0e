"""The install/seed guide's CLI steps, typed with real Keystone tokens (openstack and glance).

Each CLI authenticates against Keystone with a password and is pointed at the stack under test
with OS_IMAGE_ENDPOINT_OVERRIDE (openstack) / --os-image-url (glance), so parallel runs never
fight over the catalog. The stack is this module's own: the guide's image names are used
unchanged.
"""
import contextlib
import hashlib
import json
import os
import pty
import shutil
import struct
import subprocess

import pytest

from tests.conftest import script
from tests.functional.keystone.conftest import ACCOUNTS, PASSWORD, clean_env, keystone_stack

pytestmark = pytest.mark.keystone


@pytest.fixture(scope="module")
def cli_stack(tmp_path_factory, keystone):
    with keystone_stack(tmp_path_factory, keystone, "ks-cli") as running:
        yield running


@pytest.fixture(scope="module")
def cirros(tmp_path_factory):
    """A small qcow2 file (a hand-made empty one when qemu-img is missing)."""
    path = tmp_path_factory.mktemp("cirros") / "cirros.img"
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"],
                       check=True, timeout=60)
    else:
        # NOTE: an empty 64 MiB qcow2 v2 as qemu-img makes it: header, L1 table at 3
        # clusters, one refcount cluster; uploads are inspected, so it must be valid.
        header = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", 2, 0, 0, 16, 64 << 20, 0, 1,
                             3 << 16, 1 << 16, 1, 0, 0)
        path.write_bytes(header + bytes((4 << 16) - len(header)))
    return path


class Cli:
    """Run the openstack / glance CLIs as one Keystone account against one stack."""

    def __init__(self, stack, keystone, user, home):
        self.env = clean_env(home)
        self.env.update({
            "OS_AUTH_URL": keystone.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
            "OS_USERNAME": user, "OS_PASSWORD": PASSWORD, "OS_PROJECT_NAME": ACCOUNTS[user],
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": "RegionOne", "OS_IMAGE_ENDPOINT_OVERRIDE": stack.api_url})
        self.image_url = stack.api_url
        self.home = home
        self.project_id = keystone.token(user)[1]

    def run(self, *args, check=True, tty=False):
        if tty:
            proc = run_on_tty(list(args), self.env, self.home)
        else:
            proc = subprocess.run(list(args), capture_output=True, text=True, timeout=180,
                                  env=self.env, cwd=self.home, stdin=subprocess.DEVNULL)
        if check:
            assert proc.returncode == 0, f"{args}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
        return proc

    def openstack(self, *args, check=True):
        return self.run(script("openstack"), *args, check=check)

    def glance(self, *args, check=True, tty=False):
        return self.run(script("glance"), "--os-image-url", self.image_url, *args, check=check,
                        tty=tty)

    def show(self, image):
        return json.loads(self.openstack("image", "show", image, "-f", "json").stdout)

    def listed(self):
        return {i["ID"]: i for i in json.loads(self.openstack("image", "list", "-f",
                                                              "json").stdout)}


@pytest.fixture(scope="module")
def cli(cli_stack, keystone, tmp_path_factory):
    """cli(user) -> Cli of that account."""
    home = tmp_path_factory.mktemp("cli-home")
    return lambda user: Cli(cli_stack, keystone, user, home)


def run_on_tty(args, env, cwd):
    """Run ``args`` with stdout on a pseudo-terminal (the glance CLI draws --progress only
    there); return a CompletedProcess with the terminal's text as stdout."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL)
    finally:
        os.close(slave)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the child closed the terminal
        while chunk := os.read(master, 65536):
            chunks.append(chunk)
    os.close(master)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait(180)
    return subprocess.CompletedProcess(args, proc.returncode,
                                       b"".join(chunks).decode().replace("\r\n", "\n"), stderr)


def glance_field(table, name):
    """Return a field of the glance CLI's property table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no {name} in\n{table}")


def test_seed_guide_as_admin(cli, cirros):
    admin = cli("admin")
    data = cirros.read_bytes()
    admin.openstack("image", "create", "cirros", "--file", str(cirros), "--disk-format",
                    "qcow2", "--container-format", "bare", "--public")
    listing = admin.openstack("image", "list").stdout
    assert "cirros" in listing and "active" in listing
    shown = admin.show("cirros")
    assert shown["status"] == "active" and shown["visibility"] == "public"
    assert shown["size"] == len(data) and shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["owner"] == admin.project_id
    first_id = shown["id"]

    out = admin.glance("image-create", "--name", "cirros", "--file", str(cirros),
                       "--disk-format", "qcow2", "--container-format", "bare",
                       "--visibility=public").stdout
    assert glance_field(out, "status") == "active" and glance_field(out, "name") == "cirros"
    second_id = glance_field(out, "id")
    proc = admin.glance("image-create", "--name", "cirros-progress", "--file", str(cirros),
                        "--disk-format", "qcow2", "--container-format", "bare",
                        "--visibility=public", "--progress", tty=True)
    assert "[=============================>] 100%" in proc.stdout
    assert glance_field(proc.stdout, "status") == "active"
    listing = admin.glance("image-list").stdout
    assert first_id in listing and second_id in listing and "cirros-progress" in listing

    both = admin.openstack("image", "show", "cirros", check=False)
    assert both.returncode == 1
    assert "More than one Image exists with the name 'cirros'." in both.stderr

    admin.openstack("image", "set", "--protected", second_id)
    assert admin.show(second_id)["protected"] is True
    refused = admin.openstack("image", "delete", second_id, check=False)
    assert refused.returncode == 1 and second_id in admin.listed()
    admin.openstack("image", "set", "--unprotected", second_id)
    assert admin.show(second_id)["protected"] is False
    admin.openstack("image", "delete", second_id)
    assert second_id not in admin.listed()
    assert admin.show("cirros")["id"] == first_id


def test_sharing_between_demo_projects(cli, cirros):
    demo, alt = cli("demo"), cli("alt_demo")
    create = ("--file", str(cirros), "--disk-format", "qcow2", "--container-format", "bare",
              "--shared", "-f", "json")
    by_name = json.loads(demo.openstack("image", "create", "shared-by-name", *create).stdout)
    by_id = json.loads(demo.openstack("image", "create", "shared-by-id", *create).stdout)
    pending = json.loads(demo.openstack("image", "create", "shared-pending", *create).stdout)

    # demo may not look projects up by name in Keystone, so the CLI sends the name as is
    out = json.loads(demo.openstack("image", "add", "project", by_name["id"], "alt_demo",
                                    "-f", "json").stdout)
    assert (out["member_id"], out["status"]) == ("alt_demo", "pending")
    out = json.loads(demo.openstack("image", "add", "project", by_id["id"], alt.project_id,
                                    "-f", "json").stdout)
    assert (out["member_id"], out["status"]) == (alt.project_id, "pending")
    out = demo.glance("member-create", pending["id"], alt.project_id).stdout
    assert alt.project_id in out and "pending" in out

    assert not {by_id["id"], pending["id"]} & set(alt.listed())
    out = alt.glance("member-update", by_id["id"], alt.project_id, "accepted").stdout
    assert "accepted" in out
    listed = alt.listed()
    assert by_id["id"] in listed and pending["id"] not in listed

    refused = alt.openstack("image", "set", "--accept", "shared-pending", check=False)
    assert refused.returncode == 1
    assert "No Image found for shared-pending" in refused.stderr
    members = demo.glance("member-list", "--image-id", pending["id"]).stdout
    assert "pending" in members and "accepted" not in members
