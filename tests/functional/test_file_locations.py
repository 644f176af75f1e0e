"""file:// locations outside the data directory: never served, never deleted, never accepted.

The attack: an ``active`` image row whose location is ``file:///…/glance-api.conf``, written
by calling glance-registry directly (in noauth mode it trusts the identity headers).
glance-api must answer a download as Glance does for an image whose data is gone (204, no
bytes) and delete the image without deleting the file. The api itself refuses user-supplied
``file``, ``filesystem`` and ``swift+config`` locations everywhere, with Glance 33's answers:
PATCH 400 "Invalid location", POST /locations 403 for a normal user, and for a service user
202 followed by a failed ``location_import`` task that adds nothing.
"""
import contextlib
import os
import time
import uuid

import pytest
import requests

from tests.functional.conftest import User, running_stack

TASK_WAIT = 30
REFUSED_SCHEMES = ("file", "filesystem", "swift+config", "FILE")


def forge_image(stack, owner, url, size):
    """Create an active image of ``owner`` with one location ``url`` through the registry."""
    headers = {"X-Project-Id": owner.project_id, "X-User-Id": "u-" + owner.project_id,
               "X-Roles": "member,reader"}
    values = {"name": "forged", "status": "active", "visibility": "private",
              "disk_format": "raw", "container_format": "bare", "size": size,
              "locations": [{"url": url, "metadata": {}}]}
    resp = requests.post(f"{stack.registry_url}/images", json={"image": values},
                         headers=headers, timeout=30)
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["image"]["id"]
    # NOTE: the forged image is the user's own, visible and active: a 204 below is the
    # store refusing the file, not the api hiding the image.
    assert owner.show(image_id)["status"] == "active"
    return image_id


VARIANTS = ("absolute", "filesystem-scheme", "dot-dot", "symlink")


@pytest.fixture
def location_of(stack):
    """Return f(variant, path): a location URL naming ``path`` (outside the datadir)."""
    links = []

    def location(variant, path):
        if variant == "symlink":
            links.append(stack.datadir / f"link-{uuid.uuid4().hex}")
            links[-1].symlink_to(path)
            return f"file://{links[-1]}"
        return {"absolute": f"file://{path}",
                "filesystem-scheme": f"filesystem://{path}",
                "dot-dot": f"file://{stack.datadir}/{os.path.relpath(path, stack.datadir)}",
                }[variant]

    yield location
    for link in links:
        with contextlib.suppress(OSError):
            link.unlink()


@pytest.mark.parametrize("variant", VARIANTS)
def test_download_does_not_serve_the_api_config(stack, user, location_of, variant):
    secret = stack.api_conf.read_bytes()
    url = location_of(variant, stack.api_conf)
    image_id = forge_image(stack, user, url, len(secret))
    resp = user.get(f"/v2/images/{image_id}/file")
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    resp = user.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=0-99"})
    assert resp.status_code == 204 and resp.content == b""
    log = (stack.root / "glance-api.log").read_text(errors="replace")
    assert f"Refusing location {url} of file store file" in log


@pytest.mark.parametrize("variant", VARIANTS)
def test_delete_keeps_the_file(stack, user, location_of, variant):
    victim = stack.root / f"victim-{uuid.uuid4().hex}"
    victim.write_bytes(b"not an image")
    url = location_of(variant, victim)
    image_id = forge_image(stack, user, url, 12)
    resp = user.delete(f"/v2/images/{image_id}")
    # NOTE: as Glance for data already gone from the store: the image is deleted.
    assert resp.status_code == 204, resp.text
    assert user.get(f"/v2/images/{image_id}").status_code == 404
    assert victim.read_bytes() == b"not an image"
    if variant == "symlink":   # the refused location is left whole, link included
        assert os.path.islink(url[len("file://"):])


def test_normal_image_still_served_and_deleted(stack, user):
    image = user.create_active(b"real image data")
    assert user.get(f"/v2/images/{image['id']}/file").content == b"real image data"
    assert user.delete(f"/v2/images/{image['id']}").status_code == 204
    assert not (stack.datadir / image["id"]).exists()


# --- the api refuses user-supplied locations (show_multiple_locations for PATCH)

