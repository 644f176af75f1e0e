"""v1 copy-from and location through [import_filtering_opts]; malformed x-image-meta-*
headers answered 4xx, never 5xx; v1 never allows what v2 forbids a caller."""
import hashlib
import time
import uuid

import pytest

from tests.functional.conftest import User
from tests.functional.test_import import DATA, Counter, _start, www  # noqa: F401 - fixture

SQLITE = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
FORMATS = {"x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare"}


@pytest.fixture(scope="module")
def counter():
    return Counter()


@pytest.fixture(scope="module")
def filtered(tmp_path_factory, www, counter):  # noqa: F811 - www is the imported fixture
    """A stack whose [import_filtering_opts] allow 127.0.0.1 on the web server's port only."""
    root = tmp_path_factory.mktemp("v1-sources")
    stack = _start(root, f"""
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [{www[0]}]
""")
    yield stack
    stack.stop()


def wait_status(user, image_id, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = user.request("HEAD", f"/v1/images/{image_id}").headers.get(
            "x-image-meta-status")
        if status in wanted:
            return status
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} never reached {wanted}")


def test_copy_from_allowed_url_is_copied(filtered, www):  # noqa: F811
    user = User(filtered.api_url)
    resp = user.post("/v1/images", headers={
        **FORMATS, "x-image-meta-name": "copied",
        "x-glance-api-copy-from": f"http://127.0.0.1:{www[0]}/data.raw"})
    assert resp.status_code == 201, resp.text
    image = resp.json()["image"]
    assert image["status"] == "queued"
    assert wait_status(user, image["id"], ("active", "killed")) == "active"
    got = user.get(f"/v1/images/{image['id']}")
    assert got.content == DATA
    assert got.headers["x-image-meta-checksum"] == hashlib.md5(DATA).hexdigest()


def test_copy_from_missing_url_ends_killed(filtered, www):  # noqa: F811
    """No size probe while the request waits (Queens' 404 told a scanner what exists)."""
    user = User(filtered.api_url)
    resp = user.post("/v1/images", headers={
        **FORMATS, "x-glance-api-copy-from": f"http://127.0.0.1:{www[0]}/missing.raw"})
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["image"]["id"]
    assert wait_status(user, image_id, ("active", "killed")) == "killed"
    assert filtered.stored_files(image_id) == []
    assert user.get(f"/v1/images/{image_id}").status_code == 404


def test_copy_from_on_put_into_queued_image(filtered, www):  # noqa: F811
    user = User(filtered.api_url)
    image = user.post("/v1/images", headers={**FORMATS, "x-image-meta-name": "later"})
    image_id = image.json()["image"]["id"]
    url = f"http://127.0.0.1:{www[0]}/data.raw"
    resp = user.put(f"/v1/images/{image_id}", headers={"x-glance-api-copy-from": url})
    assert resp.status_code == 200, resp.text
    assert resp.json()["image"]["status"] == "queued"
    assert wait_status(user, image_id, ("active", "killed")) == "active"
    assert user.get(f"/v1/images/{image_id}").content == DATA
    assert (filtered.datadir / image_id).read_bytes() == DATA
    # an active image takes no other source
    resp = user.put(f"/v1/images/{image_id}", headers={"x-glance-api-copy-from": url})
    assert resp.status_code == 400
    assert "not in queued status" in resp.json()["message"]


