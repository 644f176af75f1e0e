"""DELETE /v2/stores/{store_id}/{image_id}: Glance's codes and messages, and the bytes.

A multi-store stack with two file stores (``fast``, ``slow``); an image gets a copy in
both (upload to fast, then its file copied into slow's directory and added as a location
through the registry).
"""
import contextlib
import shutil

import pytest
import requests

from tests.functional.conftest import Stack, User

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def mstack(tmp_path_factory):
    root = tmp_path_factory.mktemp("multistore")
    fast, slow = root / "fast", root / "slow"
    fast.mkdir()
    slow.mkdir()
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "multistore", api_extra=f"""
[DEFAULT]
enabled_backends = fast:file, slow:file

[glance_store]
default_backend = fast

[fast]
filesystem_store_datadir = {fast}

[slow]
filesystem_store_datadir = {slow}
""")
    running.fast, running.slow = fast, slow
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(running.stop)
        running.start()
        yield running


def _add_location(stack, image_id, url, store):
    """Give the image one more location, through the registry (file:// locations are
    refused by the api, as by Glance)."""
    headers = {"X-Roles": "admin", "X-Is-Admin": "True"}
    current = requests.get(f"{stack.registry_url}/images/{image_id}", headers=headers,
                           timeout=30).json()["image"]["locations"]
    locations = [{"url": loc["url"], "metadata": loc["metadata"]} for loc in current]
    locations.append({"url": url, "metadata": {"store": store}})
    resp = requests.patch(f"{stack.registry_url}/images/{image_id}", headers=headers,
                          json={"values": {"locations": locations}}, timeout=30)
    assert resp.status_code == 200, resp.text


def _in_both(stack, admin, data=b"two copies " * 1000):
    image = admin.create_active(data)
    shutil.copyfile(stack.fast / image["id"], stack.slow / image["id"])
    _add_location(stack, image["id"], f"file://{stack.slow}/{image['id']}", "slow")
    assert admin.show(image["id"])["stores"] == "fast,slow"
    return image, data


def test_delete_from_one_store(mstack):
    admin = User(mstack.api_url, roles="admin,member,reader")
    image, data = _in_both(mstack, admin)
    resp = admin.delete(f"/v2/stores/slow/{image['id']}")
    assert resp.status_code == 204, resp.text
    shown = admin.show(image["id"])
    assert shown["stores"] == "fast"
    assert not (mstack.slow / image["id"]).exists()
    assert (mstack.fast / image["id"]).exists()
    assert admin.get(f"/v2/images/{image['id']}/file").content == data
    # now it is the only copy
    resp = admin.delete(f"/v2/stores/fast/{image['id']}")
    assert resp.status_code == 403
    assert ("Cannot delete image data from the only store containing it. Consider "
            "deleting the image instead.") in resp.text
    resp = admin.delete(f"/v2/stores/slow/{image['id']}")
    assert resp.status_code in (403, 404)


def test_refusals(mstack):
    admin = User(mstack.api_url, roles="admin,member,reader")
    image, _ = _in_both(mstack, admin)
    resp = admin.delete(f"/v2/stores/bogus/{image['id']}")
    assert resp.status_code == 409
    assert "The selected store bogus is not available on this node." in resp.text
    missing = "7b7c3c5b-2c6d-4f79-9a62-6b1f4bd2a2f1"
    resp = admin.delete(f"/v2/stores/slow/{missing}")
    assert resp.status_code == 404 and f"Failed to find image {missing}" in resp.text
    member = User(mstack.api_url, project_id=admin.project_id)
    resp = member.delete(f"/v2/stores/slow/{image['id']}")
    assert resp.status_code == 403
    assert (mstack.slow / image["id"]).exists()
    queued = admin.create_image(disk_format="raw", container_format="bare")
    resp = admin.delete(f"/v2/stores/fast/{queued['id']}")
    assert resp.status_code == 409
    assert "It's not allowed to remove image data from store if image status is not " \
           "'active'" in resp.text


def test_not_in_that_store(mstack):
    admin = User(mstack.api_url, roles="admin,member,reader")
    first = admin.create_active(b"a" * 100)
    second = admin.create_active(b"b" * 100)
    # two locations, both in fast
    _add_location(mstack, first["id"], f"file://{mstack.fast}/{second['id']}", "fast")
    resp = admin.delete(f"/v2/stores/slow/{first['id']}")
    assert resp.status_code == 404
    assert f"Image {first['id']} is not stored in store slow." in resp.text


def test_single_store_site_has_no_such_route(stack, admin):
    image = admin.create_active(b"x")
    resp = admin.delete(f"/v2/stores/file/{image['id']}")
    assert resp.status_code == 404
