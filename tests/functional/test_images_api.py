"""Images API v2 metadata calls against the running stack: what real Glance 33 answers."""
import re
import uuid

from tests.functional.conftest import PATCH_V20, PATCH_V21, User

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BASE_KEYS = {"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
             "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size",
             "container_format", "disk_format", "min_ram", "min_disk", "created_at",
             "updated_at", "tags", "self", "file", "schema"}
VERSION_IDS = ["v2.15", "v2.9", "v2.17", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2",
               "v2.1", "v2.0", "v1.1", "v1.0"]


def test_versions_document(user, stack):
    resp = user.get("/")
    assert resp.status_code == 300
    assert resp.headers["Content-Type"].startswith("application/json")
    versions = resp.json()["versions"]
    assert [v["id"] for v in versions] == VERSION_IDS
    assert {v["id"] for v in versions if v["status"] == "CURRENT"} == {"v2.17"}
    assert all(v["links"] == [{"rel": "self", "href": stack.api_url + "/%s/" % v["id"][:2]}]
               for v in versions)
    assert user.get("/versions").status_code == 200
    assert user.get("/versions").json() == resp.json()


def test_unknown_version_prefix_answers_versions(user):
    for path in ("/v1.2/images", "/v3/images", "/images"):
        resp = user.get(path)
        assert resp.status_code == 300, path
        assert "versions" in resp.json()


def test_minor_version_prefix_routes_to_v2(user):
    image = user.create_image()
    assert user.get(f"/v2.1/images/{image['id']}").json()["id"] == image["id"]
    assert "images" in user.get("/v2.0/images?limit=1").json()


def test_v2_redirects_and_unknown_route(user):
    resp = user.get("/v2")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/v2/")
    assert user.get("/v2/nothing-here").status_code == 404


def test_wrong_method_is_405_with_allow(user):
    resp = user.delete("/v2/images")
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, POST"


def test_healthcheck(stack):
    import requests
    for url in (stack.api_url, stack.registry_url):
        resp = requests.get(url + "/healthcheck", timeout=10)
        assert resp.status_code == 200
        assert resp.text == "OK"


def test_request_id_generated_and_honoured(user):
    resp = user.get("/v2/images?limit=1")
    assert REQUEST_ID.match(resp.headers["x-openstack-request-id"])
    mine = "req-" + str(uuid.uuid4())
    resp = user.get("/v2/images?limit=1", headers={"X-Openstack-Request-Id": mine})
    assert resp.headers["x-openstack-request-id"] == mine


def test_create_defaults_and_representation(user, stack):
    resp = user.post("/v2/images", json={"name": "img1", "disk_format": "raw",
                                         "container_format": "bare", "foo": "bar",
                                         "tags": ["t1", "t2"]})
    assert resp.status_code == 201, resp.text
    image = resp.json()
    assert set(image) == BASE_KEYS | {"foo"}
    assert resp.headers["Location"] == f"{stack.api_url}/v2/images/{image['id']}"
    assert REQUEST_ID.match(resp.headers["x-openstack-request-id"])
    expected = {"name": "img1", "status": "queued", "visibility": "shared", "protected": False,
                "os_hidden": False, "owner": user.project_id, "size": None,
                "virtual_size": None, "checksum": None, "os_hash_algo": None,
                "os_hash_value": None, "min_ram": 0, "min_disk": 0, "foo": "bar",
                "tags": ["t1", "t2"], "self": f"/v2/images/{image['id']}",
                "file": f"/v2/images/{image['id']}/file", "schema": "/v2/schemas/image"}
    assert {k: image[k] for k in expected} == expected
    assert TIMESTAMP.match(image["created_at"]) and TIMESTAMP.match(image["updated_at"])
    assert user.show(image["id"]) == image


def test_create_with_chosen_id_and_duplicate(user):
    image_id = str(uuid.uuid4())
    assert user.create_image(id=image_id)["id"] == image_id
    resp = user.post("/v2/images", json={"id": image_id})
    assert resp.status_code == 409
    assert f"Image ID {image_id} already exists!" in resp.json()["message"]


