"""Bounded fuzzing of every route of glance-api and glance-registry: no input gives a 5xx.

A real stack on MariaDB (where most 500s showed). Each route of each app's route table (read
from the routers of the apps built from the stack's own config files, so a new route is
fuzzed without being listed here) gets ``GLANCE_FUZZ_EXAMPLES`` requests per method and
identity: an admin and a non-admin project through the api (noauth X-Project-Id/X-Roles),
and the same two straight at the registry port (X-Is-Admin True/False). Inputs: malformed
JSON, lone UTF-16 surrogates, wrong types under the keys the routes read, huge numbers,
``[]``/``null`` bodies, odd path segments and query strings. Every answer must be < 500 and
an error must have its app's body shape; through the api, no registry wording.

``GLANCE_FUZZ_SEED`` replays a run; the seed and the request count are printed at the end.
"""
import copy
import json
import os
import random
import re
import sys
import time
import types
import urllib.parse
import uuid
import zlib

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from oslo_config import cfg

from tests.functional import fuzz_bodies
from tests.functional.conftest import User, running_stack

pytestmark = pytest.mark.mariadb

SEED = int(os.environ.get("GLANCE_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
EXAMPLES = int(os.environ.get("GLANCE_FUZZ_EXAMPLES", "15"))
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ADMIN_ROLES = "admin,member,reader"
# Words of the registry's own errors: through the api every error is Glance's text.
REGISTRY_WORDING = ("Database error", "cannot transition", "wanted from_state", "Invalid list",
                    "Registry answered", "Internal error in the registry", "Invalid body",
                    "Malformed JSON in request body: ", "RegistryUnavailable", "sqlalchemy",
                    "pymysql", "Only an admin may do this", "Only glance-api may change",
                    "is not [key, op, value]", "Unknown image attribute", "Node reference",
                    "kind must be one of", 'Expected {"url"')
COUNT = {"requests": 0, "started": None, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}


def _walk(nodes, out):
    for node in nodes:
        if node.resource is not None:
            out.append((node.uri_template, _methods(node.resource)))
        _walk(node.children, out)
    return out


def _methods(resource):
    allowed = getattr(resource, "allowed", None)
    return tuple(allowed or (m for m in METHODS if hasattr(resource, "on_" + m.lower())))


def _conf(register, path):
    conf = cfg.ConfigOpts()
    register(conf)
    conf(["--config-file", str(path)], project="glance", default_config_files=[],
         default_config_dirs=[])
    return conf


def api_routes(stack):
    """Return [(template, methods)] of the api built from the stack's config file."""
    from glance_api import app
    from glance_api import config
    built = app.create_app(_conf(config.register_opts, stack.api_conf))
    # NOTE: GlanceApi answers these before the v2 router (versions, oslo healthcheck).
    return [("/", ("GET",)), ("/versions", ("GET",)), ("/healthcheck", ("GET",))] + \
        _walk(built.v2_app._router._roots, [])


def registry_routes(stack):
    """Return [(template, methods)] of the registry app, every repository switched on."""
    from glance_registry import app, config
    repos = types.SimpleNamespace(images=object(), tasks=object(), cache=object(),
                                  usage=object(), scrub=object(), metadefs=object())
    built = app.create_app(_conf(config.register_opts, stack.registry_conf), repos=repos)
    return _walk(built._router._roots, [])


# ---------------------------------------------------------------- inputs
SURROGATES = ["\ud800", "a\udfffb", "\udbff\udbff", "x\ud83d"]
ODD_SEGMENTS = ["", " ", "%ED%A0%80", "%FF", "%00", "%2F", "..", "a" * 300, "-1", "0",
                "99999999999999999999999", "\u00fc\u4e2d", "null", "%25", "%F0%9F%98%80"]
HUGE = [2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30), -1, 0]
QUERY_KEYS = ["limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "member_status",
              "os_hidden", "name", "status", "tag", "size_min", "size_max", "created_at",
              "updated_at", "detail", "include_deleted", "from_state", "member", "image_id",
              "resource_type", "resource_types", "type", "owner", "scrub_time", "stall_time",
              "types", "protected", "changes-since", "id", "min_ram", "node", "prefer"]
QUERY_VALUES = ["99999999999999999999999", "-1", "0", "1", "1e400", "nan", "true", "False",
                "", "%ED%A0%80", "%FF", "in:a,b", "gte:2026-01-01T00:00:00Z", "asc", "desc",
                "public", "all", "name:asc,size", "lt:", "%00", "2026-13-45", "deleted",
                "pending_delete", "a" * 300, "[]", "{}", "null", "gte:9999-12-31T23:00:00-05:00",
                "lt:0001-01-01T01:00:00%2B05:00", "9999-99-99"]
BODY_KEYS = ["name", "visibility", "tags", "min_ram", "min_disk", "protected", "os_hidden",
             "disk_format", "container_format", "id", "owner", "status", "member", "members",
             "can_share", "method", "type", "input", "stores", "all_stores", "url", "metadata",
             "namespace", "display_name", "description", "objects", "properties", "required",
             "title", "prefix", "properties_target", "enum", "minimum", "maximum", "default",
             "items", "image", "values", "from_state", "purge_props", "filters", "sort",
             "limit", "marker", "task", "names", "append", "item", "contents", "schema",
             "node", "image_id", "size", "checksum", "ids", "message", "expires_at", "kind",
             "op", "path", "value", "locations", "validation_data", "size_min", "result"]
RAW_BODIES = [b"{", b"[", b'{"a":', b"\xff\xfe", b"", b"nul", b'{"a": NaN}', b'{"a": Infinity}',
              b'{"a": 1e999}', b'"\\ud800"', b'{"\\ud800": 1}', b"[" * 100000, b"{}" * 3,
              b'{"name": "\xed\xa0\x80"}', b"\x00", b"1", b'"x"', b"true"]


def _segment(value):
    return value if "%" in value else urllib.parse.quote(value.encode(), safe="")


def scalars():
    """Strategy for JSON leaves: odd strings, surrogates, huge and awkward numbers."""
    return (st.none() | st.booleans() | st.sampled_from(HUGE) | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=12) | st.sampled_from(SURROGATES)
            | st.sampled_from(["active", "queued", "public", "private", "shared", "accepted",
                               "import", "web-download", "a" * 300, "", "OS::Glance::Image",
                               "9999-12-31T23:00:00-05:00", "9999-99-99", "2026-01-01T00:00:00Z"]))