def test_location_activates_without_reading(filtered, www):  # noqa: F811
    user = User(filtered.api_url)
    url = f"http://127.0.0.1:{www[0]}/data.raw"
    resp = user.post("/v1/images", headers={**FORMATS, "x-image-meta-location": url})
    assert resp.status_code == 201, resp.text
    image = resp.json()["image"]
    # sized by the remote, never read, so no checksum; the URL is shown nowhere
    assert (image["status"], image["size"], image["checksum"]) == ("active", len(DATA), None)
    assert url not in resp.text
    head = user.request("HEAD", f"/v1/images/{image['id']}")
    assert url not in str(head.headers)
    assert filtered.stored_files(image["id"]) == []
    assert user.get(f"/v1/images/{image['id']}").content == DATA   # streamed from the URL
    # the http store deletes nothing remote: the delete still succeeds
    resp = user.delete(f"/v1/images/{image['id']}")
    assert (resp.status_code, resp.content) == (200, b"")
    assert (www[1] / "data.raw").read_bytes() == DATA
    # a declared size the remote does not have
    resp = user.post("/v1/images", headers={**FORMATS, "x-image-meta-location": url,
                                            "x-image-meta-size": "5"})
    assert resp.status_code == 409, resp.text
    assert ("Provided image size must match the stored image size. (provided size: 5, "
            f"stored size: {len(DATA)})") in resp.json()["message"]
    # sized before the row is reserved: no orphan (Queens left a queued one)
    mine = [i for i in user.get("/v1/images/detail").json()["images"]
            if i["owner"] == user.project_id]
    assert mine == []
    # formats are required with a location, as with data
    resp = user.post("/v1/images", headers={"x-image-meta-location": url})
    assert resp.status_code == 400
    assert "Disk format is not specified." in resp.json()["message"]


@pytest.mark.parametrize("header", ["x-glance-api-copy-from", "x-image-meta-location"])
def test_ssrf_targets_refused_before_any_row(filtered, www, counter, header):  # noqa: F811
    user = User(filtered.api_url)
    port, _root, redirects = www
    redirects["/to-loopback"] = f"http://127.0.0.1:{counter.port}/"
    before = counter.accepts
    for url in (f"http://127.0.0.1:{counter.port}/x", "http://169.254.169.254/latest/",
                f"http://localhost:{counter.port}/", "file:///etc/passwd", ""):
        resp = user.post("/v1/images", headers={**FORMATS, header: url})
        assert resp.status_code == 400, (url, resp.text)
    # NOTE: other tests' public images share the stack; none of this project's may exist.
    mine = [i for i in user.get("/v1/images/detail").json()["images"]
            if i.get("owner") == user.project_id]
    assert mine == []
    # a redirect to loopback: the first hop passes, the second is refused
    resp = user.post("/v1/images", headers={
        **FORMATS, header: f"http://127.0.0.1:{port}/to-loopback"})
    if resp.status_code == 201:   # copy-from: refused in the background copy
        image_id = resp.json()["image"]["id"]
        assert wait_status(user, image_id, ("active", "killed")) == "killed"
        assert filtered.stored_files(image_id) == []
        # killed images are readable by id but never listed, changes-since or not
        for query in ("", "?changes-since=2000-01-01T00:00:00"):
            listed = user.get("/v1/images/detail" + query).json()["images"]
            assert image_id not in [i["id"] for i in listed]
    else:   # location: the size probe follows the redirect at request time
        assert resp.status_code == 400, resp.text
    assert counter.accepts == before


@SQLITE
def test_loopback_refused_by_default(stack, user):
    port = stack.api_port
    for header in ("x-glance-api-copy-from", "x-image-meta-location"):
        resp = user.post("/v1/images", headers={**FORMATS,
                                                header: f"http://127.0.0.1:{port}/versions"})
        assert resp.status_code == 400, resp.text


@SQLITE
@pytest.mark.parametrize("headers", [
    {"x-image-meta-is_public": "ture"},
    {"x-image-meta-protected": "2"},
    {"x-image-meta-size": "ten"},
    {"x-image-meta-size": "-1"},
    {"x-image-meta-size": ""},
    {"x-image-meta-min_ram": "1e3"},
    {"x-image-meta-min_disk": "99999999999"},
    {"x-image-meta-disk_format": "floppy"},
    {"x-image-meta-container_format": "tgz"},
    {"x-image-meta-disk_format": "aki", "x-image-meta-container_format": "bare"},
    {"x-image-meta-nonsense": "1"},
    {"x-image-meta-id": "not-a-uuid"},
    {"x-image-meta-created_at": "yesterday"},
    {"x-image-meta-checksum": "0" * 33},
    {"x-image-meta-name": "n" * 256},
    {"x-image-meta-name": "%FF%FE"},
    {"x-image-meta-location": ""},
    {"x-image-meta-location": "http://h/", "x-glance-api-copy-from": "http://h/"},
])
def test_malformed_headers_are_400(user, headers):
    resp = user.post("/v1/images", headers=headers)
    assert resp.status_code == 400, (headers, resp.status_code, resp.text)
    # NOTE: other tests' public images share the stack; none of this project's may exist.
    mine = [i for i in user.get("/v1/images/detail").json()["images"]
            if i.get("owner") == user.project_id]
    assert mine == []


