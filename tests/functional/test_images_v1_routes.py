"""Every route of the Images API v1 map with its codes, headers and bodies: list filters,
sort and paging, HEAD/GET headers, PUT (data, purge-props, refusals), DELETE (protected,
delayed delete), /v1/ itself and the 404/405/501 answers. Members are in
test_images_v1_members.py."""
import hashlib
import http.client
import json
import re
import time
import uuid

import pytest

from tests.functional.conftest import User, running_stack
from tests.functional.test_images_v1 import create_v1, meta
from tests.functional.test_scrubber import image_row, scrub

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
OCTET = {"Content-Type": "application/octet-stream"}
NO_PURGE = {"x-glance-registry-purge-props": "false"}
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")   # naive UTC, no Z (§3.3)


def message(resp):
    """The text of a Glance error body asked for as JSON."""
    return resp.json()["message"]


def ids(resp):
    assert resp.status_code == 200, resp.text
    return [i["id"] for i in resp.json()["images"]]


@pytest.fixture
def batch(user):
    """Five images of one project, told apart from the stack's others by a property."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    specs = [
        ("a", dict(data=b"a" * 100, disk_format="raw", container_format="bare",
                   property_os="linux")),
        ("b", dict(data=b"b" * 2000, disk_format="ami", container_format="ami",
                   min_ram=512)),
        ("c", dict(disk_format="vhd", container_format="ovf")),   # queued, size 0
        ("d", dict(data=b"d" * 700, disk_format="raw", container_format="bare",
                   protected="True")),
        ("e", dict(data=b"e" * 1500, disk_format="raw", container_format="ova",
                   property_os="bsd")),
    ]
    for key, fields in specs:
        data = fields.pop("data", None)
        if data is not None:
            fields["size"] = len(data)
        made[key] = create_v1(user, data=data, name=f"{key}-{tag}", property_batch=tag,
                              **fields).json()["image"]
    yield tag, made
    user.put(f"/v1/images/{made['d']['id']}", headers={**meta(protected="False"), **NO_PURGE})


def mine(user, tag, query="", path="/v1/images/detail"):
    return ids(user.get(f"{path}?property-batch={tag}&limit=100{query}"))


def test_list_filters(user, batch):
    tag, img = batch
    key = {i["id"]: k for k, i in img.items()}

    def names(query, path="/v1/images/detail"):
        return sorted(key[i] for i in mine(user, tag, query, path))

    assert names("") == ["a", "b", "c", "d", "e"]
    assert names(f"&name=a-{tag}") == ["a"]
    assert names("&status=queued") == ["c"]
    assert names("&status=active") == ["a", "b", "d", "e"]
    assert names("&container_format=ami") == ["b"]
    assert names("&disk_format=raw") == ["a", "d", "e"]
    assert names("&size_min=1000") == ["b", "e"]
    assert names("&size_max=700") == ["a", "c", "d"]
    assert names("&size_min=100&size_max=100") == ["a"]
    assert names("&min_ram=512") == ["b"]
    assert names("&protected=true") == ["d"]
    assert names("&protected=False") == ["a", "b", "c", "e"]
    assert names("&property-os=linux") == ["a"]
    assert names("&property-os=linux&property-missing=1") == []
    # NOTE: is_public counts for admins only; a member's list is the same with it
    assert names("&is_public=true") == names("&is_public=none") == names("")
    # the brief list takes the same filters
    assert names("&disk_format=raw", path="/v1/images") == ["a", "d", "e"]
    # a literal filter value: no v2 "in:" operator parsing (§6.10)
    assert names(f"&name=in:a-{tag},b-{tag}") == []

    # changes-since: updated strictly after the stamp
    stamp = img["e"]["updated_at"]
    time.sleep(0.05)
    resp = user.put(f"/v1/images/{img['b']['id']}", headers={**meta(name="b2"), **NO_PURGE})
    assert resp.status_code == 200, resp.text
    assert names("&changes-since=" + stamp) == ["b"]
    assert names("&changes-since=" + stamp + "Z") == ["b"]
    # NOTE: unlike Queens, deleted (and killed) rows never come back (README)
    assert user.delete(f"/v1/images/{img['c']['id']}").status_code == 200
    assert names("&changes-since=" + stamp) == ["b"]


def test_brief_and_detail_bodies(user, batch):
    tag, img = batch
    brief = user.get(f"/v1/images?property-batch={tag}&name=a-{tag}")
    assert brief.status_code == 200 and brief.headers["Content-Type"] == "application/json"
    a = img["a"]
    assert brief.json() == {"images": [{
        "id": a["id"], "name": f"a-{tag}", "disk_format": "raw", "container_format": "bare",
        "checksum": hashlib.md5(b"a" * 100).hexdigest(), "size": 100}]}
    detail = user.get(f"/v1/images/detail?property-batch={tag}&name=a-{tag}").json()
    (full,) = detail["images"]
    assert full == {**a, "properties": {"os": "linux", "batch": tag}}
    assert DATE.match(full["created_at"]) and DATE.match(full["updated_at"])
    assert user.get(f"/v1/images/detail?name=none-{tag}").json() == {"images": []}


def test_sort_and_paging(user, other_user, batch):
    tag, img = batch
    key = {i["id"]: k for k, i in img.items()}

    def order(query):
        return "".join(key[i] for i in mine(user, tag, query))

    assert order("") == "edcba"   # created_at desc by default
    assert order("&sort_key=name&sort_dir=asc") == "abcde"
    assert order("&sort_key=size&sort_dir=desc") == "bedac"
    assert order("&sort_key=created_at&sort_dir=asc") == "abcde"
    assert order("&sort_key=disk_format&sort_dir=asc")[:1] == "b"   # ami first
    assert order("&limit=0") == ""

    pages, marker = [], None
    while True:
        query = "&sort_key=name&sort_dir=asc&limit=2" + (f"&marker={marker}" if marker
                                                          else "")
        page = mine(user, tag, query)
        pages.append("".join(key[i] for i in page))
        if len(page) < 2:
            break
        marker = page[-1]
    assert pages == ["ab", "cd", "e"]

    bad = {
        "limit=x": "limit param must be an integer",
        "limit=-1": "limit param must be positive",
        "marker=zzz": "Invalid marker format",
        f"marker={uuid.uuid4()}": "Invalid marker. Image could not be found.",
        "sort_key=owner": "Unsupported sort_key. Acceptable values: ",
        "sort_dir=up": "Unsupported sort_dir",
        "size_min=x": "Bad value passed to filter size_min got x",
        "min_disk=-1": "Bad value passed to filter min_disk got -1",
        # past the columns' range: a 400, not the database's overflow
        "min_ram=2147483648": "Bad value passed to filter min_ram got 2147483648",
        f"size_max={2 ** 64}": f"Bad value passed to filter size_max got {2 ** 64}",
        "is_public=maybe": "Bad value passed to filter is_public got maybe",
        "changes-since=soon": "Unrecognized changes-since value",
    }
    for query, text in bad.items():
        for path in ("/v1/images", "/v1/images/detail"):
            resp = user.get(f"{path}?{query}")
            assert resp.status_code == 400, (query, resp.text)
            assert resp.json()["code"] == "400 Bad Request"
            assert text in message(resp), (query, message(resp))
    # another project's private image is no marker for this caller
    hidden = other_user.create_image(visibility="private")
    resp = user.get(f"/v1/images/detail?marker={hidden['id']}")
    assert resp.status_code == 400
    assert "Invalid marker. Image could not be found." in message(resp)


def test_admin_lists_and_is_public(stack, admin, user):
    private = create_v1(user).json()["image"]   # is_public absent: shared
    public = create_v1(admin, is_public="True").json()["image"]
    default = ids(admin.get("/v1/images/detail?limit=1000"))
    assert private["id"] in default and public["id"] in default
    non_public = ids(admin.get("/v1/images/detail?limit=1000&is_public=false"))
    assert private["id"] in non_public and public["id"] not in non_public
    everything = ids(admin.get("/v1/images/detail?limit=1000&is_public=None"))
    assert {private["id"], public["id"]} <= set(everything)
    # a member sees the public image and not the other project's
    seen = ids(User(stack.api_url).get("/v1/images/detail?limit=1000&is_public=false"))
    assert public["id"] in seen and private["id"] not in seen
    assert admin.delete(f"/v1/images/{public['id']}").status_code == 200


def test_head_and_get_headers(admin, user, other_user):
    data = b"h" * 3000
    image = create_v1(user, data=data, disk_format="raw", container_format="bare",
                      size=len(data), property_colour="blue",
                      **{"property_empty": ""}).json()["image"]
    iid, md5 = image["id"], hashlib.md5(data).hexdigest()
    head = user.request("HEAD", f"/v1/images/{iid}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == "0"
    assert head.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert head.headers["ETag"] == md5
    got = {k.lower()[len("x-image-meta-"):]: v for k, v in head.headers.items()
           if k.lower().startswith("x-image-meta-")}
    assert got == {
        "id": iid, "name": image["name"], "status": "active", "size": "3000",
        "virtual_size": "3000",   # format inspection of the raw upload, as through v2
        "disk_format": "raw", "container_format": "bare", "checksum": md5,
        "min_disk": "0", "min_ram": "0", "owner": user.project_id, "is_public": "False",
        "protected": "False", "deleted": "False", "created_at": image["created_at"],
        "updated_at": image["updated_at"], "property-colour": "blue"}
    assert DATE.match(got["created_at"])

    body = user.get(f"/v1/images/{iid}")
    assert body.status_code == 200 and body.content == data
    assert body.headers["Content-Type"] == "application/octet-stream"
    assert body.headers["Content-Length"] == "3000"
    assert body.headers["ETag"] == md5
    assert body.headers["x-image-meta-checksum"] == md5
    assert body.headers["x-image-meta-property-colour"] == "blue"

    queued = create_v1(user).json()["image"]
    head = user.request("HEAD", f"/v1/images/{queued['id']}")
    assert head.status_code == 200 and head.headers["x-image-meta-status"] == "queued"
    assert "x-image-meta-checksum" not in head.headers and "ETag" not in head.headers
    resp = user.get(f"/v1/images/{queued['id']}")
    assert resp.status_code == 404
    assert message(resp).startswith(f"Image {queued['id']} is not active")

    empty = create_v1(user, size=0, disk_format="raw", container_format="bare")
    empty = empty.json()["image"]
    assert empty["status"] == "active"
    resp = user.get(f"/v1/images/{empty['id']}")
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["Content-Type"] == "application/octet-stream"

    for caller, path in ((other_user, f"/v1/images/{iid}"),
                         (user, f"/v1/images/{uuid.uuid4()}")):
        assert caller.request("HEAD", path).status_code == 404
        resp = caller.get(path)
        assert resp.status_code == 404
        assert message(resp).startswith("Image with identifier ")

    deact = admin.post(f"/v2/images/{iid}/actions/deactivate")
    assert deact.status_code == 204, deact.text
    resp = user.get(f"/v1/images/{iid}")
    assert resp.status_code == 403 and message(resp).startswith(f"Image {iid} is deactivated")
    head = user.request("HEAD", f"/v1/images/{iid}")
    assert head.headers["x-image-meta-status"] == "deactivated"


def test_put_data_into_queued_image(stack, user):
    image = create_v1(user, disk_format="raw", container_format="bare").json()["image"]
    iid = image["id"]
    # a wrong Content-Type is refused before the image changes
    resp = user.put(f"/v1/images/{iid}", data=b"x" * 10,
                    headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400
    assert "Content-Type must be application/octet-stream" in message(resp)
    # a declared size that the data does not have: 400, no bytes, queued again
    resp = user.put(f"/v1/images/{iid}", data=b"x" * 10,
                    headers={**OCTET, "x-image-meta-size": "11"})
    assert resp.status_code == 400, resp.text
    assert stack.stored_files(iid) == []
    assert user.request("HEAD", f"/v1/images/{iid}").headers["x-image-meta-status"] == \
        "queued"

    data = b"q" * 5000
    resp = user.put(f"/v1/images/{iid}", data=data,
                    headers={**OCTET, "x-image-meta-size": str(len(data))})
    assert resp.status_code == 200, resp.text
    out = resp.json()["image"]
    assert (out["status"], out["size"], out["checksum"]) == (
        "active", len(data), hashlib.md5(data).hexdigest())
    assert resp.headers["ETag"] == out["checksum"] and "Location" not in resp.headers
    assert (stack.datadir / iid).read_bytes() == data

    resp = user.put(f"/v1/images/{iid}", data=b"more", headers=OCTET)
    assert resp.status_code == 409
    assert "Cannot upload to an unqueued image" in message(resp)
    assert (stack.datadir / iid).read_bytes() == data
    for headers, text in (({"x-image-meta-size": "1"}, "Forbidden to modify 'size' of "
                                                       "active image."),
                          ({"x-image-meta-checksum": "0" * 32},
                           "Forbidden to modify 'checksum' of active image."),
                          ({"x-image-meta-status": "queued"},
                           "Forbidden to modify 'status' of image."),
                          ({"x-image-meta-id": str(uuid.uuid4())},
                           "Forbidden to modify 'id' of image.")):
        resp = user.put(f"/v1/images/{iid}", headers={**headers, **NO_PURGE})
        assert resp.status_code == 403, (headers, resp.text)
        assert text in message(resp)
    # the same values are no change
    same = user.put(f"/v1/images/{iid}", headers={
        **meta(size=len(data), status="active"), **NO_PURGE})
    assert same.status_code == 200, same.text
    resp = user.put(f"/v1/images/{iid}", headers={
        "x-image-meta-location": "http://example.com/x", **NO_PURGE})
    assert resp.status_code == 400
    assert "not in queued status" in message(resp)


def test_purge_props(user):
    image = create_v1(user, property_a="1", property_b="2").json()["image"]
    path = f"/v1/images/{image['id']}"
    kept = user.put(path, headers={**meta(property_c="3"), **NO_PURGE})
    assert kept.status_code == 200, kept.text
    assert kept.json()["image"]["properties"] == {"a": "1", "b": "2", "c": "3"}
    purged = user.put(path, headers={**meta(property_b="x"),
                                     "x-glance-registry-purge-props": "true"})
    assert purged.json()["image"]["properties"] == {"b": "x"}
    assert user.show(image["id"]).get("a") is None
    # a name-only update with purge: every property goes
    cleared = user.put(path, headers={**meta(name="n"), "x-glance-registry-purge-props": "1"})
    assert cleared.json()["image"]["properties"] == {}
    resp = user.put(path, headers={"x-glance-registry-purge-props": "perhaps"})
    assert resp.status_code == 400


def test_delete_protected_and_deleted(admin, user):
    image = create_v1(user, protected="True").json()["image"]
    path = f"/v1/images/{image['id']}"
    resp = user.delete(path)
    assert resp.status_code == 403 and "Image is protected" in message(resp)
    user.put(path, headers={**meta(protected="False"), **NO_PURGE})
    resp = user.delete(path)
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert resp.headers["Content-Length"] == "0"
    assert user.delete(path).status_code == 404
    # deleted rows are visible to admins only
    head = admin.request("HEAD", path)
    assert head.status_code == 200, head.text
    assert (head.headers["x-image-meta-status"], head.headers["x-image-meta-deleted"]) == (
        "deleted", "True")
    assert DATE.match(head.headers["x-image-meta-deleted_at"])
    resp = admin.delete(path)
    assert resp.status_code == 404 and f"Image {image['id']} not found." in message(resp)
    resp = admin.put(path, headers={**meta(name="z"), **NO_PURGE})
    assert resp.status_code == 403 and "Forbidden to update deleted image." in message(resp)
    resp = admin.put(path, data=b"late", headers=OCTET)   # the refusal before the 409
    assert resp.status_code == 403 and "Forbidden to update deleted image." in message(resp)
    resp = admin.put(path + "/members/someone")
    assert resp.status_code == 404 and "has been deleted" in message(resp)


@pytest.fixture(scope="module")
def delayed(tmp_path_factory, worker_id_safe):
    """A stack with delayed_delete on: DELETE leaves the bytes to glance-scrubber."""
    with running_stack(tmp_path_factory, "sqlite", "v1-delayed", worker_id_safe,
                       api_extra="[DEFAULT]\ndelayed_delete = True\nscrub_time = 0\n"
                       ) as running:
        yield running


def test_delayed_delete_keeps_bytes_until_scrub(stack, delayed):
    user = User(delayed.api_url)
    admin = User(delayed.api_url, roles="admin,member,reader")
    data = b"p" * 4096
    image = create_v1(user, data=data, disk_format="raw", container_format="bare")
    iid = image.json()["image"]["id"]
    resp = user.delete(f"/v1/images/{iid}")
    assert (resp.status_code, resp.content) == (200, b"")
    assert image_row(delayed, iid) == ("pending_delete", 1)
    assert (delayed.datadir / iid).read_bytes() == data
    assert user.request("HEAD", f"/v1/images/{iid}").status_code == 404
    head = admin.request("HEAD", f"/v1/images/{iid}")
    assert head.headers["x-image-meta-status"] == "pending_delete"
    resp = admin.delete(f"/v1/images/{iid}")
    assert resp.status_code == 403
    assert "Forbidden to delete a pending_delete image." in message(resp)
    # an image without data has nothing to scrub: deleted at once
    queued = create_v1(user).json()["image"]
    assert user.delete(f"/v1/images/{queued['id']}").status_code == 200
    assert image_row(delayed, queued["id"]) == ("deleted", 1)

    proc = scrub(delayed)
    assert proc.returncode == 0, proc.stderr
    assert delayed.stored_files(iid) == []
    assert image_row(delayed, iid) == ("deleted", 1)






def same_connection_twice(user, method, path):
    """Send ``method path`` with a 300 kB body, then a GET of it, on one connection; return
    the second answer's JSON (both must be 200)."""
    conn = http.client.HTTPConnection(user.base_url.split("//", 1)[1], timeout=60)
    try:
        conn.request(method, path, body=b"b" * 300000, headers=dict(user.session.headers))
        first = conn.getresponse()
        first.read()
        assert first.status == 200, (method, path)
        conn.request("GET", path, headers=dict(user.session.headers))
        second = conn.getresponse()
        assert second.status == 200, (method, path)
        return json.loads(second.read())
    finally:
        conn.close()


