"""PATCH /locations with validation_data and location replacement, as Glance 33 answers.

With ``show_multiple_locations = True`` (tempest's ImageLocationsTest), a location's
``validation_data`` may only fill in the checksum and hash of a queued image; a different
value for one the image has, or a malformed one, is a 409. A ``replace`` of /locations may
change metadata but neither drop nor swap URLs (400 "Original locations is not empty: …").

The same scenario runs against our stack and (marker ``oracle``) real Glance 33.0.0; EXPECTED
holds real Glance's answers (recorded from it), so ``test_ours_as_recorded`` needs no oracle.
The location URLs point at a local web server (Glance 33 filters HTTP locations like
web-download, so the oracle is told to allow 127.0.0.1 and that port).

One difference is kept on purpose (GLANCE33_ONLY): the answer to the PATCH that adds a
location with validation_data shows that validation_data inside the new location in Glance
33 (its in-memory location dict, never stored: a later GET lacks it); we show the stored
location, as every later GET does.
"""
import contextlib
import functools
import http.server
import threading

import pytest

from tests.functional.conftest import Stack, User
from tests.functional.glance33_oracle import (SHOW_LOCATIONS, RealGlance, glance33_bin,
                                              real_db_sync)

PROJECT = "p-locations"
DATA = b"location data " * 100
GOOD = {"checksum": "1" * 32, "os_hash_algo": "sha512", "os_hash_value": "deadbeef" * 16}
SHOWN = ("status", "checksum", "os_hash_algo", "os_hash_value", "size", "locations")
URL = "{data}"   # replaced by the data server's URL in EXPECTED


@contextlib.contextmanager
def data_server(root):
    """Serve DATA as /image on a free 127.0.0.1 port; yield its URL."""
    (root / "image").write_bytes(DATA)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/image"
    finally:
        server.shutdown()
        server.server_close()


def summary(resp, data_url):
    """Return what a client sees: status and error body, or the location-related fields."""
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    if resp.status_code == 200:
        body = {key: body.get(key) for key in SHOWN}
    return resp.status_code, _generic(body, data_url)


def _generic(value, data_url):
    if isinstance(value, str):
        return value.replace(data_url, URL)
    if isinstance(value, dict):
        return {key: _generic(item, data_url) for key, item in value.items()}
    if isinstance(value, list):
        return [_generic(item, data_url) for item in value]
    return value


def scenarios(api_url, data_url):
    """Run the scenario against one service; return {name: summary}."""
    user = User(api_url, PROJECT)
    seen = {}

    def patch(name, image_id, ops):
        seen[name] = summary(user.patch(f"/v2/images/{image_id}", ops), data_url)

    def loc(suffix="", val=None, meta=None):
        value = {"url": data_url + suffix, "metadata": meta or {}}
        if val is not None:
            value["validation_data"] = val
        return value

    def add(name, image_id, location):
        patch(name, image_id, [{"op": "add", "path": "/locations/-", "value": location}])

    def replace(name, image_id, locations):
        patch(name, image_id, [{"op": "replace", "path": "/locations", "value": locations}])

    def image():
        return user.create_image(disk_format="raw", container_format="bare")["id"]

    first = image()
    add("queued: sha256 hash", first, loc(val={**GOOD, "os_hash_algo": "sha256",
                                              "os_hash_value": "ab" * 32}))
    add("queued: checksum not hex", first, loc(val={**GOOD, "checksum": "zz" * 16}))
    add("queued: hash too short", first, loc(val={**GOOD, "os_hash_value": "ab" * 32}))
    add("queued: hash not hex", first, loc(val={**GOOD, "os_hash_value": "zz" * 64}))
    add("queued: valid", first, loc(val=GOOD))
    add("active: other checksum", first, loc("#2", val={**GOOD, "checksum": "2" * 32}))
    add("active: other hash", first, loc("#2", val={**GOOD, "os_hash_value": "be" * 64}))
    add("active: other algo", first, loc("#2", val={**GOOD, "os_hash_algo": "sha256"}))
    add("active: same values", first, loc("#2", val=GOOD))
    add("active: same url and metadata", first, loc("#2"))
    add("active: same url, other metadata", first, loc("#2", meta={"k": "v"}))
    replace("replace: drop one", first, [loc(), loc("#2")])
    replace("replace: other url", first, [loc(), loc("#2"), loc("#3")])
    replace("replace: same urls, new metadata", first,
            [loc(meta={"a": "1"}), loc("#2", meta={"b": "2"}), loc("#2", meta={"k": "v"})])

    second = image()
    replace("replace: conflicting values", second,
            [loc(val=GOOD), loc("#2", val={**GOOD, "checksum": "2" * 32})])
    replace("replace: duplicate locations", second, [loc(), loc()])
    replace("replace: on a queued image", second, [loc(), loc("#2", meta={"x": "y"})])
    add("active without hash: new values", second, loc("#3", val=GOOD))
    return seen


def _conflict(message):
    return 409, {"message": f"{message}<br /><br />\n\n\n", "code": "409 Conflict",
                 "title": "Conflict"}