@SQLITE
def test_unicode_and_many_headers(user):
    name = "imàge é " + uuid.uuid4().hex[:4]
    quoted = "im%C3%A0ge%20%C3%A9%20" + name[-4:]
    props = {f"x-image-meta-property-k{i}": f"v{i}" for i in range(80)}
    resp = user.post("/v1/images", headers={"x-image-meta-name": quoted, **props})
    assert resp.status_code == 201, resp.text
    image = resp.json()["image"]
    assert image["name"] == name and len(image["properties"]) == 80
    head = user.request("HEAD", f"/v1/images/{image['id']}")
    # NOTE: answers are ASCII: what is not is percent-encoded (spaces stay)
    assert head.headers["x-image-meta-name"] == "im%C3%A0ge %C3%A9 " + name[-4:]
    assert user.show(image["id"])["name"] == name
    # NOTE: gunicorn takes at most 100 header fields: more is its 431, never a 5xx.
    too_many = {f"x-image-meta-property-k{i}": "v" for i in range(150)}
    assert user.post("/v1/images", headers=too_many).status_code == 431


@SQLITE
def test_bad_list_parameters_are_400(user):
    for query in ("limit=x", "limit=-1", "marker=zzz", "sort_key=owner", "sort_dir=up",
                  "size_min=-3", "is_public=maybe", "protected=none", "changes-since=soon",
                  f"marker={uuid.uuid4()}"):
        resp = user.get("/v1/images/detail?" + query)
        assert resp.status_code == 400, (query, resp.text)


ROLES = {"admin": "admin,member,reader", "member": "member,reader", "reader": "reader"}


@SQLITE
@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("visibility", ["private", "shared", "public", "community"])
def test_role_visibility_matrix_matches_v2(stack, admin, role, visibility):
    """For each role and visibility, a v1 call succeeds only if its v2 twin does."""
    owner = User(stack.api_url)
    image = owner.create_active(b"m" * 512, visibility="private")
    admin.patch(f"/v2/images/{image['id']}", [{"op": "replace", "path": "/visibility",
                                               "value": visibility}])
    caller = User(stack.api_url, roles=ROLES[role])
    iid = image["id"]
    pairs = [
        (caller.request("HEAD", f"/v1/images/{iid}"), caller.get(f"/v2/images/{iid}")),
        (caller.get(f"/v1/images/{iid}"), caller.get(f"/v2/images/{iid}/file")),
        (caller.put(f"/v1/images/{iid}", headers={"x-image-meta-name": "x",
                                                  "x-glance-registry-purge-props": "false"}),
         caller.patch(f"/v2/images/{iid}", [{"op": "replace", "path": "/name",
                                             "value": "x"}])),
    ]
    for v1, v2 in pairs:
        assert v1.ok == v2.ok, (v1.request.method, v1.status_code, v2.status_code)
        assert v1.status_code < 500
    v1_delete = caller.delete(f"/v1/images/{iid}")
    assert v1_delete.status_code < 500
    if v1_delete.ok:
        assert role == "admin"
    # the caller's own project: reader may not create, member may not publicize
    created = caller.post("/v1/images", headers={"x-image-meta-is_public": "True"})
    v2_created = caller.post("/v2/images", json={"visibility": "public"})
    assert created.ok == v2_created.ok, (created.status_code, v2_created.status_code)