JSON = st.recursive(scalars(), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(BODY_KEYS) | st.sampled_from(SURROGATES) | st.text(max_size=6), inner,
    max_size=4), max_leaves=10)
BODIES = st.one_of(st.none(), st.sampled_from(RAW_BODIES),
                   st.builds(lambda v: json.dumps(v).encode(), JSON),
                   st.builds(lambda d: json.dumps(d).encode(),
                             st.dictionaries(st.sampled_from(BODY_KEYS), JSON, max_size=5)))
CONTENT_TYPES = st.sampled_from(["application/json", "application/json", "application/json",
                                 "application/openstack-images-v2.1-json-patch",
                                 "application/octet-stream", "text/plain", None])


POISONS = st.one_of(
    st.sampled_from(SURROGATES), st.sampled_from(HUGE + [1e308, -1e308, 0.5]),
    st.sampled_from(["9999-12-31T23:00:00-05:00", "9999-99-99", "2026-01-01T00:00:00+99:00"]),
    st.sampled_from([[], {}, None, "", True, [[]], {"": None}, "a" * 70000, ["\ud800"],
                     {"\ud800": "x"}]), scalars())


def _spots(value, out):
    """List (container, key) of every position inside a JSON value."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        out.append((value, key))
        _spots(child, out)
    return out


@st.composite
def poisoned(draw, example):
    """A well-formed body with one or two values (or a key) swapped for a poison."""
    body = copy.deepcopy(example)
    for _ in range(draw(st.integers(1, 2))):
        spots = _spots(body, [])
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        if isinstance(container, dict) and draw(st.booleans()):
            container[draw(st.sampled_from(SURROGATES + ["", "a" * 300]))] = container.pop(key)
        else:
            # NOTE: a copy: a later swap must not change the shared poison ([], {...}).
            container[key] = copy.deepcopy(draw(POISONS))
    return json.dumps(body).encode()


def _fill(value, known):
    if isinstance(value, dict):
        return {k: _fill(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, known) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return known.get(value[1:-1], ["x"])[0]
    return value


def bodies(example, known):
    """Strategy for a route's body: mostly its example poisoned, else anything odd."""
    if example is None:
        return BODIES
    example = _fill(example, known)
    return st.one_of(BODIES, poisoned(example), poisoned(example), st.just(
        json.dumps(example).encode()))


