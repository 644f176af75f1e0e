"""Drop-in replacement check: a database and image files made by real Glance 33 serve as is.

Real Glance 33.0.0 (PyPI, scratch venv) creates the schema with its `glance-manage db_sync`,
then its API creates, shares and uploads images. Our glance-registry + glance-api then run on
the same database and image directory, without a db sync of ours, and must answer every read
exactly as real Glance did: image bodies field by field, lists, members, bytes, ranges.
Finally an image uploaded through us is read back by real Glance: a true round trip.

Both services read the same rows, so every field (ids, timestamps, checksums, location URLs,
error bodies) must be identical. Left out, each for a reason given where it is done: the order
of `tags` (a Python set in Glance), Content-Length on a 204 (added by the oracle's wsgiref
server), per-request and transport headers (x-openstack-request-id, Date, Server) which are
not compared at all, and, between the two separately made "twin" images, what embeds the id
or creation time.
"""
import contextlib
import hashlib
import os
import uuid

import pytest

from tests.functional.conftest import User, mariadb_database
from tests.functional.glance33_oracle import OurStack, RealGlance, glance33_bin, real_db_sync

pytestmark = pytest.mark.oracle
HEAD = "2024_1_contract01"
ADMIN_ROLES = "admin,member,reader"
MIB = 1024 * 1024
BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb)]
# NOTE: odd sizes so the last chunk of a 1 MiB-chunked stream is partial.
SIZES = {"shared": 3 * MIB + 12345, "public": 2 * MIB + 1, "empty": 0, "twin": MIB + 7}
RANGES = ("bytes=0-0", "bytes=100-1048675", "bytes=-4096", "bytes=3000000-")
DOWNLOAD_HEADERS = ("Content-Type", "Content-Length", "Content-MD5", "Content-Range")
TWIN = {"name": "twin", "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "min_ram": 64, "tags": ["x", "y"], "os_distro": "fedora"}


class Cast:
    """The scenario's projects, as callers of one service."""

    def __init__(self, url, projects):
        self.owner = User(url, projects["owner"])
        self.admin = User(url, projects["owner"], roles=ADMIN_ROLES)
        self.member = User(url, projects["member"])
        self.pending = User(url, projects["pending"])
        self.outsider = User(url, projects["outsider"])


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path, worker_id_safe):
    """Yield (real Glance, our stack), both unstarted, on one DB synced by real Glance."""
    bin_dir = glance33_bin()
    with contextlib.ExitStack() as cleanup:
        if request.param == "sqlite":
            db_url = f"sqlite:///{tmp_path}/glance.sqlite"
        else:
            name = f"glance_ft_{os.getpid()}_{worker_id_safe}_{uuid.uuid4().hex[:8]}"
            db_url = cleanup.enter_context(mariadb_database(name))
        real_db_sync(bin_dir, db_url, tmp_path)
        ours = OurStack(tmp_path, db_url, request.param)
        real = RealGlance(bin_dir, tmp_path, db_url, ours.datadir)
        cleanup.callback(ours.stop)
        cleanup.callback(real.stop)
        yield real, ours


def _tags_as_set(body):
    # NOTE: Glance renders tags with list(image.tags) of a Python set, so their order depends
    # on the process's string hash seed: two real Glance processes disagree with each other.
    # Tags are a set in the API; only their order is left out of the comparison.
    if isinstance(body, dict):
        for image in body.get("images", [body]):
            if isinstance(image, dict) and isinstance(image.get("tags"), list):
                image["tags"] = sorted(image["tags"])
    return body


def _answer(resp):
    """Return what a client sees of a JSON answer: status and body."""
    try:
        return resp.status_code, _tags_as_set(resp.json())
    except ValueError:
        return resp.status_code, resp.text


def _download(user, image_id, byte_range=None):
    """Return status, the data headers and the digest of a download."""
    headers = {"Range": byte_range} if byte_range else {}
    resp = user.get(f"/v2/images/{image_id}/file", headers=headers)
    seen = {"status": resp.status_code,
            **{name: resp.headers.get(name) for name in DOWNLOAD_HEADERS},
            "sha256": hashlib.sha256(resp.content).hexdigest()}
    if resp.status_code == 204:
        # NOTE: Glance's 204 (webob HTTPNoContent) carries no Content-Length; the stdlib
        # wsgiref server hosting the oracle adds "Content-Length: 0" itself, uwsgi would not.
        # A transport artefact of the oracle's server, so it is not compared.
        del seen["Content-Length"]
    return seen


