"""The api node's image cache on the real stack (gunicorn api with 2 workers + registry).

Downloads fill the cache once however many arrive together, later ones (and ranges) are
served from it; the /v2/cache API, the legacy cachemanage routes and the glance-cache-*
commands act on it. The store bytes are counted from the api log: every read of image data
from the store in caching mode logs its byte count (glance_api.cache.image_cache and downloads).
"""

import concurrent.futures
import hashlib
import os
import re
import subprocess
import time
import uuid

import pytest
import requests

from tests.conftest import script
from tests.functional.conftest import Stack, User

MiB = 1024 * 1024
NODE = "http://127.0.0.1:1/node-a"
CACHE_EXTRA = """
[DEFAULT]
image_cache_dir = {cache_dir}
image_cache_max_size = {max_size}
worker_self_reference_url = {node}

[paste_deploy]
flavor = cachemanagement
"""
STORE_READ = re.compile(r"read (\d+) bytes of image (\S+) from the store|"
                        r"sending (\d+) bytes of image (\S+) straight from the store")


@pytest.fixture(scope="module")
def cache_stack(tmp_path_factory):
    """An api+registry stack (SQLite) with the cachemanagement flavor, centralized_db."""
    root = tmp_path_factory.mktemp("stack-cache")
    extra = CACHE_EXTRA.format(cache_dir=root / "cache", max_size=1024 ** 3, node=NODE)
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "cache", api_extra=extra)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin(cache_stack):
    # NOTE: noauth without identity headers is Glance's unauthenticated (admin) context.
    return User(cache_stack.api_url, roles="admin,member,reader")


@pytest.fixture
def member(cache_stack):
    return User(cache_stack.api_url, project_id=str(uuid.uuid4()))


def store_bytes(stack, image_id):
    """Return the bytes of ``image_id`` the api workers read from the store (their log)."""
    text = (stack.root / "glance-api.log").read_text(errors="replace")
    total = 0
    for match in STORE_READ.finditer(text):
        size, image = (match.group(1), match.group(2)) if match.group(1) else \
            (match.group(3), match.group(4))
        if image == image_id:
            total += int(size)
    return total


def cache_state(user):
    resp = user.get("/v2/cache")
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_cached(user, image_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if image_id in [e["image_id"] for e in cache_state(user)["cached_images"]]:
            return True
        time.sleep(0.1)
    return False


def make_image(user, data):
    image = user.create_image(name="cached", disk_format="raw", container_format="bare")
    resp = user.upload(image["id"], data)
    assert resp.status_code == 204, resp.text
    return image["id"]


def sha256_download(url, headers=None):
    digest = hashlib.sha256()
    with requests.get(url, headers=headers or {}, stream=True, timeout=300) as resp:
        assert resp.status_code in (200, 206), resp.text
        for chunk in resp.iter_content(MiB):
            digest.update(chunk)
    return resp.status_code, digest.hexdigest()


def test_ten_concurrent_first_downloads_read_the_store_once(cache_stack, member, admin):
    size = 256 * MiB
    block = os.urandom(MiB)
    data = b"".join(block[i:] + block[:i] for i in range(256))  # 256 distinct MiB
    assert len(data) == size
    expected = hashlib.sha256(data).hexdigest()
    image_id = make_image(member, data)
    del data
    url = f"{cache_stack.api_url}/v2/images/{image_id}/file"
    headers = {"X-Project-Id": member.project_id, "X-Roles": "member,reader"}
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: sha256_download(url, headers), range(10)))
    assert results == [(200, expected)] * 10
    assert wait_cached(admin, image_id)
    read = store_bytes(cache_stack, image_id)
    print(f"\nten concurrent first downloads: {read} bytes read from the store, "
          f"image {size} bytes")
    assert read == size
    # Later downloads come from the cache: no store read, hits counted.
    assert sha256_download(url, headers) == (200, expected)
    ranged = requests.get(url, headers=dict(headers, Range="bytes=1048570-1048585"),
                          timeout=60)
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes 1048570-1048585/{size}"
    assert ranged.content == block[-6:] + block[1:11]
    assert store_bytes(cache_stack, image_id) == size
    entry, = [e for e in cache_state(admin)["cached_images"] if e["image_id"] == image_id]
    assert entry["size"] == size and entry["hits"] >= 2
    assert os.path.getsize(cache_stack.root / "cache" / image_id) == size
    # Deleting the image drops it from the cache (Glance's cache middleware on DELETE).
    assert member.delete(f"/v2/images/{image_id}").status_code == 204
    assert not (cache_stack.root / "cache" / image_id).exists()
    assert image_id not in [e["image_id"] for e in cache_state(admin)["cached_images"]]