def _query(pairs):
    return "&".join(_segment(k) + "=" + _segment(v) for k, v in pairs)


NASTY = ["99999999999999999999999", "-1", "1e400", "%ED%A0%80", "", "a" * 300, "a" * 5000,
         "%FF" * 1000]
BIG = ["99999999999999999999999", str(2 ** 63), str(2 ** 31)]
LATE, EARLY = "9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00%2B05:00"
# Values each known parameter takes without being refused, at its extremes: all of them
# in one query reach the code behind the checks instead of stopping at the first refusal.
EXTREMES = {
    "limit": BIG, "size_min": BIG, "size_max": BIG, "min_ram": BIG, "scrub_time": BIG,
    "stall_time": BIG, "created_at": ["gte:" + LATE, "lt:" + EARLY],
    "updated_at": ["lte:" + LATE, "gt:" + EARLY], "sort_dir": ["asc"],
    "sort_key": ["updated_at", "name"], "member_status": ["all"], "os_hidden": ["true"],
    "visibility": ["all", "public"], "detail": ["true"], "include_deleted": ["true"],
    "name": ["a" * 255, "%ED%A0%80", "%00"], "tag": ["t" * 300, "%F0%9F%98%80"],
    "id": ["in:" + ",".join(["x"] * 200)], "owner": ["a" * 300], "prefer": ["file,nope"],
    "resource_types": ["OS::Glance::Image," * 50], "type": ["import"], "types": ["import"],
}
QUERIES = st.one_of(
    st.just(""),
    st.builds(_query, st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | st.text(max_size=5),
                                         st.sampled_from(QUERY_VALUES) | st.text(max_size=8)),
                               max_size=4)),
    st.builds(lambda k, v: _query([(k, v)]), st.sampled_from(QUERY_KEYS), st.sampled_from(NASTY)),
    st.fixed_dictionaries({k: st.sampled_from(v) for k, v in EXTREMES.items()}).map(
        lambda values: _query(sorted(values.items()))),
    st.sampled_from(["&&", "=", "%", "limit", "a=%ZZ", "limit=1&limit=x", ";;", "?"]))


def path_values(known, name):
    """Strategy for one path parameter: a seeded resource's value or an odd segment."""
    good = [_segment(v) for v in known.get(name, [])]
    odd = st.sampled_from(ODD_SEGMENTS + ["x"])
    return st.one_of(st.sampled_from(good), st.sampled_from(good), odd) if good else odd


_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


# ---------------------------------------------------------------- the stack and its data
@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, worker_id_safe, request):
    with running_stack(tmp_path_factory, "mariadb", "fuzz", worker_id_safe) as stack:
        COUNT["started"] = time.monotonic()
        yield stack
        _report(request, "glance fuzz: %d requests in %.0f s, seed %d (GLANCE_FUZZ_SEED), "
                "%d examples per route, method and identity; answers 2xx %d, 3xx %d, "
                "4xx %d, 5xx %d" % (COUNT["requests"], time.monotonic() - COUNT["started"],
                                    SEED, EXAMPLES, COUNT["2xx"], COUNT["3xx"], COUNT["4xx"],
                                    COUNT["5xx"]))


def _report(request, line):
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        # NOTE: an xdist worker has no terminal; its stderr reaches the controller's.
        print(line, file=sys.__stderr__)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