def _lists(cast, images):
    seen = {f"list as {who}": _answer(getattr(cast, who).get("/v2/images"))
            for who in ("owner", "member", "pending", "outsider", "admin")}
    first = cast.owner.get("/v2/images?limit=2")
    seen["list limit=2"] = _answer(first)
    seen["list limit=2, next page"] = _answer(cast.owner.get(first.json()["next"]))
    seen["list pending invitations"] = _answer(
        cast.pending.get("/v2/images?member_status=pending&visibility=shared"))
    seen["list tag+property filter"] = _answer(
        cast.owner.get("/v2/images?tag=t1&os_distro=cirros&sort=name:asc"))
    seen["list visibility=public"] = _answer(cast.outsider.get("/v2/images?visibility=public"))
    return seen


def observe(cast, images):
    """Return everything the scenario's callers read from one service, keyed by what."""
    seen = {f"show {name}": _answer(cast.owner.get(f"/v2/images/{image_id}"))
            for name, image_id in images.items()}
    shared = images["shared"]
    seen["show shared as member"] = _answer(cast.member.get(f"/v2/images/{shared}"))
    seen["show public as outsider"] = _answer(cast.outsider.get(f"/v2/images/{images['public']}"))
    seen["show shared as outsider"] = _answer(cast.outsider.get(f"/v2/images/{shared}"))
    seen.update(_lists(cast, images))
    for name, image_id in images.items():
        seen[f"members {name}"] = _answer(cast.owner.get(f"/v2/images/{image_id}/members"))
    seen["member as member"] = _answer(
        cast.member.get(f"/v2/images/{shared}/members/{cast.member.project_id}"))
    for name, image_id in images.items():
        seen[f"download {name}"] = _download(cast.owner, image_id)
    for byte_range in RANGES:
        seen[f"download shared {byte_range}"] = _download(cast.owner, shared, byte_range)
    seen["download public as outsider"] = _download(cast.outsider, images["public"])
    return seen