def test_cache_api(cache_stack, member, admin):
    data = os.urandom(MiB + 7)
    image_id = make_image(member, data)
    other = make_image(member, b"x" * 1000)
    # Policies: admin only by default; an unknown image is 404 before the policy.
    assert member.get("/v2/cache").status_code == 403
    assert member.put(f"/v2/cache/{image_id}").status_code == 403
    assert admin.put(f"/v2/cache/{uuid.uuid4()}").status_code == 404
    # PUT queues and prefetches in the worker.
    resp = admin.put(f"/v2/cache/{image_id}")
    assert resp.status_code == 202 and resp.text == ""
    assert wait_cached(admin, image_id)
    state = cache_state(admin)
    entry, = [e for e in state["cached_images"] if e["image_id"] == image_id]
    assert set(entry) == {"id", "image_id", "last_accessed", "last_modified", "size", "hits",
                          "checksum"}
    assert entry["size"] == len(data) and entry["hits"] == 0
    assert entry["checksum"] is None   # as Glance 33: its drivers never record one
    assert image_id not in state["queued_images"]
    nodes = admin.get(f"/v2/cache/nodes/{image_id}")
    assert nodes.status_code == 200 and nodes.json() == [NODE]
    # Legacy cachemanage routes (glance-cache-manage's).
    assert admin.put(f"/v2/queued_images/{other}").json() is None
    assert admin.get("/v2/queued_images").json() == {"queued_images": [other]}
    bad = admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "both"})
    assert bad.status_code == 400
    resp = admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "queue"})
    assert resp.status_code == 204
    assert cache_state(admin)["queued_images"] == []
    assert image_id in [e["image_id"] for e in cache_state(admin)["cached_images"]]
    assert admin.delete(f"/v2/cache/{image_id}").status_code == 204
    assert image_id not in [e["image_id"] for e in cache_state(admin)["cached_images"]]
    assert not (cache_stack.root / "cache" / image_id).exists()
    prune = admin.post("/v2/cache/prune")
    assert prune.status_code == 200
    assert prune.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}
    assert admin.post("/v2/cache/clean").status_code == 200
    versions = requests.get(cache_stack.api_url + "/versions", timeout=10).json()["versions"]
    assert versions[0] == {"id": "v2.18", "status": "CURRENT",
                           "links": [{"rel": "self",
                                      "href": cache_stack.api_url + "/v2/"}]}