class Seeded:
    """The resources the fuzzed paths name, re-created before each route if a DELETE won."""

    def __init__(self, stack):
        self.admin = User(stack.api_url, project_id="fz-admin-" + uuid.uuid4().hex[:8],
                          roles=ADMIN_ROLES)
        self.member = User(stack.api_url, project_id="fz-member-" + uuid.uuid4().hex[:8])
        self.other = "fz-other-" + uuid.uuid4().hex[:8]
        self.ns = "fuzz-ns-" + uuid.uuid4().hex[:6]
        self.images = {}
        resp = requests.post(stack.registry_url + "/tasks", timeout=30, json={"task": {
            "type": "import", "owner": self.member.project_id, "input": {}}},
            headers=_registry_headers(self.admin.project_id, True))
        assert resp.status_code == 201, resp.text
        self.task_id = resp.json()["task"]["id"]

    def ensure(self):
        """Create what is missing: images (one active, one shared), a namespace and a task."""
        for kind in ("plain", "shared", "active"):
            image_id = self.images.get(kind)
            if image_id is None or self.member.get("/v2/images/" + image_id).status_code != 200:
                self.images[kind] = self._image(kind)
        ns_url = "/v2/metadefs/namespaces/" + self.ns
        if self.admin.get(ns_url).status_code != 200:
            self.admin.delete(ns_url)
            resp = self.admin.post("/v2/metadefs/namespaces", json={
                "namespace": self.ns, "visibility": "public",
                "properties": {"p1": {"type": "string", "title": "P"}},
                "objects": [{"name": "o1"}], "tags": [{"name": "t1"}],
                "resource_type_associations": [{"name": "OS::Glance::Image",
                                                "prefix": "fz_"}]})
            assert resp.status_code == 201, resp.text

    def _image(self, kind):
        body = {"tags": ["t1"], "foo": "bar", "disk_format": "raw", "container_format": "bare"}
        if kind == "shared":
            body["visibility"] = "shared"
        image = self.member.create_image(**body)
        if kind == "shared":
            self.member.post("/v2/images/%s/members" % image["id"], json={"member": self.other})
        if kind == "active":
            assert self.member.upload(image["id"], b"fuzz data").status_code == 204
        return image["id"]

    def known(self):
        """Return {path parameter name: [values]} for both apps' templates."""
        images = list(self.images.values()) + [str(uuid.uuid4())]
        items = ["o1", "p1", "t1", "fz_p1", "OS::Glance::Image"]
        return {"image_id": images, "tag": ["t1", "a/b"], "member_id": [self.other],
                "member": [self.other, self.member.project_id],
                "task_id": [self.task_id, str(uuid.uuid4())],
                "store_id": ["file", "http", "nope"], "namespace": [self.ns], "ns": [self.ns],
                "object_name": ["o1"], "property_name": ["p1", "fz_p1"], "tag_name": ["t1"],
                "resource_type": ["OS::Glance::Image"], "name": items,
                "kind": ["objects", "properties", "tags", "resource_types"],
                "owner": [self.member.project_id, self.admin.project_id],
                "location_id": ["1", "99999999999999999999"]}


@pytest.fixture(scope="module")
def seeded(fuzz_stack):
    data = Seeded(fuzz_stack)
    data.ensure()
    return data


# ---------------------------------------------------------------- the checks
def _api_headers(project, roles):
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project,
            "X-User-Id": "u-" + project, "X-Roles": roles, "Accept": "application/json"}


def _registry_headers(project, admin):
    return {"X-Project-Id": project, "X-User-Id": "u-" + project,
            "X-Roles": ADMIN_ROLES if admin else "member,reader",
            "X-Is-Admin": "True" if admin else "False"}


def _ours(resp):
    """Return whether an app wrote this error (a body whose shape is checked).

    NOTE: a request line past gunicorn's limit_request_line is its 414, in its words,
    before any app runs (eventlet did the same in front of Glance).
    """
    return resp.status_code >= 400 and resp.request.method != "HEAD" and \
        resp.status_code != 414


def _check_api(resp):
    if not _ours(resp):
        return None
    try:
        body = resp.json()
    except ValueError:
        return "error body is not JSON"
    if set(body) != {"message", "code", "title"} or \
            not body["code"].startswith(str(resp.status_code)):
        return "error body is not Glance's shape"
    leaked = [w for w in REGISTRY_WORDING if w in body["message"]]
    return "registry wording %s reached the user" % leaked if leaked else None


