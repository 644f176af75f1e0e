"""GET /v2/images/{id}/file?prefer=<stores> (Glance 33's download-from-suggested-stores).

The multi-store stack of test_store_delete (two file stores, ``fast`` and ``slow``); the
slow copy is made to differ so the bytes tell which store served the download.
"""
import pytest

from tests.functional.conftest import User
from tests.functional.test_store_delete import _in_both, mstack  # noqa: F401 - fixture


@pytest.fixture
def admin(mstack):  # noqa: F811 - the imported fixture
    return User(mstack.api_url, roles="admin,member,reader")


def _two_copies(stack, admin):
    image, data = _in_both(stack, admin)
    other = bytes(reversed(data))
    (stack.slow / image["id"]).write_bytes(other)
    return image, data, other


def test_prefer_reads_that_store_first(mstack, admin):  # noqa: F811
    image, fast_bytes, slow_bytes = _two_copies(mstack, admin)
    path = "/v2/images/%s/file" % image["id"]
    assert admin.get(path).content == fast_bytes                    # location order
    assert admin.get(path + "?prefer=slow").content == slow_bytes
    assert admin.get(path + "?prefer=fast").content == fast_bytes
    assert admin.get(path + "?prefer=%20,slow%20,,").content == slow_bytes  # Glance strips
    assert admin.get(path + "?prefer=slow,fast").content == fast_bytes      # each keeps order
    ranged = admin.get(path + "?prefer=slow", headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, slow_bytes[:10])


def test_a_preferred_store_without_a_copy_falls_back(mstack, admin):  # noqa: F811
    data = b"only fast " * 100
    image = admin.create_active(data)
    resp = admin.get("/v2/images/%s/file?prefer=slow" % image["id"])
    assert (resp.status_code, resp.content) == (200, data)


def test_unknown_store_is_glances_400_even_without_data(mstack, admin):  # noqa: F811
    image = admin.create_image(disk_format="raw", container_format="bare")
    resp = admin.get("/v2/images/%s/file?prefer=fast,nope" % image["id"],
                     headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert "Store 'nope' is not configured." in resp.json()["message"]
    assert admin.get("/v2/images/%s/file?prefer=fast" % image["id"]).status_code == 204


def test_single_store_site_refuses_store_selection(stack):
    user = User(stack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    resp = user.get("/v2/images/%s/file?prefer=file" % image["id"],
                    headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert ("Store selection for download is not available when multiple backends are "
            "not enabled.") in resp.json()["message"]
