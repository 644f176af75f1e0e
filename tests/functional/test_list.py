"""GET /v2/images: filters, operators, sorts, first/next links and paging over 1,000 images."""
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import requests


def make(user, names, **body):
    """Create one image per name (owned by the user); return {name: image}."""
    return {name: user.create_image(name=name, **body) for name in names}


def listed(user, query):
    """Return the image names of one list page (200 expected)."""
    resp = user.get("/v2/images?" + query)
    assert resp.status_code == 200, resp.text
    return [image["name"] for image in resp.json()["images"]]


def test_list_shape_and_first_link(user):
    user.create_image()
    resp = user.get("/v2/images")
    assert resp.status_code == 200
    body = resp.json()
    assert body["first"] == "/v2/images" and body["schema"] == "/v2/schemas/images"
    assert "next" not in body or body["next"].startswith("/v2/images?")


def test_exact_and_in_filters(user):
    p = user.project_id
    make(user, ["alpha", "beta", "glass, darkly"], disk_format="qcow2")
    make(user, ["gamma"], disk_format="raw", foo="bar")
    assert sorted(listed(user, f"owner={p}&disk_format=qcow2")) == [
        "alpha", "beta", "glass, darkly"]
    assert listed(user, f"owner={p}&name=beta") == ["beta"]
    assert sorted(listed(user, f"owner={p}&name=in:alpha,gamma")) == ["alpha", "gamma"]
    assert sorted(listed(user, f"owner={p}&name=" + quote('in:"glass, darkly",beta'))) == [
        "beta", "glass, darkly"]
    assert listed(user, f"owner={p}&foo=bar") == ["gamma"]
    assert listed(user, f"owner={p}&status=active") == []
    resp = user.get(f"/v2/images?owner={p}&name=zz:alpha")
    assert resp.status_code == 400
    assert "Unable to filter by unknown operator 'zz'." in resp.json()["message"]


def test_tag_filter_is_and(user):
    p = user.project_id
    make(user, ["one"], tags=["x"])
    make(user, ["both"], tags=["x", "y"])
    assert sorted(listed(user, f"owner={p}&tag=x")) == ["both", "one"]
    assert listed(user, f"owner={p}&tag=x&tag=y") == ["both"]


def test_visibility_hidden_protected_filters(user):
    p = user.project_id
    make(user, ["priv"], visibility="private")
    make(user, ["comm"], visibility="community")
    make(user, ["hidden"], os_hidden=True)
    make(user, ["prot"], protected=True)
    assert listed(user, f"owner={p}&visibility=private") == ["priv"]
    assert listed(user, f"owner={p}&visibility=community") == ["comm"]
    assert "hidden" not in listed(user, f"owner={p}")
    assert listed(user, f"owner={p}&os_hidden=true") == ["hidden"]
    assert listed(user, f"owner={p}&protected=true") == ["prot"]
    for query, message in [("visibility=nope", "Invalid visibility value: nope"),
                           ("os_hidden=yes", ""), ("protected=maybe", ""),
                           ("member_status=nope", "Invalid status: nope")]:
        resp = user.get("/v2/images?" + query)
        assert resp.status_code == 400, query
        assert message in resp.json()["message"]


def test_date_filters(user):
    p = user.project_id
    old = user.create_image(name="old")
    assert "old" in listed(user, f"owner={p}&created_at=" + quote("gte:" + old["created_at"]))
    assert listed(user, f"owner={p}&created_at=" + quote("gt:2999-01-01T00:00:00Z")) == []
    assert listed(user, f"owner={p}&updated_at=" + quote("lt:2000-01-01T00:00:00Z")) == []
    resp = user.get("/v2/images?created_at=gte:notadate")
    assert resp.status_code == 400
    assert 'Bad "created_at" query filter format' in resp.json()["message"]
    resp = user.get("/v2/images?changes-since=2020-01-01T00:00:00Z")
    assert resp.status_code == 400
    assert "no longer available on v2" in resp.json()["message"]


def test_sorting(user):
    p = user.project_id
    make(user, ["b", "c", "a"])
    assert listed(user, f"owner={p}&sort=name:asc") == ["a", "b", "c"]
    assert listed(user, f"owner={p}&sort=name:desc") == ["c", "b", "a"]
    assert listed(user, f"owner={p}&sort_key=name&sort_dir=asc") == ["a", "b", "c"]
    # NOTE: created_at has whole seconds on MySQL, as in Glance, so the default order is only
    # comparable with its own definition: created_at desc, then id desc.
    assert listed(user, f"owner={p}") == listed(user, f"owner={p}&sort=created_at:desc,id:desc")
    errors = [("sort=name&sort_key=name", "Old and new sorting syntax cannot be combined"),
              ("sort=foo:asc", "Invalid sort key: foo"),
              ("sort_key=name&sort_dir=up", "Invalid sort direction: up"),
              ("sort_key=name&sort_key=id&sort_dir=asc&sort_dir=asc&sort_dir=asc",
               "Number of sort dirs does not match the number of sort keys")]
    for query, message in errors:
        resp = user.get("/v2/images?" + query)
        assert resp.status_code == 400, query
        assert message in resp.json()["message"], query