def _check_registry(resp):
    if not _ours(resp):
        return None
    try:
        error = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "error body is not {\"error\": {...}}"
    if not (isinstance(error, dict) and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)):
        return "error body is not {\"error\": {\"code\", \"message\"}}"
    return None


def fuzz_route(base_url, route, headers, known, check, examples):
    """Run the bounded search on one (method, template); return the failures found."""
    method, template = route
    body_strategy = bodies(examples.get(route), known)
    found = []   # NOTE: kept here too: hypothesis' replay of a failure may end differently

    # NOTE: one seed per route and identity, so routes do not all draw the same inputs.
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @seed(SEED ^ zlib.crc32(repr((route, headers["X-Project-Id"][:9])).encode()))
    @given(data=st.data())
    def run(data):
        path = _PARAM.sub(lambda m: data.draw(path_values(known, m.group(1)), m.group(1)),
                          template)
        query = data.draw(QUERIES, "query")
        body = data.draw(body_strategy, "body") if method not in ("GET", "HEAD") else \
            data.draw(st.none() | st.sampled_from([b"[]", b"{}"]), "body")
        # NOTE: a connection per request: an error answered before a large body was read
        # ends its connection (gunicorn stops draining), which is not what is tested here.
        sent = dict(headers, Connection="close")
        content_type = data.draw(CONTENT_TYPES, "content_type")
        if body is not None and content_type:
            sent["Content-Type"] = content_type
        url = base_url + path + ("?" + query if query else "")
        COUNT["requests"] += 1
        try:
            resp = requests.request(method, url, data=body, headers=sent, timeout=60,
                                   allow_redirects=False)
        except requests.RequestException as e:
            found.append("%s %s: no answer (%s)" % (method, url, e))
            raise AssertionError(found[-1]) from None
        COUNT["%dxx" % min(resp.status_code // 100, 5)] += 1
        problem = "answered %d" % resp.status_code if resp.status_code >= 500 else check(resp)
        if problem is not None:
            found.append("%s %s\nheaders %s\nbody %r\n-> %s: %d %s" % (
                method, url, sent, (body or b"")[:300], problem, resp.status_code,
                resp.text[:500]))
            raise AssertionError(found[-1])

    try:
        run()
    except Exception as e:
        # NOTE: hypothesis may wrap the failure (FlakyFailure, an exception group) or
        # replace it (its replay drew differently).
        return found[:1] or ["%s %s: %s" % (method, template, e)]
    return []


def _fuzz_app(routes, base_url, headers, seeded, check, examples):
    unknown = set(examples) - {(m, t) for t, methods in routes for m in methods}
    assert not unknown, "fuzz_bodies names routes the app does not have: %s" % unknown
    failures = []
    for template, methods in routes:
        seeded.ensure()
        known = seeded.known()
        for method in methods:
            failures += fuzz_route(base_url, (method, template), headers, known, check,
                                   examples)
    assert not failures, "seed %d: %d route(s) failed:\n\n%s" % (
        SEED, len(failures), "\n\n".join(failures))


@pytest.mark.parametrize("who", ["admin", "member"])
def test_api_never_answers_5xx(fuzz_stack, seeded, who):
    user = seeded.admin if who == "admin" else seeded.member
    headers = _api_headers(user.project_id, ADMIN_ROLES if who == "admin" else "member,reader")
    _fuzz_app(api_routes(fuzz_stack), fuzz_stack.api_url, headers, seeded, _check_api,
              fuzz_bodies.API)


@pytest.mark.parametrize("who", ["admin", "member"])
def test_registry_never_answers_5xx(fuzz_stack, seeded, who):
    user = seeded.admin if who == "admin" else seeded.member
    headers = _registry_headers(user.project_id, who == "admin")
    _fuzz_app(registry_routes(fuzz_stack), fuzz_stack.registry_url, headers, seeded,
              _check_registry, fuzz_bodies.REGISTRY)
