"""The real openstack and glance CLIs, typed as a user would, against the running stack."""
import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import script

# NOTE: what the clients see does not depend on the database (the HTTP suites cover both), and
# each CLI call costs ~2 s of client start-up, so these run on the SQLite stack only.
pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def run(tmp_path, *args, check=True):
    """Run a CLI with a clean environment (no OS_* variables, no clouds.yaml); return it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    if check:
        assert proc.returncode == 0, f"{args}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    return proc


def openstack(stack, tmp_path, *args, check=True):
    return run(tmp_path, script("openstack"), "--os-auth-type", "none",
               "--os-endpoint", stack.api_url, *args, check=check)


def test_openstack_cli_image_lifecycle(stack, tmp_path):
    name = "cirros-" + uuid.uuid4().hex[:8]
    disk = tmp_path / "disk.img"
    data = os.urandom(2 * 1024 * 1024 + 7)
    disk.write_bytes(data)
    created = json.loads(openstack(
        stack, tmp_path, "image", "create", name, "--file", str(disk), "--disk-format", "raw",
        "--container-format", "bare", "--public", "-f", "json").stdout)
    assert created["name"] == name
    assert created["disk_format"] == "raw" and created["container_format"] == "bare"
    assert created["visibility"] == "public"
    image_id = created["id"]

    listing = openstack(stack, tmp_path, "image", "list").stdout
    assert name in listing and image_id in listing and "active" in listing

    shown = json.loads(openstack(stack, tmp_path, "image", "show", name, "-f", "json").stdout)
    assert (shown["id"], shown["status"], shown["size"]) == (image_id, "active", len(data))
    assert shown["checksum"]
    table = openstack(stack, tmp_path, "image", "show", name).stdout
    for field in ("container_format", "disk_format", "id", "name", "status", "visibility"):
        assert field in table

    out = tmp_path / "out.img"
    openstack(stack, tmp_path, "image", "save", "--file", str(out), name)
    assert out.read_bytes() == data


def test_openstack_cli_protected_and_tags(stack, tmp_path):
    name = "cirros-" + uuid.uuid4().hex[:8]
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    openstack(stack, tmp_path, "image", "create", name, "--file", str(disk), "--disk-format",
              "raw", "--container-format", "bare", "--public")
    openstack(stack, tmp_path, "image", "set", "--protected", name)
    refused = openstack(stack, tmp_path, "image", "delete", name, check=False)
    assert refused.returncode != 0
    shown = json.loads(openstack(stack, tmp_path, "image", "show", name, "-f", "json").stdout)
    assert shown["protected"] is True and shown["status"] == "active"

    openstack(stack, tmp_path, "image", "set", "--tag", "x", name)
    shown = json.loads(openstack(stack, tmp_path, "image", "show", name, "-f", "json").stdout)
    assert "x" in shown["tags"]

    openstack(stack, tmp_path, "image", "set", "--unprotected", name)
    openstack(stack, tmp_path, "image", "delete", name)
    gone = openstack(stack, tmp_path, "image", "show", name, check=False)
    assert gone.returncode != 0


def test_glance_cli_image_list(stack, admin, tmp_path):
    image = admin.create_image(name="glance-cli-" + uuid.uuid4().hex[:8], visibility="public")
    out = run(tmp_path, script("glance"), "--os-image-url", stack.api_url, "--os-auth-token",
              "x", "image-list").stdout
    assert image["id"] in out and image["name"] in out
    shown = run(tmp_path, script("glance"), "--os-image-url", stack.api_url,
                "--os-auth-token", "x", "image-show", image["id"]).stdout
    assert image["name"] in shown and "queued" in shown and "visibility" in shown
