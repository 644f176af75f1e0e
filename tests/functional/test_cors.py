"""CORS and TLS-proxy headers: ours against real Glance 33, under the same configuration.

Glance's api pipeline starts with oslo.middleware's ``cors`` and ``http_proxy_to_wsgi``
filters. One scenario (``SCENARIO``: preflight OPTIONS requests from allowed and refused
origins, methods and headers; actual requests with an Origin; requests carrying
X-Forwarded-Proto/-Host/-Prefix and RFC 7239 ``Forwarded``) runs against real Glance 33 and
against our stack, once per configuration in ``CONFIGS``; every answer (status, the
Access-Control-*, Vary and Location headers, the links of the body) must be equal once ids
and ports are normalised.

NOTE: real Glance's ``cors`` filter reads its options from a ConfigOpts of its own, found by
oslo.config's default search (``~/.glance/glance-api.conf``, ``/etc/glance/...``), not from
the config dir the oracle gives the app; so the oracle's process gets a HOME holding the same
file, as a packaged Glance reads /etc/glance/glance-api.conf.
"""
import contextlib
import re
import subprocess
import uuid

import pytest
import requests

from tests.conftest import script
from tests.functional.conftest import Stack, User
from tests.functional.glance33_oracle import OurStack, RealGlance, glance33_bin, real_db_sync

ORIGIN = "https://dash.example.com"
ADMIN_ROLES = "admin,member,reader"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "images.example.com"}
PROXY_ON = "\n[oslo_middleware]\nenable_proxy_headers_parsing = true\n"
CONFIGS = {
    # what an operator serving Horizon's direct uploads behind a TLS proxy sets
    "cors-and-proxy": ("\n[cors]\nallowed_origin = %s,https://other.example.com\n" % ORIGIN
                       + PROXY_ON),
    # Glance's defaults: no origin allowed, forwarded headers ignored
    "defaults": "",
    # odd but parseable values and unknown keys: answered as Glance answers, never a 500
    "odd": ("\n[cors]\nallowed_origin = %s, ,*bad, not a url\nmax_age = -5\n"
            "allow_credentials = false\nallow_methods = GET,get,PUT\n"
            "allow_headers = ,,x-auth-token\nexpose_headers =\nbogus = 1\n"
            "\n[cors.horizon]\nallowed_origin = https://h.example.com\n"
            "\n[oslo_middleware]\nenable_proxy_headers_parsing = false\nbogus = 2\n" % ORIGIN),
}
COMPARED_HEADERS = ("vary", "location")
# NOTE: Glance 33 has no Images API v1, so neither its versions document nor its routes.
OURS_ONLY = "\n[DEFAULT]\nenable_v1_api = false\n"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def normalise(value, names):
    """Replace uuids (numbered by first sight) and loopback ports in a string."""
    value = _UUID.sub(lambda m: "<id%d>" % names.setdefault(m.group(0), len(names)), value)
    return _PORT.sub("127.0.0.1:<port>", value)


def links(body):
    """Return the parts of a JSON body that are URLs (or the whole versions document)."""
    if "versions" in body:
        return body
    if "images" in body:
        return {"first": body.get("first"), "next": body.get("next"),
                "schema": body.get("schema"),
                "images": [links(image) for image in body["images"]]}
    return {k: body[k] for k in ("self", "file", "schema") if k in body}


def answer(resp, names):
    """Return what a browser sees of an answer, normalised."""
    # NOTE: names in lower case: falcon sends its own headers so, webob capitalised.
    headers = {k.lower(): v for k, v in resp.headers.items()
               if k.lower().startswith("access-control-") or k.lower() in COMPARED_HEADERS}
    if resp.request.method == "OPTIONS":
        headers["content-type"] = resp.headers.get("Content-Type", "(none)")
    try:
        body = links(resp.json())
    except ValueError:
        body = resp.text if len(resp.text) < 100 else "<%d chars>" % len(resp.text)
    return {"status": resp.status_code,
            "headers": {k: normalise(v, names) for k, v in sorted(headers.items())},
            "body": normalise(repr(body), names)}


def preflight(method, headers=None, origin=ORIGIN):
    """Return the headers of a browser's preflight for ``method`` from ``origin``."""
    out = {"Origin": origin} if origin is not None else {}
    if method is not None:
        out["Access-Control-Request-Method"] = method
    if headers is not None:
        out["Access-Control-Request-Headers"] = headers
    return out