def test_limit_marker_and_links(user):
    p = user.project_id
    images = make(user, ["a", "b", "c"])
    resp = user.get(f"/v2/images?limit=2&sort=name:asc&owner={p}")
    body = resp.json()
    assert [i["name"] for i in body["images"]] == ["a", "b"]
    assert body["first"] == f"/v2/images?limit=2&sort=name%3Aasc&owner={p}"
    assert body["next"] == (f"/v2/images?limit=2&sort=name%3Aasc&owner={p}"
                            f"&marker={images['b']['id']}")
    body = user.get(body["next"]).json()
    assert [i["name"] for i in body["images"]] == ["c"]
    assert "next" not in body
    assert body["first"] == f"/v2/images?limit=2&sort=name%3Aasc&owner={p}"


def test_next_link_when_page_exactly_full(user):
    p = user.project_id
    make(user, ["a", "b"])
    body = user.get(f"/v2/images?owner={p}&limit=2").json()
    assert len(body["images"]) == 2 and "next" in body
    body = user.get(body["next"]).json()
    assert body["images"] == [] and "next" not in body


def test_repeated_params_collapse_in_links(user):
    p = user.project_id
    make(user, ["t"], tags=["t1", "t2"])
    body = user.get(f"/v2/images?tag=t1&tag=t2&owner={p}&limit=1").json()
    assert [i["name"] for i in body["images"]] == ["t"]
    assert body["first"] == f"/v2/images?tag=t2&owner={p}&limit=1"


def test_limit_and_marker_errors(user):
    assert user.get("/v2/images?limit=0").json()["images"] == []
    assert "next" not in user.get("/v2/images?limit=0").json()
    for query, message in [("limit=x", "limit param must be an integer"),
                           ("limit=-1", "limit param must be positive")]:
        resp = user.get("/v2/images?" + query)
        assert resp.status_code == 400 and message in resp.json()["message"]
    missing = str(uuid.uuid4())
    resp = user.get(f"/v2/images?marker={missing}")
    assert resp.status_code == 400
    assert f"No image found with ID {missing}" in resp.json()["message"]


def _registry_create(stack, owner, count):
    """Create images straight through the registry, in parallel; return their ids."""
    headers = {"X-Project-Id": owner, "X-Roles": "admin", "X-Is-Admin": "True",
               "X-User-Id": "loader"}
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def one(n):
        body = {"image": {"name": f"bulk-{n:04d}", "owner": owner, "visibility": "private",
                          "disk_format": "raw", "container_format": "bare"}}
        resp = session.post(stack.registry_url + "/images", json=body, headers=headers,
                            timeout=60)
        assert resp.status_code == 201, resp.text
        return resp.json()["image"]["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        return set(pool.map(one, range(count)))


def test_paging_over_a_thousand_images(stack, user):
    ids = _registry_create(stack, user.project_id, 1005)
    body = user.get(f"/v2/images?owner={user.project_id}&limit=5000").json()
    assert len(body["images"]) == 1000  # api_limit_max
    assert "next" in body
    seen, path, pages = [], f"/v2/images?owner={user.project_id}&limit=250", 0
    while path:
        resp = user.get(path)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        seen += [i["id"] for i in page["images"]]
        path, pages = page.get("next"), pages + 1
    assert pages == 5  # four full pages of 250, then the last 5 with no next link
    assert len(seen) == len(set(seen)) == 1005
    assert set(seen) == ids
    default = user.get(f"/v2/images?owner={user.project_id}").json()
    assert len(default["images"]) == 25  # limit_param_default


def test_integer_filters_past_the_columns_range(user):
    """Bounds no column can hold are 200 (as MySQL compares them) or 400, never a 500."""
    p = user.project_id
    make(user, ["sized"], min_ram=5)
    huge = "9" * 23
    assert listed(user, f"owner={p}&size_min={huge}") == []
    assert listed(user, f"owner={p}&min_ram_max={huge}") == ["sized"]
    assert listed(user, f"owner={p}&min_ram_min=-{huge}") == ["sized"]
    resp = user.get(f"/v2/images?owner={p}&min_ram={huge}")
    assert resp.status_code == 400
    assert f"Invalid value '{huge}' for filter 'min_ram'." in resp.text