def test_v1_root_is_the_brief_list(user):
    image = create_v1(user).json()["image"]
    brief = user.get(f"/v1/images?name={image['name']}").json()
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        for path in ("/v1", "/v1/"):
            resp = user.request(method, f"{path}?name={image['name']}")
            assert resp.status_code == 200, (method, path, resp.text)
            assert resp.json() == brief
        # a body is read and ignored: the keep-alive connection serves the next request
        assert same_connection_twice(user, method, f"/v1/?name={image['name']}") == brief
    head = user.request("HEAD", "/v1/")
    assert head.status_code == 200 and head.content == b""
    # NOTE: a verb falcon does not know is 405 here (Queens listed for it too; README)
    assert user.request("FOO", "/v1/").status_code == 405
    # nothing was created by POST /v1
    assert len(user.get(f"/v1/images?name={image['name']}").json()["images"]) == 1


def test_405_501_and_404(user):
    image = create_v1(user).json()["image"]
    iid = image["id"]
    wrong = [
        ("HEAD", "/v1/images", "GET, POST"),
        ("PUT", "/v1/images", "GET, POST"),
        ("DELETE", "/v1/images", "GET, POST"),
        ("HEAD", "/v1/images/detail", "GET"),
        ("POST", "/v1/images/detail", "GET, HEAD"),
        ("DELETE", "/v1/images/detail", "GET, HEAD"),
        ("POST", f"/v1/images/{iid}", "GET, HEAD, PUT, DELETE"),
        ("PATCH", f"/v1/images/{iid}", "GET, HEAD, PUT, DELETE"),
        ("POST", f"/v1/images/{iid}/members", "GET, PUT"),
        ("DELETE", f"/v1/images/{iid}/members", "GET, PUT"),
        ("POST", f"/v1/images/{iid}/members/m", "GET, PUT, DELETE"),
        ("FOO", "/v1/images", "GET, POST"),
    ]
    for method, path, allow in wrong:
        resp = user.request(method, path)
        assert resp.status_code == 405, (method, path, resp.status_code)
        assert resp.headers["Allow"] == allow, (method, path)
        if method != "HEAD":
            assert resp.json()["code"] == "405 Method Not Allowed"
    resp = user.get(f"/v1/images/{iid}/members/m")
    assert resp.status_code == 405 and "Allow" not in resp.headers
    for path in ("/v1/nothing", f"/v1/images/{iid}/tags", "/v1/shared-images"):
        resp = user.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["code"] == "404 Not Found"
        resp = user.request("FOO", path)
        assert resp.status_code == 501, path
        assert resp.json()["code"] == "501 Not Implemented"
    # Glance's text bodies follow Accept
    resp = user.get("/v1/nothing", headers={"Accept": "*/*"})
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "<h1>404 Not Found</h1>" in resp.text
    resp = user.get("/v1/nothing", headers={"Accept": "text/plain"})
    assert resp.text.startswith("404 Not Found\n\n")


def test_limit_default_and_max_from_config(stack, tmp_path_factory, worker_id_safe):
    """``limit_param_default`` and ``api_limit_max`` bound v1 lists as they bound v2's."""
    extra = "\n[DEFAULT]\nlimit_param_default = 2\napi_limit_max = 3\n"
    with running_stack(tmp_path_factory, "sqlite", "v1-limits", worker_id_safe,
                       api_extra=extra) as running:
        u = User(running.api_url)
        for n in range(5):
            assert create_v1(u, name=f"lim-{n}").status_code == 201
        for path in ("/v1/images", "/v1/images/detail"):
            assert len(ids(u.get(path))) == 2
            assert len(ids(u.get(path + "?limit=1000"))) == 3
            assert len(ids(u.get(path + "?limit=1"))) == 1
        assert len(u.get("/v2/images?limit=1000").json()["images"]) == 3