@pytest.fixture(scope="module")
def lstack(tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, "sqlite", "file-locations", worker_id_safe,
                       api_extra="[DEFAULT]\nshow_multiple_locations = True\n") as running:
        yield running


def _message(resp):
    return resp.json()["message"]


def _unchanged(user, image_id):
    """Assert that the queued image got no location and no size."""
    image = user.show(image_id)
    assert (image["status"], image["size"], image["locations"]) == ("queued", None, [])


@pytest.mark.parametrize("scheme", REFUSED_SCHEMES)
def test_patch_add_refused(lstack, scheme):
    user = User(lstack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    url = f"{scheme}://{lstack.api_conf}"
    resp = user.patch(f"/v2/images/{image['id']}",
                      [{"op": "add", "path": "/locations/-", "value": {"url": url,
                                                                       "metadata": {}}}])
    assert resp.status_code == 400, resp.text
    assert _message(resp) == "Invalid location<br /><br />\n\n\n"
    _unchanged(user, image["id"])


@pytest.mark.parametrize("scheme", REFUSED_SCHEMES)
def test_patch_replace_refused(lstack, scheme):
    user = User(lstack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    url = f"{scheme}://{lstack.api_conf}"
    resp = user.patch(f"/v2/images/{image['id']}",
                      [{"op": "replace", "path": "/locations",
                        "value": [{"url": url, "metadata": {}}]}])
    assert resp.status_code == 400, resp.text
    assert _message(resp) == "Invalid location<br /><br />\n\n\n"
    _unchanged(user, image["id"])


def test_patch_refuses_file_of_the_datadir_too(lstack):
    # Glance refuses the scheme wherever the path points: no taking another image's file.
    user = User(lstack.api_url)
    other = lstack.datadir / str(uuid.uuid4())
    other.write_bytes(b"someone else's image data")
    image = user.create_image(disk_format="raw", container_format="bare")
    value = {"url": f"file://{other}", "metadata": {}}
    resp = user.patch(f"/v2/images/{image['id']}",
                      [{"op": "add", "path": "/locations/-", "value": value}])
    assert resp.status_code == 400, resp.text
    assert _message(resp) == "Invalid location<br /><br />\n\n\n"
    _unchanged(user, image["id"])


def test_create_with_locations_refused(lstack):
    user = User(lstack.api_url)
    resp = user.post("/v2/images", json={
        "name": "x", "locations": [{"url": f"file://{lstack.api_conf}", "metadata": {}}]})
    assert resp.status_code == 403, resp.text
    assert _message(resp) == "Attribute 'locations' is reserved.<br /><br />\n\n\n"


def test_location_api_refuses_normal_user(lstack):
    user = User(lstack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.post(f"/v2/images/{image['id']}/locations",
                     json={"url": f"file://{lstack.api_conf}"})
    assert resp.status_code == 403, resp.text
    assert _message(resp) == ("http store must be enabled to use location API by normal "
                              "user.<br /><br />\n\n\n")
    _unchanged(user, image["id"])


def _wait_tasks(user, image_id):
    deadline = time.monotonic() + TASK_WAIT
    while True:
        rows = user.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if rows and all(t["status"] in ("success", "failure") for t in rows):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)


@pytest.mark.parametrize("scheme", REFUSED_SCHEMES)
def test_location_api_service_user_task_fails(lstack, scheme):
    user = User(lstack.api_url)
    service = User(lstack.api_url, project_id=user.project_id)
    service.session.headers["X-Service-Roles"] = "service"
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = service.post(f"/v2/images/{image['id']}/locations",
                        json={"url": f"{scheme}://{lstack.api_conf}"})
    assert resp.status_code == 202, resp.text
    tasks = _wait_tasks(user, image["id"])
    assert [(t["type"], t["status"], t["message"]) for t in tasks] == \
        [("location_import", "failure", "Task failed due to Internal Error")]
    # Nothing was added, not even the file's size.
    _unchanged(user, image["id"])
    admin = User(lstack.api_url, roles="admin,member,reader")
    assert admin.get(f"/v2/images/{image['id']}/locations").json() == []
