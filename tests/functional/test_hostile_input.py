"""Inputs that used to reach the database (or a registry message) answer Glance's 4xx.

Each test names the defect it pins: a lone UTF-16 surrogate in a JSON body, ``[]`` where a
metadef object is expected, a huge metadef tags ``limit``, filters on property names no
image can have, and registry wording (``Database error: ...``, compare-and-swap texts) that
reached users. The races are in test_races.py.
"""
import json
import uuid

import pytest
import requests

MALFORMED = {"message": "Malformed JSON in request body.<br /><br />\n\n\n",
             "code": "400 Bad Request", "title": "Bad Request"}
GENERIC_400 = {"message": "The server could not comply with the request since it is either "
                          "malformed or otherwise incorrect.<br /><br />\n\n\n",
               "code": "400 Bad Request", "title": "Bad Request"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
LONE = "\ud800"


def _send(user, method, path, body, headers=None):
    # NOTE: json.dumps writes the surrogate as the escape "\ud800", as a hostile client would.
    headers = {"Content-Type": "application/json", **(headers or {})}
    return user.request(method, path, data=json.dumps(body).encode(), headers=headers)


def _registry(stack, method, path, **kwargs):
    headers = {"X-Project-Id": "p-" + uuid.uuid4().hex, "X-Roles": "admin",
               "X-Is-Admin": "True"}
    return requests.request(method, stack.registry_url + path, headers=headers, timeout=30,
                            **kwargs)


@pytest.fixture
def namespace(admin):
    """A public namespace with an object, a property and two tags; its name."""
    name = "hostile-" + uuid.uuid4().hex[:8]
    resp = admin.post("/v2/metadefs/namespaces", json={
        "namespace": name, "visibility": "public", "objects": [{"name": "o1"}],
        "properties": {"p1": {"type": "string", "title": "P"}},
        "tags": [{"name": "t1"}, {"name": "t2"}, {"name": "t3"}]})
    assert resp.status_code == 201, resp.text
    return name


# (method, path, body, extra headers) with the surrogate in a different field each time.
SURROGATE_CASES = {
    "image name": ("POST", "/v2/images", {"name": LONE}, None),
    "image property value": ("POST", "/v2/images", {"name": "x", "foo": "a" + LONE}, None),
    "image property key": ("POST", "/v2/images", {"name": "x", LONE: "v"}, None),
    "image tag": ("POST", "/v2/images", {"name": "x", "tags": ["ok", LONE]}, None),
    "patch value": ("PATCH", "/v2/images/{image}",
                    [{"op": "replace", "path": "/name", "value": LONE}], PATCH),
    "patch property": ("PATCH", "/v2/images/{image}",
                       [{"op": "add", "path": "/x" + LONE, "value": "v"}], PATCH),
    "member": ("POST", "/v2/images/{image}/members", {"member": LONE}, None),
    "import stores": ("POST", "/v2/images/{image}/import",
                      {"method": {"name": "glance-direct"}, "stores": [LONE]}, None),
    "task input": ("POST", "/v2/tasks", {"type": "import", "input": {"import_from": LONE}},
                   None),
    "namespace name": ("POST", "/v2/metadefs/namespaces", {"namespace": LONE}, None),
    "namespace description": ("PUT", "/v2/metadefs/namespaces/{ns}",
                              {"namespace": "{ns}", "description": LONE}, None),
    "object name": ("POST", "/v2/metadefs/namespaces/{ns}/objects", {"name": LONE}, None),
    "property title": ("POST", "/v2/metadefs/namespaces/{ns}/properties",
                       {"name": "p9", "type": "string", "title": LONE}, None),
    "tag name": ("PUT", "/v2/metadefs/namespaces/{ns}/tags/t1", {"name": LONE}, None),
    "tags": ("POST", "/v2/metadefs/namespaces/{ns}/tags", {"tags": [{"name": LONE}]}, None),
    "resource type prefix": ("POST", "/v2/metadefs/namespaces/{ns}/resource_types",
                             {"name": "OS::Glance::Image", "prefix": LONE}, None),
}


def _fill(value, names):
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {_fill(k, names): _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", sorted(SURROGATE_CASES))
def test_lone_surrogate_is_malformed_json(admin, namespace, case):
    image = admin.create_image(visibility="shared", disk_format="raw",
                               container_format="bare")
    method, path, body, headers = SURROGATE_CASES[case]
    names = {"image": image["id"], "ns": namespace}
    resp = _send(admin, method, _fill(path, names), _fill(body, names), headers)
    assert (resp.status_code, resp.json()) == (400, MALFORMED)
    assert admin.show(image["id"]) == image   # nothing was written
    # NOTE: a surrogate once stored escaped in a JSON column (a task's input) made every
    # later read of it a 500.
    assert admin.get("/v2/tasks").status_code == 200


def test_surrogate_pair_is_text(stack, user):
    resp = _send(user, "POST", "/v2/images", {"name": "\U0001F600", "tags": ["\u00fc"]})
    if stack.name == "mariadb":
        # NOTE: Glance's MySQL tables are utf8 (3 bytes a character): no room for U+1F600.
        # Glance answers 500 there; here the registry's DataError is a plain 400.
        assert (resp.status_code, resp.json()) == (400, GENERIC_400)
        return
    assert resp.status_code == 201, resp.text
    assert user.show(resp.json()["id"])["name"] == "\U0001F600"


@pytest.mark.parametrize("raw, problem", [
    (b'{"image": {"name": "\\ud800"}}', "surrogates not allowed"),
    (b'{"image": {"name": "\xed\xa0\x80"}}', "can't decode"),
    (b'{"image": {"size": 1e999}}', "out of range"),
    (b"[" * 100000, "nested too deeply"),
])
def test_registry_refuses_what_no_column_holds(stack, raw, problem):
    resp = _registry(stack, "POST", "/images", data=raw)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"].startswith("Malformed JSON in request body: ")
    assert problem in error["message"]


@pytest.mark.mariadb
def test_value_too_long_for_its_column_is_glance_400(stack, user):
    if stack.name != "mariadb":
        pytest.skip("SQLite TEXT has no length limit")
    before = user.get("/v2/images").json()["images"]
    resp = user.post("/v2/images", json={"name": "x", "foo": "a" * 70000})
    # NOTE: was the registry's "Database error: DataError"; Glance itself answers 500.
    assert (resp.status_code, resp.json()) == (400, GENERIC_400)
    assert user.get("/v2/images").json()["images"] == before


# Every metadef route with a body, and the schema name Glance's message names.
METADEF_BODIES = [
    ("POST", "/v2/metadefs/namespaces", "namespace"),
    ("PUT", "/v2/metadefs/namespaces/{ns}", "namespace"),
    ("POST", "/v2/metadefs/namespaces/{ns}/objects", "object"),
    ("PUT", "/v2/metadefs/namespaces/{ns}/objects/o1", "object"),
    ("POST", "/v2/metadefs/namespaces/{ns}/properties", "property"),
    ("PUT", "/v2/metadefs/namespaces/{ns}/properties/p1", "property"),
    ("POST", "/v2/metadefs/namespaces/{ns}/tags", "tags"),
    ("PUT", "/v2/metadefs/namespaces/{ns}/tags/t1", "tag"),
    ("POST", "/v2/metadefs/namespaces/{ns}/resource_types", "resource_type_association"),
]


@pytest.mark.parametrize("method, path, schema", METADEF_BODIES)
@pytest.mark.parametrize("body", [[], [{"name": "x"}]])
def test_metadef_array_body_is_400(admin, namespace, method, path, schema, body):
    resp = _send(admin, method, path.format(ns=namespace), body)
    assert resp.status_code == 400
    assert resp.json() == {
        "message": "Provided object does not match schema '%s': %r is not of type 'object'"
                   "<br /><br />\n\n\n" % (schema, body),
        "code": "400 Bad Request", "title": "Bad Request"}
    assert len(admin.get("/v2/metadefs/namespaces/%s/tags" % namespace).json()["tags"]) == 3


@pytest.mark.parametrize("limit", ["99999999999999999999999", str(2 ** 63), "1001"])
def test_metadef_tags_limit_is_clamped(admin, namespace, limit):
    resp = admin.get("/v2/metadefs/namespaces/%s/tags?limit=%s" % (namespace, limit))
    assert resp.status_code == 200, resp.text
    assert sorted(t["name"] for t in resp.json()["tags"]) == ["t1", "t2", "t3"]
    paged = admin.get("/v2/metadefs/namespaces/%s/tags?limit=2&sort_dir=asc" % namespace)
    assert [t["name"] for t in paged.json()["tags"]] == ["t1", "t2"]


@pytest.mark.parametrize("kind,what", [("tags", "metadata tag")])
def test_metadef_marker_longer_than_any_name_is_404(admin, namespace, kind, what):
    # NOTE: found by the fuzz: a marker of non-ASCII text went into the registry's URL
    # percent-encoded, three times longer; gunicorn refused that request line (414) and the
    # api answered 500. A name longer than any stored one is now not looked up at all (the
    # registry client's 414 mapping is in tests/unit/registry/test_client.py).
    marker = "\u00e9" * 256
    resp = admin.get("/v2/metadefs/namespaces/%s/%s?marker=%s" % (namespace, kind, marker))
    assert resp.status_code == 404, resp.text
    assert resp.json()["message"].startswith("Could not find %s %s" % (what, marker))


def test_registry_bounds_the_tags_limit(stack, namespace):
    resp = _registry(stack, "GET", "/metadefs/namespaces/%s/tags?limit=99999999999999999999999"
                     % namespace)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "BadRequest"


@pytest.mark.parametrize("query", ["=x", "%s=x" % ("a" * 300), "tag=%s" % ("t" * 300)])
def test_list_filter_no_image_can_match_is_empty(user, query):
    user.create_image(foo="x", tags=["t"])
    resp = user.get("/v2/images?" + query)
    assert resp.status_code == 200, resp.text
    assert resp.json()["images"] == []


@pytest.mark.parametrize("value", ["gte:9999-12-31T23:00:00-05:00",
                                   "lt:0001-01-01T01:00:00%2B05:00"])
def test_list_time_with_no_utc_equivalent_is_400(user, value):
    resp = user.get("/v2/images?created_at=" + value)
    assert (resp.status_code, resp.json()) == (400, {
        "message": 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'
                   "<br /><br />\n\n\n",
        "code": "400 Bad Request", "title": "Bad Request"})


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/tasks", {"task": {"type": "import", "owner": "p", "expires_at": "9999-99-99"}}),
    ("POST", "/tasks", {"task": {"type": "import", "owner": "p",
                                 "expires_at": "9999-12-31T23:00:00-05:00"}}),
    ("POST", "/tasks/search", {"limit": 2 ** 64}),
    ("POST", "/images/search", {"filters": [["created_at", "gte",
                                             "0001-01-01T01:00:00+05:00"]]}),
    ("GET", "/scrub/jobs?scrub_time=99999999999999999999999", None),
    ("GET", "/scrub/jobs?stall_time=99999999999999999999999", None),
    ("GET", "/scrub/jobs?limit=99999999999999999999999", None),
])
def test_registry_values_out_of_range_are_400(stack, method, path, body):
    resp = _registry(stack, method, path, json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] in ("BadRequest", "InvalidFilter")


@pytest.mark.parametrize("uri, shown", [(5.0, "5.0"), ([1], "[1]"), ({"a": 1}, "{'a': 1}")])
def test_web_download_uri_that_is_no_string_is_400(admin, uri, shown):
    image = admin.create_image(disk_format="raw", container_format="bare")
    resp = admin.post("/v2/images/%s/import" % image["id"],
                      json={"method": {"name": "web-download", "uri": uri}})
    assert (resp.status_code, resp.json()) == (400, {
        "message": "URI for web-download does not pass filtering: %s<br /><br />\n\n\n" % shown,
        "code": "400 Bad Request", "title": "Bad Request"})
    assert admin.show(image["id"])["status"] == "queued"