def _run(*args, check=True):
    proc = subprocess.run([script(args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_commands(cache_stack, member, admin):
    image_id = make_image(member, os.urandom(2 * MiB))
    host = ["--host", "127.0.0.1", "--port", str(cache_stack.api_port)]
    conf = ["--config-file", str(cache_stack.api_conf)]
    out = _run("glance-cache-manage", "queue-image", image_id, "-f", *host).stdout
    assert out == ""
    out = _run("glance-cache-manage", "list-queued", *host).stdout
    assert "Found 1 queued images..." in out and image_id in out
    _run("glance-cache-prefetcher", *conf)
    out = _run("glance-cache-manage", "list-cached", *host).stdout
    assert "Found" in out and image_id in out
    assert _run("glance-cache-manage", "list-queued", *host).stdout == "No queued images.\n"
    bad = _run("glance-cache-manage", "delete-cached-image", "nope", "-f", *host, check=False)
    assert bad.returncode == 1 and "Image ID 'nope' is not a valid UUID." in bad.stdout
    # The pruner evicts down to image_cache_max_size.
    cache_dir = cache_stack.root / "cache"
    assert (cache_dir / image_id).exists()
    cache_conf = cache_stack.root / "glance-cache.conf"   # read after glance-api.conf
    cache_conf.write_text("[DEFAULT]\nimage_cache_max_size = 1\nimage_cache_stall_time = 3600\n")
    conf += ["--config-file", str(cache_conf)]
    _run("glance-cache-pruner", *conf)
    assert not (cache_dir / image_id).exists()
    # The cleaner removes invalid files and stalled incomplete ones.
    (cache_dir / "invalid" / "junk").write_bytes(b"x")
    stalled = cache_dir / "incomplete" / "stalled"
    stalled.write_bytes(b"x")
    os.utime(stalled, (time.time() - 7200, time.time() - 7200))
    _run("glance-cache-cleaner", *conf)
    assert not (cache_dir / "invalid" / "junk").exists() and not stalled.exists()
    out = _run("glance-cache-manage", "delete-all-cached-images", "-f", "-v", *host).stdout
    assert out.startswith("Deleted ")


def _cache_scenario(base_url):
    """Run the cache API calls both services must answer alike; return normalized answers."""
    member = User(base_url)
    admin = User(base_url, roles="admin,member,reader")
    image_id = member.create_image(disk_format="raw", container_format="bare")["id"]
    assert member.upload(image_id, b"x" * 1000).status_code == 204
    missing = str(uuid.uuid4())
    answers = []

    def record(resp):
        text = resp.text.replace(image_id, "<image>").replace(missing, "<missing>")
        body = resp.json() if resp.headers.get("Content-Type") == "application/json" else text
        if isinstance(body, dict):
            for entry in body.get("cached_images", ()):
                entry.update(id=type(entry["id"]).__name__, image_id="<image>",
                             last_accessed=type(entry["last_accessed"]).__name__,
                             last_modified=type(entry["last_modified"]).__name__)
            if "message" in body:
                body["message"] = body["message"].replace(image_id, "<image>").replace(
                    missing, "<missing>")
        answers.append((resp.request.method, resp.request.path_url.replace(image_id, "<image>")
                        .replace(missing, "<missing>"), resp.status_code,
                        resp.headers.get("Content-Type"), body))
        return resp

    record(member.get("/v2/cache"))
    record(admin.put(f"/v2/cache/{missing}"))
    record(member.put(f"/v2/cache/{image_id}"))
    record(admin.put(f"/v2/cache/{image_id}"))
    assert wait_cached(admin, image_id)
    record(admin.get("/v2/cache"))
    record(admin.get(f"/v2/cache/nodes/{image_id}"))
    record(admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "both"}))
    record(admin.post("/v2/cache/prune"))
    record(admin.post("/v2/cache/clean"))
    record(admin.get("/v2/cache/clean"))
    record(admin.delete(f"/v2/cache/{missing}"))
    record(admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "queue"}))
    record(admin.delete(f"/v2/cache/{image_id}"))
    record(admin.get("/v2/cache"))
    return answers


@pytest.mark.oracle
def test_cache_api_answers_as_glance33(cache_stack, tmp_path):
    from tests.functional.glance33_oracle import RealGlance, glance33_bin, real_db_sync

    bin_dir = glance33_bin()
    db_url = f"sqlite:///{tmp_path}/real.sqlite"
    real_db_sync(bin_dir, db_url, tmp_path)
    (tmp_path / "data").mkdir()
    extra = (f"\n[DEFAULT]\nimage_cache_dir = {tmp_path}/cache\n"
             f"worker_self_reference_url = {NODE}\n")
    real = RealGlance(bin_dir, tmp_path, db_url, tmp_path / "data", extra_conf=extra)
    with real.running():
        expected = _cache_scenario(real.url)
    assert _cache_scenario(cache_stack.api_url) == expected


def test_sqlite_driver_and_caching_flavor(tmp_path):
    """image_cache_driver = sqlite keeps the records on the node; no legacy routes."""
    extra = CACHE_EXTRA.format(cache_dir=tmp_path / "cache", max_size=1024 ** 3, node=NODE)
    extra = extra.replace("cachemanagement", "caching") + \
        "\n[DEFAULT]\nimage_cache_driver = sqlite\n"
    running = Stack(tmp_path, f"sqlite:///{tmp_path}/glance.sqlite", "sqlite-cache",
                    api_extra=extra)
    try:
        running.start()
        member = User(running.api_url)
        admin = User(running.api_url, roles="admin,member,reader")
        data = os.urandom(3 * MiB)
        image_id = make_image(member, data)
        url = f"{running.api_url}/v2/images/{image_id}/file"
        headers = {"X-Project-Id": member.project_id, "X-Roles": "member,reader"}
        expected = hashlib.sha256(data).hexdigest()
        assert sha256_download(url, headers) == (200, expected)
        assert wait_cached(admin, image_id)
        assert sha256_download(url, headers) == (200, expected)
        entry, = cache_state(admin)["cached_images"]
        assert entry == {"image_id": image_id, "hits": 1, "size": len(data),
                         "last_accessed": entry["last_accessed"],
                         "last_modified": entry["last_modified"]}
        assert (tmp_path / "cache" / "cache.db").exists()
        assert store_bytes(running, image_id) == len(data)
        assert admin.get(f"/v2/cache/nodes/{image_id}").status_code == 409
        assert admin.get("/v2/cached_images").status_code == 404   # cachemanage is off
    finally:
        running.stop()