def _expect(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp


def _upload(user, image_id, data):
    _expect(user.upload(image_id, data), 204)


def _populate_real(cast, data):
    """Create, share and upload the scenario's images through real Glance; return their ids."""
    shared = cast.owner.create_image(
        name="shared", disk_format="raw", container_format="bare", visibility="shared",
        min_ram=512, min_disk=1, protected=True, tags=["t1", "t2"], os_distro="cirros",
        hw_disk_bus="scsi", description="")["id"]
    _upload(cast.owner, shared, data["shared"])
    for member in (cast.member, cast.pending):
        _expect(cast.owner.post(f"/v2/images/{shared}/members",
                                json={"member": member.project_id}), 200)
    _expect(cast.member.put(f"/v2/images/{shared}/members/{cast.member.project_id}",
                            json={"status": "accepted"}), 200)
    public = cast.admin.create_image(name="public", disk_format="raw",
                                     container_format="ovf", visibility="public",
                                     os_distro="cirros", tags=["t1"])["id"]
    _upload(cast.admin, public, data["public"])
    empty = cast.owner.create_image(name="empty", disk_format="raw", container_format="bare",
                                    visibility="private")["id"]
    _upload(cast.owner, empty, data["empty"])
    queued = cast.owner.create_image(name=None)["id"]
    return {"shared": shared, "public": public, "empty": empty, "queued": queued}


def _twin(cast, data):
    """Create and upload the same image through one service; return (id, body)."""
    image_id = cast.owner.create_image(**TWIN)["id"]
    _upload(cast.owner, image_id, data)
    return image_id, _tags_as_set(cast.owner.show(image_id))


def _masked(body, image_id):
    """Return an image body without what depends on its id or creation time."""
    text = {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")}
    return {k: v.replace(image_id, "ID") if isinstance(v, str) else v
            for k, v in text.items()} | {"locations": [
                {**loc, "url": loc["url"].replace(image_id, "ID")} for loc in body["locations"]]}


def _sane(seen, images, data):
    """Check the oracle itself: real Glance stored and served what was uploaded."""
    for name in ("shared", "public", "empty"):
        status, body = seen[f"show {name}"]
        assert status == 200 and body["status"] == "active", body
        assert body["size"] == len(data[name])
        assert body["checksum"] == hashlib.md5(data[name]).hexdigest()
        assert body["locations"][0]["url"].endswith(images[name])
    assert seen["download shared"]["sha256"] == hashlib.sha256(data["shared"]).hexdigest()
    assert seen["download shared"]["Content-MD5"] == hashlib.md5(data["shared"]).hexdigest()
    assert seen["download shared bytes=100-1048675"]["sha256"] == hashlib.sha256(
        data["shared"][100:1048676]).hexdigest()
    assert len(seen["members shared"][1]["members"]) == 2


def _differences(ours, theirs):
    """Return (what, ours, real Glance's) for every observation that differs."""
    found = []
    for key in theirs:
        mine, real = ours.get(key), theirs[key]
        if isinstance(real, tuple) and isinstance(real[1], dict) and isinstance(mine, tuple) \
                and isinstance(mine[1], dict) and mine[0] == real[0]:
            found += [(f"{key}: {field}", mine[1].get(field), real[1].get(field))
                      for field in sorted(set(real[1]) | set(mine[1]))
                      if mine[1].get(field, "<absent>") != real[1].get(field, "<absent>")]
        elif mine != real:
            found.append((key, mine, real))
    return found


def assert_same(ours, theirs):
    """Fail listing every observation where we answer differently from real Glance."""
    found = _differences(ours, theirs)
    assert not found, "ours differs from real Glance 33:\n" + "\n".join(
        f"  {what}:\n    ours:  {mine!r}\n    real:  {real!r}" for what, mine, real in found)


@contextlib.contextmanager
def _logs_on_failure(real, ours):
    # NOTE: printed output appears in a failed test's "Captured stdout call" section.
    try:
        yield
    except BaseException:
        print(real.log_tail(), ours.log_tail(), sep="\n")
        raise


def _our_turn(ours, projects, images, data, theirs):
    """Check our stack answers as real Glance did, then upload and share an image through it.

    Returns what we answer at the end, and our twin's body.
    """
    with ours.running():
        cast = Cast(ours.api_url, projects)
        assert_same(observe(cast, images), theirs)
        images["our twin"], our_twin = _twin(cast, data["twin"])
        path = f"/v2/images/{images['our twin']}"
        _expect(cast.owner.patch(path, [{"op": "replace", "path": "/visibility",
                                         "value": "shared"}]), 200)
        _expect(cast.owner.post(path + "/members", json={"member": cast.member.project_id}),
                200)
        return observe(cast, images), our_twin


def test_real_glance_33_deployment_is_served_as_is(world):
    real, ours = world
    projects = {who: f"p-{who}-{uuid.uuid4().hex[:8]}"
                for who in ("owner", "member", "pending", "outsider")}
    data = {name: os.urandom(size) for name, size in SIZES.items()}
    with _logs_on_failure(real, ours):
        with real.running():
            cast = Cast(real.url, projects)
            images = _populate_real(cast, data)
            images["real twin"], real_twin = _twin(cast, data["twin"])
            theirs = observe(cast, images)
        _sane(theirs, images, data)

        # Our tools see the schema real Glance made as current: no migration of ours ran.
        ours.api_port = ours.reg_port = 0
        ours.write_configs()
        assert ours.manage("db", "version").stdout.strip() == HEAD
        assert "up to date" in ours.manage("db", "check").stdout

        mine, our_twin = _our_turn(ours, projects, images, data, theirs)
        # The same upload through us and through real Glance makes the same image.
        assert real_twin["virtual_size"] == len(data["twin"])
        assert _masked(our_twin, images["our twin"]) == _masked(real_twin, images["real twin"])

        # Round trip: real Glance reads, lists and serves what we wrote.
        with real.running():
            theirs = observe(Cast(real.url, projects), images)
        assert theirs["download our twin"]["sha256"] == hashlib.sha256(data["twin"]).hexdigest()
        assert theirs["download our twin"]["Content-MD5"] == our_twin["checksum"]
        assert theirs["members our twin"][1]["members"][0]["status"] == "pending"
        assert_same(mine, theirs)


def test_raw_upload_records_virtual_size_as_real_glance_does(user):
    # Real Glance's answer for this upload is observed in the test above (the "twin" image).
    image = user.create_active(os.urandom(SIZES["twin"]), **TWIN)
    assert (image["size"], image["virtual_size"]) == (SIZES["twin"], SIZES["twin"])