def SCENARIO(base_url):
    """Run the preflight, actual and forwarded requests; return [(label, answer)]."""
    project = str(uuid.uuid4())
    member = User(base_url, project)
    admin = User(base_url, project, roles=ADMIN_ROLES)
    names, out = {}, []
    anonymous = requests.Session()

    def call(label, user, method, path, **kw):
        if user is None:
            resp = anonymous.request(method, base_url + path, allow_redirects=False,
                                     timeout=60, **kw)
        else:
            resp = user.request(method, path, **kw)
        out.append((label, answer(resp, names)))
        return resp

    image = call("create with origin, forwarded", member, "POST", "/v2/images",
                 json={"name": "cors", "disk_format": "raw", "container_format": "bare"},
                 headers={"Origin": ORIGIN, **FORWARDED}).json()
    file_path = "/v2/images/%s/file" % image["id"]
    _preflights(call, member, file_path, image["id"])
    call("create forwarded prefix", member, "POST", "/v2/images", json={"name": "p"},
         headers={**FORWARDED, "X-Forwarded-Prefix": "/image"})
    call("create rfc7239", member, "POST", "/v2/images", json={"name": "r"},
         headers={"Forwarded": "for=192.0.2.60;proto=https;host=img.example.org:8443, "
                               "for=10.0.0.1;proto=http"})
    call("show forwarded", member, "GET", "/v2/images/" + image["id"], headers=FORWARDED)
    call("list paged forwarded", member, "GET", "/v2/images?limit=1", headers=FORWARDED)
    call("list with origin", member, "GET", "/v2/images", headers={"Origin": ORIGIN})
    call("list other origin", member, "GET", "/v2/images",
         headers={"Origin": "https://evil.example.com"})
    call("list origin case", member, "GET", "/v2/images",
         headers={"Origin": ORIGIN.upper()})
    call("missing image with origin", member, "GET", "/v2/images/" + str(uuid.uuid4()),
         headers={"Origin": ORIGIN})
    call("upload with origin", member, "PUT", file_path, data=b"cors bytes",
         headers={"Origin": ORIGIN, "Content-Type": "application/octet-stream"})
    call("download with origin", member, "GET", file_path, headers={"Origin": ORIGIN})
    call("head download with origin", member, "HEAD", file_path, headers={"Origin": ORIGIN})
    call("task create forwarded", admin, "POST", "/v2/tasks",
         json={"type": "location_import", "input": {}}, headers=FORWARDED)
    call("namespace create forwarded", admin, "POST", "/v2/metadefs/namespaces",
         json={"namespace": "cors-%s" % uuid.uuid4()}, headers={"Origin": ORIGIN, **FORWARDED})
    call("versions forwarded prefix", None, "GET", "/",
         headers={**FORWARDED, "X-Forwarded-Prefix": "/image"})
    call("versions rfc7239", None, "GET", "/versions",
         headers={"Forwarded": "proto=https;host=img.example.org"})
    call("versions garbage forwarded", None, "GET", "/versions",
         headers={"Forwarded": ";;=,=;proto", "X-Forwarded-Proto": ""})
    # NOTE: gunicorn itself would refuse these two (400) from a peer it trusted.
    call("versions conflicting scheme headers", None, "GET", "/versions",
         headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"})
    call("v2 redirect forwarded", member, "GET", "/v2",
         headers={**FORWARDED, "X-Forwarded-Prefix": "/image"})
    call("versions with origin", None, "GET", "/versions", headers={"Origin": ORIGIN})
    return out


def _preflights(call, member, file_path, image_id):
    call("preflight create", None, "OPTIONS", "/v2/images",
         headers=preflight("POST", "X-Auth-Token, Content-Type"))
    call("preflight upload", None, "OPTIONS", file_path,
         headers=preflight("PUT", "Content-Type,X-Auth-Token,X-OpenStack-Request-ID"))
    call("preflight patch", None, "OPTIONS", "/v2/images/" + image_id,
         headers=preflight("PATCH", "content-type,x-auth-token"))
    call("preflight other origin", None, "OPTIONS", "/v2/images",
         headers=preflight("POST", origin="https://evil.example.com"))
    call("preflight second origin", None, "OPTIONS", "/v2/images",
         headers=preflight("GET", origin="https://other.example.com"))
    call("preflight sub-section origin", None, "OPTIONS", "/v2/images",
         headers=preflight("GET", origin="https://h.example.com"))
    for method in ("TRACE", "HEAD", "get"):
        call("preflight method " + method, None, "OPTIONS", "/v2/images",
             headers=preflight(method))
    call("preflight bad header", None, "OPTIONS", "/v2/images",
         headers=preflight("GET", "X-Auth-Token,X-Bogus"))
    call("preflight garbage headers", None, "OPTIONS", "/v2/images",
         headers=preflight("GET", ",, ,X-Auth-Token", origin="null"))
    call("preflight no method", None, "OPTIONS", "/v2/images", headers=preflight(None))
    call("preflight no origin", None, "OPTIONS", "/v2/images",
         headers=preflight("GET", origin=None))
    for path in ("/", "/versions", "/v2", "/v9/nothing", "/healthcheck"):
        call("preflight " + path, None, "OPTIONS", path, headers=preflight("GET"))
    # NOTE: what a client that sends its token on OPTIONS gets: the api refuses the method,
    # and the cors filter turns the refusal into an empty 200.
    call("options with identity", member, "OPTIONS", "/v2/images", headers=preflight("DELETE"))


@pytest.fixture(scope="module")
def real_world(tmp_path_factory):
    """Yield (Glance 33 bin dir, root, db url): one schema made by real Glance, for both."""
    bin_dir = glance33_bin()
    root = tmp_path_factory.mktemp("cors")
    db_url = "sqlite:///%s/glance.sqlite" % root
    real_db_sync(bin_dir, db_url, root)
    (root / "staging").mkdir()
    return bin_dir, root, db_url


def real_answers(bin_dir, root, db_url, extra):
    """Run SCENARIO against real Glance 33 configured with ``extra``."""
    home = root / "home"
    glance = RealGlance(bin_dir, root, db_url, root / "images", extra_conf=extra,
                        env={"HOME": str(home)})
    (home / ".glance").mkdir(parents=True, exist_ok=True)
    (home / ".glance" / "glance-api.conf").write_text(
        (glance.confdir / "glance-api.conf").read_text())
    with glance.running():
        return SCENARIO(glance.url)


def our_answers(root, db_url, extra):
    """Run SCENARIO against our stack configured with ``extra`` (the registry untouched)."""
    stack = OurStack(root, db_url, "sqlite", api_extra=OURS_ONLY + extra)
    with stack.running():
        return SCENARIO(stack.api_url)


@pytest.mark.oracle
@pytest.mark.parametrize("config", list(CONFIGS))
def test_cors_and_proxy_headers_match_glance33(real_world, config):
    bin_dir, root, db_url = real_world
    (root / "images").mkdir(exist_ok=True)
    theirs = real_answers(bin_dir, root, db_url, CONFIGS[config])
    ours = our_answers(root, db_url, CONFIGS[config])
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    differ = [(label, mine, real) for (label, mine), (_, real)
              in zip(ours, theirs, strict=True) if mine != real]
    assert not differ, "\n".join("%s:\n  ours   %s\n  Glance %s" % d for d in differ)
    # NOTE: what each configuration is for, so that a scenario where both sides went
    # wrong the same way (or answered nothing) cannot pass.
    mine = dict(ours)
    assert mine["download with origin"]["status"] == 200
    created, preflight_ok = mine["create with origin, forwarded"], mine["preflight create"]
    assert created["status"] == 201
    if config == "cors-and-proxy":
        assert created["headers"]["location"].startswith("https://images.example.com/v2/")
        assert created["headers"]["access-control-allow-origin"] == ORIGIN
        assert preflight_ok["headers"]["access-control-allow-methods"] == "POST"
        assert "access-control-allow-origin" not in mine["preflight method TRACE"]["headers"]
    else:
        assert created["headers"]["location"].startswith("http://127.0.0.1:<port>/v2/")
        assert "access-control-allow-origin" not in preflight_ok["headers"]


def test_registry_has_no_cors(tmp_path):
    """CORS is the api's (Glance's registry pipeline had no cors filter)."""
    stack = Stack(tmp_path, "sqlite:///%s/glance.sqlite" % tmp_path, "sqlite",
                  api_extra=CONFIGS["cors-and-proxy"])
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(stack.stop)
        stack.start()
        api = requests.options(stack.api_url + "/v2/images", headers=preflight("GET"),
                               timeout=30)
        assert api.headers.get("Access-Control-Allow-Origin") == ORIGIN
        for method in ("OPTIONS", "GET"):
            resp = requests.request(method, stack.registry_url + "/images",
                                    headers=preflight("GET"), timeout=30)
            assert not [k for k in resp.headers if k.lower().startswith("access-control")]


@pytest.mark.parametrize("bad", [
    "[cors]\nallowed_origin = %s\nmax_age = abc\n" % ORIGIN,
    "[cors]\nallow_credentials = maybe\n",
    # NOTE: real Glance 33 starts with this one and answers every request 500.
    "[oslo_middleware]\nenable_proxy_headers_parsing = perhaps\n",
])
def test_bad_middleware_value_stops_the_start(tmp_path, bad):
    stack = Stack(tmp_path, "sqlite:///%s/glance.sqlite" % tmp_path, "sqlite",
                  api_extra="\n" + bad)
    stack.api_port, stack.reg_port = 1, 2   # never bound: the start stops before
    stack.write_configs()
    proc = subprocess.run([script("glance-api"), "--config-file", str(stack.api_conf)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0
    option = bad.split("\n")[-2].split(" = ")[0]
    assert proc.stderr.startswith("ERROR: ") and option in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