def _bad(message):
    return 400, {"message": f"{message}<br /><br />\n\n\n", "code": "400 Bad Request",
                 "title": "Bad Request"}


def _image(status, locations, hashes=True):
    return 200, {"status": status, "size": len(DATA),
                 "checksum": GOOD["checksum"] if hashes else None,
                 "os_hash_algo": GOOD["os_hash_algo"] if hashes else None,
                 "os_hash_value": GOOD["os_hash_value"] if hashes else None,
                 "locations": [{"url": URL + suffix, "metadata": meta}
                               for suffix, meta in locations]}


_ORIGINAL = ("Original locations is not empty: [{'id': 1, 'url': '{data}', 'metadata': {}, "
             "'status': 'active'}, {'id': 2, 'url': '{data}#2', 'metadata': {}, "
             "'status': 'active'}, {'id': 3, 'url': '{data}#2', 'metadata': {'k': 'v'}, "
             "'status': 'active'}]")
def _echo(answer, index):
    status, body = answer
    locations = [dict(item) for item in body["locations"]]
    locations[index]["validation_data"] = GOOD
    return status, {**body, "locations": locations}


EXPECTED = {
    "queued: sha256 hash": _conflict("os_hash_algo must be sha512, not sha256"),
    "queued: checksum not hex": _conflict(
        "checksum (%s) is not a valid hexadecimal value" % ("zz" * 16)),
    "queued: hash too short": _conflict(
        "os_hash_value (%s) is not the correct size for sha512 (should be 64 bytes)"
        % ("ab" * 32)),
    "queued: hash not hex": _conflict(
        "os_hash_value (%s) is not a valid hexadecimal value" % ("zz" * 64)),
    "queued: valid": _image("active", [("", {})]),
    "active: other checksum": _conflict("checksum is already set with a different value"),
    "active: other hash": _conflict("os_hash_value is already set with a different value"),
    "active: other algo": _conflict("os_hash_algo is already set with a different value"),
    "active: same values": _image("active", [("", {}), ("#2", {})]),
    "active: same url and metadata": _bad("The location {data}#2 already exists"),
    "active: same url, other metadata": _image(
        "active", [("", {}), ("#2", {}), ("#2", {"k": "v"})]),
    "replace: drop one": _bad(_ORIGINAL),
    "replace: other url": _bad(_ORIGINAL),
    "replace: same urls, new metadata": _image(
        "active", [("", {"a": "1"}), ("#2", {"b": "2"}), ("#2", {"k": "v"})]),
    "replace: conflicting values": _conflict("Conflicting values for checksum"),
    "replace: duplicate locations": _bad("The location {data} already exists"),
    "replace: on a queued image": _image("active", [("", {}), ("#2", {"x": "y"})],
                                         hashes=False),
    "active without hash: new values": _conflict(
        "New value(s) for checksum, os_hash_algo, os_hash_value may only be provided when "
        "image status is 'queued'"),
}


GLANCE33_ONLY = {
    "queued: valid": _echo(EXPECTED["queued: valid"], 0),
    "active: same values": _echo(EXPECTED["active: same values"], 1),
}


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """Run the scenario against our stack (show_multiple_locations on); return the answers."""
    root = tmp_path_factory.mktemp("locations")
    www = root / "www"
    www.mkdir()
    with data_server(www) as data_url:
        # NOTE: as the oracle below: loopback is refused unless allowed (OSSA-2026-004).
        port = data_url.split(":")[2].split("/")[0]
        stack = Stack(root, f"sqlite:///{root}/glance.sqlite", "locations",
                      api_extra="[DEFAULT]\n" + SHOW_LOCATIONS + "[import_filtering_opts]\n"
                      f"allowed_hosts = [127.0.0.1]\nallowed_ports = [{port}]\n")
        try:
            stack.start()
            return scenarios(stack.api_url, data_url)
        finally:
            stack.stop()


def test_ours_as_recorded(ours):
    assert sorted(ours) == sorted(EXPECTED)
    for name, answer in EXPECTED.items():
        assert ours[name] == answer, name


@pytest.mark.oracle
def test_same_as_glance33(ours, tmp_path):
    bin_dir = glance33_bin()
    db_url = f"sqlite:///{tmp_path}/glance.sqlite"
    real_db_sync(bin_dir, db_url, tmp_path)
    (tmp_path / "images").mkdir()
    www = tmp_path / "www"
    www.mkdir()
    with data_server(www) as data_url:
        port = data_url.split(":")[2].split("/")[0]
        real = RealGlance(bin_dir, tmp_path, db_url, tmp_path / "images")
        (real.confdir / "glance-image-import.conf").write_text(
            f"[import_filtering_opts]\nallowed_hosts = [127.0.0.1]\nallowed_ports = [{port}]\n")
        with real.running():
            theirs = scenarios(real.url, data_url)
    assert sorted(theirs) == sorted(EXPECTED)
    for name, answer in EXPECTED.items():
        assert theirs[name] == GLANCE33_ONLY.get(name, answer), name