def test_create_refusals(user, other_user):
    cases = [
        ({"status": "active"}, 403, "Attribute 'status' is read-only."),
        ({"self": "x"}, 403, "Attribute 'self' is read-only."),
        ({"locations": []}, 403, "Attribute 'locations' is reserved."),
        ({"os_glance_foo": "x"}, 403, "is reserved."),
        ({"name": "x" * 256}, 400, "Provided object does not match schema 'image'"),
        ({"disk_format": "nope"}, 400, "Provided object does not match schema 'image'"),
        ({"foo": 5}, 400, "Provided object does not match schema 'image'"),
        ({"min_ram": -5}, 400, "Invalid value '-5' for parameter 'min_ram'"),
        ({"owner": other_user.project_id}, 403, "You are not permitted to create images owned"),
        ({"visibility": "public"}, 403, "publicize_image"),
    ]
    for body, status, message in cases:
        resp = user.post("/v2/images", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert message in resp.json()["message"], (body, resp.text)


def test_malformed_json_body(user):
    resp = user.post("/v2/images", data=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "Malformed JSON in request body." in resp.json()["message"]


def test_show_missing_and_invisible(user, other_user):
    missing = str(uuid.uuid4())
    resp = user.get(f"/v2/images/{missing}")
    assert resp.status_code == 404
    body = resp.json()
    assert body["code"] == "404 Not Found" and body["title"] == "Not Found"
    assert f"No image found with ID {missing}" in body["message"]
    private = user.create_image(visibility="private")
    assert other_user.get(f"/v2/images/{private['id']}").status_code == 404


def test_error_body_follows_accept(user):
    path = f"/v2/images/{uuid.uuid4()}"
    html = user.get(path, headers={"Accept": "text/html"})
    assert html.status_code == 404
    assert html.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in html.text
    plain = user.get(path, headers={"Accept": "text/plain"})
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.text.startswith("404 Not Found\n\n")
    default = user.get(path, headers={"Accept": "*/*"})
    assert "<h1>404 Not Found</h1>" in default.text


def test_patch_v21_operations(user):
    image = user.create_image(name="before", foo="bar", gone="soon")
    ops = [{"op": "replace", "path": "/name", "value": "after"},
           {"op": "add", "path": "/extra", "value": "x"},
           {"op": "add", "path": "/foo", "value": "overwritten"},
           {"op": "remove", "path": "/gone"},
           {"op": "replace", "path": "/min_ram", "value": 512},
           {"op": "replace", "path": "/tags", "value": ["a", "b"]}]
    resp = user.patch(f"/v2/images/{image['id']}", ops)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["name"], body["extra"], body["foo"], body["min_ram"]) == \
        ("after", "x", "overwritten", 512)
    assert "gone" not in body and sorted(body["tags"]) == ["a", "b"]
    assert user.show(image["id"]) == body


def test_patch_v20_media_type(user):
    image = user.create_image(foo="bar")
    path = f"/v2/images/{image['id']}"
    resp = user.patch(path, [{"replace": "/name", "value": "v20"}], media_type=PATCH_V20)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "v20"
    resp = user.patch(path, [{"add": "/foo", "value": "again"}], media_type=PATCH_V20)
    assert resp.status_code == 409


def test_patch_refusals(user, other_user):
    image = user.create_image(foo="bar")
    path = f"/v2/images/{image['id']}"
    cases = [
        ([{"op": "replace", "path": "/nope", "value": "x"}], 409, "Property nope does not exist."),
        ([{"op": "remove", "path": "/name"}], 403, "Property name may not be removed."),
        ([{"op": "replace", "path": "/status", "value": "active"}], 403,
         "Attribute 'status' is read-only."),
        ([{"op": "add", "path": "/deleted", "value": "x"}], 403,
         "Attribute 'deleted' is reserved."),
        ([{"op": "replace", "path": "/owner", "value": other_user.project_id}], 403,
         "Owner can't be updated by non admin."),
        ([{"op": "move", "path": "/name"}], 400, "Invalid operation: `move`"),
        ([{"op": "replace", "path": "/a/b", "value": "x"}], 400, "Invalid JSON pointer"),
        ([{"op": "replace", "path": "/min_disk", "value": -1}], 400, "Cannot be a negative value"),
        ({"op": "replace"}, 400, "Request body must be a JSON array of operation objects."),
    ]
    for ops, status, message in cases:
        resp = user.patch(path, ops)
        assert resp.status_code == status, (ops, resp.text)
        assert message in resp.json()["message"], (ops, resp.text)
    resp = user.patch(path, [], media_type="application/json")
    assert resp.status_code == 415
    assert resp.headers["Accept-Patch"] == f"{PATCH_V20}, {PATCH_V21}"
    assert user.show(image["id"]) == image  # nothing applied


def test_patch_by_other_project(user, other_user, admin):
    private = user.create_image(visibility="private")
    ops = [{"op": "replace", "path": "/name", "value": "stolen"}]
    assert other_user.patch(f"/v2/images/{private['id']}", ops).status_code == 404
    community = user.create_image(visibility="community")
    resp = other_user.patch(f"/v2/images/{community['id']}", ops)
    assert resp.status_code == 403
    assert "modify_image" in resp.json()["message"]
    assert admin.patch(f"/v2/images/{private['id']}", ops).json()["name"] == "stolen"


def test_delete_and_protected(user, other_user):
    image = user.create_image(protected=True)
    path = f"/v2/images/{image['id']}"
    resp = user.delete(path)
    assert resp.status_code == 403
    assert f"Image {image['id']} is protected and cannot be deleted." in resp.json()["message"]
    assert user.get(path).status_code == 200
    user.patch(path, [{"op": "replace", "path": "/protected", "value": False}])
    shared = other_user.create_image(visibility="community")
    assert user.delete(f"/v2/images/{shared['id']}").status_code == 403
    resp = user.delete(path)
    assert resp.status_code == 204 and resp.content == b""
    # NOTE: WebOb's default type on Glance's empty answers (gunicorn drops the
    # Content-Length: 0 Glance also sends, as RFC 9110 asks of a 204).
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert user.get(path).status_code == 404
    resp = user.delete(path)
    assert resp.status_code == 404
    assert f"Failed to find image {image['id']} to delete" in resp.json()["message"]


def test_tags(user):
    image = user.create_image()
    base = f"/v2/images/{image['id']}/tags"
    resp = user.put(base + "/t1")
    assert resp.status_code == 204
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert user.put(base + "/t1").status_code == 204
    assert user.put(base + "/t2").status_code == 204
    assert user.show(image["id"])["tags"] == ["t1", "t2"]
    assert user.delete(base + "/t1").status_code == 204
    assert user.show(image["id"])["tags"] == ["t2"]
    assert user.delete(base + "/absent").status_code == 404
    assert user.put(base + "/" + "x" * 256).status_code == 400
    assert user.put(f"/v2/images/{uuid.uuid4()}/tags/t").status_code == 404


def test_schemas(user):
    image = user.get("/v2/schemas/image").json()
    assert image["name"] == "image"
    assert image["additionalProperties"] == {"type": "string"}
    assert BASE_KEYS - {"self", "file", "schema"} <= set(image["properties"])
    assert {link["rel"] for link in image["links"]} == {"self", "enclosure", "describedby"}
    images = user.get("/v2/schemas/images").json()
    assert images["name"] == "images"
    assert images["properties"]["images"]["items"]["properties"] == image["properties"]
    member = user.get("/v2/schemas/member").json()
    assert member["name"] == "member"
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    assert user.get("/v2/schemas/members").json()["name"] == "members"
    resp = user.post("/v2/schemas/image", json={})
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"


def test_roles_are_lower_cased_and_reader_needed(stack):
    shouting = User(stack.api_url, roles="Member,Reader")
    assert shouting.get("/v2/images?limit=1").status_code == 200
    member_only = User(stack.api_url, roles="member")
    resp = member_only.get("/v2/images?limit=1")
    assert resp.status_code == 403
    assert "You are not authorized to complete get_images action." in resp.json()["message"]


def test_body_rejected_where_none_is_expected(user):
    image = user.create_image()
    resp = user.request("GET", f"/v2/images/{image['id']}", data=b'{"x": 1}',
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "A body is not expected with this request." in resp.json()["message"]
