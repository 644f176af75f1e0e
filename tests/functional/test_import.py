"""Interoperable image import: stage, glance-direct, web-download, copy-image, plugins.

Two stacks (SQLite; the import flow talks to the registry as every other call does):
``multi``: two file stores ``fast``/``cheap`` and the reserved staging store, a loopback web
server allowed in ``[import_filtering_opts]``; ``convert``: single store with
``node_staging_uri`` and the image_decompression, image_conversion and
inject_image_metadata plugins. What a user sees is checked: answers, image fields, task
rows, bytes downloaded, and the files left in the staging and store directories.
"""
import contextlib
import functools
import gzip
import hashlib
import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time
import uuid

import pytest

from tests import image_corpus
from tests.conftest import script
from tests.functional.conftest import Stack, User

DATA = os.urandom(3 * 1024 * 1024 + 17)
ADMIN = "admin,member,reader"
TASK_WAIT = 60
INTERNAL = "Task failed due to Internal Error"
# Corpus images Glance refuses on upload (test_upload_inspection.EXPECTED: 415).
MALICIOUS = ("qcow2-backing-file", "qcow2-data-file", "vmdk-flat-descriptor",
             "vmdk-extent-etc-passwd", "vmdk-sparse-extent-etc-passwd",
             "qcow2-truncated-header", "raw-as-qcow2", "qcow2-as-ami",
             "mbr-without-partitions-as-raw", "gpt-as-aki")


class Counter:
    """A listening socket on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepts += 1
            conn.close()


class _Handler(http.server.SimpleHTTPRequestHandler):
    redirects = {}

    def log_message(self, *args):
        pass

    def send_head(self):
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            if self.command == "GET":
                with contextlib.suppress(OSError):
                    for _ in range(160):
                        self.wfile.write(b"s" * 65536)
                        time.sleep(0.3)
            return None
        target = self.redirects.get(self.path)
        if target is None:
            return super().send_head()
        if isinstance(target, tuple):   # (content type, body) served as is
            self.send_response(200)
            self.send_header("Content-Type", target[0])
            self.send_header("Content-Length", str(len(target[1])))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(target[1])
            return None
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    """A loopback web server over a directory; yield (port, directory, redirects dict)."""
    root = tmp_path_factory.mktemp("www")
    (root / "data.raw").write_bytes(DATA)
    redirects = {}
    handler = type("Handler", (_Handler,), {"redirects": redirects})
    server = socketserver.ThreadingTCPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], root, redirects
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def counter():
    return Counter()


def _start(root, extra):
    stack = Stack(root, "sqlite:///%s/glance.sqlite" % root, "sqlite", api_extra=extra)
    stack.start()
    return stack


@pytest.fixture(scope="module")
def multi(tmp_path_factory, www, counter):
    root = tmp_path_factory.mktemp("import-multi")
    extra = f"""
[DEFAULT]
enabled_backends = fast:file,cheap:file
enabled_import_methods = [glance-direct,web-download,copy-image,glance-download]
worker_self_reference_url = http://w1
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = {root}/fast
[cheap]
filesystem_store_datadir = {root}/cheap
[os_glance_staging_store]
filesystem_store_datadir = {root}/staging
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [80,443,{www[0]},{counter.port}]
"""
    stack = _start(root, extra)
    stack.dirs = [root / "fast", root / "cheap", root / "staging"]
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def convert(tmp_path_factory, www):
    root = tmp_path_factory.mktemp("import-convert")
    extra = f"""
[DEFAULT]
node_staging_uri = file://{root}/staging
[image_import_opts]
image_import_plugins = [image_decompression, image_conversion, inject_image_metadata]
[image_conversion]
output_format = raw
convert_plain_uploads = True
[inject_metadata_properties]
inject = injected_by:glance-clone,hw_rng_model:virtio
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [80,443,{www[0]}]
"""
    stack = _start(root, extra)
    stack.dirs = [stack.datadir, root / "staging"]
    yield stack
    stack.stop()


def leftovers(stack, image_id):
    """Return every file of the image in the stack's store and staging directories."""
    return sorted(str(p) for d in stack.dirs if d.exists() for p in d.rglob("*")
                  if image_id in p.name)


def stage(user, image_id, data):
    return user.put(f"/v2/images/{image_id}/stage", data=data,
                    headers={"Content-Type": "application/octet-stream"})


def do_import(user, image_id, method, **body):
    return user.post(f"/v2/images/{image_id}/import", json={"method": method, **body})


def wait_task(user, image_id, count=1):
    """Wait for the image's import tasks to finish; return the newest task row."""
    deadline = time.monotonic() + TASK_WAIT
    while True:
        rows = user.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        done = [t for t in rows if t["status"] in ("success", "failure")]
        if len(done) >= count:
            return max(done, key=lambda t: t["created_at"])
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def new_image(user, **body):
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    return user.create_image(**body)


def test_info_import_lists_enabled_methods(multi):
    user = User(multi.api_url)
    assert user.get("/v2/info/import").json() == {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct", "web-download", "copy-image", "glance-download"]}}


def test_glance_direct(multi):
    user = User(multi.api_url)
    image = new_image(user)
    resp = stage(user, image["id"], DATA)
    assert resp.status_code == 204, resp.text
    shown = user.show(image["id"])
    assert (shown["status"], shown["size"]) == ("uploading", len(DATA))
    assert "os_glance_stage_host" not in shown
    again = stage(user, image["id"], b"x")
    assert again.status_code == 409
    assert "Image status transition from uploading to uploading is not allowed" in again.text
    resp = do_import(user, image["id"], {"name": "glance-direct"}, stores=["cheap"])
    assert resp.status_code == 202, resp.text
    assert resp.text == ""
    task = wait_task(user, image["id"])
    assert (task["status"], task["type"], task["result"]) == (
        "success", "api_image_import", {"image_id": image["id"]})
    assert task["input"]["backend"] == ["cheap"]
    shown = user.show(image["id"])
    assert shown["status"] == "active"
    assert shown["stores"] == "cheap"
    assert shown["checksum"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert (shown["os_glance_importing_to_stores"], shown["os_glance_failed_import"]) == ("",
                                                                                         "")
    assert "os_glance_import_task" not in shown
    assert user.get(f"/v2/images/{image['id']}/file").content == DATA
    assert [p.split("/")[-2] for p in leftovers(multi, image["id"])] == ["cheap"]


def test_deleting_a_staged_image_removes_its_staged_data(multi):
    user = User(multi.api_url)
    image = new_image(user)
    assert stage(user, image["id"], DATA).status_code == 204
    assert len(leftovers(multi, image["id"])) == 1
    assert user.delete(f"/v2/images/{image['id']}").status_code == 204
    assert leftovers(multi, image["id"]) == []


def test_concurrent_imports_have_one_winner(multi):
    user = User(multi.api_url)
    image = new_image(user)
    assert stage(user, image["id"], DATA).status_code == 204
    codes = []
    racers = [threading.Thread(target=lambda: codes.append(
        User(multi.api_url, project_id=user.project_id).post(
            f"/v2/images/{image['id']}/import",
            json={"method": {"name": "glance-direct"}}).status_code)) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(codes) == [202, 409, 409, 409]
    assert wait_task(user, image["id"])["status"] == "success"
    assert len(user.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]) == 1
    assert user.get(f"/v2/images/{image['id']}/file").content == DATA


def test_import_request_errors(multi):
    user = User(multi.api_url)
    image = new_image(user)
    path = f"/v2/images/{image['id']}/import"
    cases = [
        ({}, 400, "Import request requires a 'method' field."),
        ({"method": {}}, 400, "Import request requires a 'name' field."),
        ({"method": {"name": "nope"}}, 400, "Unknown import method name 'nope'."),
        ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, 400,
         "'all_stores' must be boolean value only"),
        ({"method": {"name": "glance-direct"}}, 409,
         "Image needs to be staged before 'glance-direct' method can be used"),
        ({"method": {"name": "copy-image"}}, 409,
         "Only images with status active can be targeted for copying"),
        ({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}, "stores": ["nope"]},
         409, "Store for identifier nope not found"),
        ({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}, "all_stores": True,
          "stores": ["fast"]}, 400,
         "All_stores parameter can't be used with x-image-meta-store header or stores "
         "parameter"),
    ]
    for body, code, message in cases:
        resp = user.post(path, json=body)
        assert resp.status_code == code, (body, resp.text)
        assert message in resp.json()["message"], (body, resp.text)
    bare = new_image(user, disk_format=None)
    resp = do_import(user, bare["id"], {"name": "web-download", "uri": "http://127.0.0.1/"})
    assert resp.status_code == 409
    assert "'disk_format' needs to be set before import" in resp.text
    other = User(multi.api_url)
    assert do_import(other, image["id"], {"name": "web-download",
                                          "uri": "http://127.0.0.1/"}).status_code == 404
    assert user.show(image["id"])["status"] == "queued"


def test_web_download_and_all_stores(multi, www):
    user = User(multi.api_url)
    image = new_image(user)
    uri = f"http://127.0.0.1:{www[0]}/data.raw"
    resp = do_import(user, image["id"], {"name": "web-download", "uri": uri}, all_stores=True)
    assert resp.status_code == 202, resp.text
    assert wait_task(user, image["id"])["status"] == "success"
    shown = user.show(image["id"])
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert sorted(shown["stores"].split(",")) == ["cheap", "fast"]
    assert user.get(f"/v2/images/{image['id']}/file").content == DATA
    assert [p.split("/")[-2] for p in leftovers(multi, image["id"])] == ["cheap", "fast"]
    resp = do_import(user, image["id"], {"name": "web-download", "uri": uri})
    assert resp.status_code == 409
    assert "Image with status active cannot be target for import" in resp.text


def test_copy_image(multi):
    owner = User(multi.api_url)
    admin = User(multi.api_url, roles=ADMIN)
    image = owner.create_active(DATA)
    assert owner.show(image["id"])["stores"] == "fast"
    refused = do_import(owner, image["id"], {"name": "copy-image"}, stores=["cheap"])
    assert refused.status_code == 403, refused.text
    present = do_import(admin, image["id"], {"name": "copy-image"}, stores=["fast"])
    assert present.status_code == 400
    assert "Image is already present at store 'fast'" in present.text
    resp = do_import(admin, image["id"], {"name": "copy-image"}, stores=["cheap"])
    assert resp.status_code == 202, resp.text
    assert wait_task(admin, image["id"])["status"] == "success"
    shown = owner.show(image["id"])
    assert shown["status"] == "active"
    assert shown["stores"] == "fast,cheap"
    names = leftovers(multi, image["id"])
    assert [p.split("/")[-2] for p in names] == ["cheap", "fast"]
    assert all(open(p, "rb").read() == DATA for p in names)
    noop = do_import(admin, image["id"], {"name": "copy-image"}, all_stores=True)
    assert noop.status_code == 202
    assert len(admin.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]) == 1


def test_glance_download(multi, www):
    """The remote image's formats, size, allowed properties and data; a remote image that
    is not active fails the task and the image gets its formats back."""
    port, _root, served = www
    user = User(multi.api_url)
    catalog = json.dumps([{"type": "image", "endpoints": [
        {"region": "RegionTwo", "publicURL": f"http://127.0.0.1:{port}/glance"}]}])
    results = []
    for status in ("active", "queued"):
        remote = str(uuid.uuid4())
        served[f"/glance/v2/images/{remote}"] = ("application/json", json.dumps({
            "id": remote, "status": status, "disk_format": "raw", "container_format": "bare",
            "size": len(DATA), "hw_rng_model": "virtio", "os_distro": "cirros",
            "secret": "no"}).encode())
        served[f"/glance/v2/images/{remote}/file"] = ("application/octet-stream", DATA)
        image = new_image(user, disk_format="qcow2", container_format="ovf")
        resp = user.post(f"/v2/images/{image['id']}/import", headers={
            "X-Service-Catalog": catalog}, json={"method": {
                "name": "glance-download", "glance_region": "RegionTwo",
                "glance_image_id": remote}})
        assert resp.status_code == 202, resp.text
        results.append((wait_task(user, image["id"]), user.show(image["id"])))
    (task, shown), (failed, queued) = results
    assert task["status"] == "success", task
    assert (shown["status"], shown["disk_format"], shown["container_format"],
            shown["size"]) == ("active", "raw", "bare", len(DATA))
    assert (shown["hw_rng_model"], shown["os_distro"]) == ("virtio", "cirros")
    assert "secret" not in shown
    assert user.get(f"/v2/images/{shown['id']}/file").content == DATA
    assert (failed["status"], failed["message"]) == ("failure", INTERNAL)
    assert (queued["status"], queued["disk_format"], queued["container_format"]) == (
        "queued", "qcow2", "ovf")
    assert "hw_rng_model" not in queued
    assert leftovers(multi, queued["id"]) == []


def test_glance_download_endpoint_is_filtered(multi, counter):
    user = User(multi.api_url)
    before = counter.accepts
    for base in (f"http://localhost:{counter.port}", f"http://2130706433:{counter.port}"):
        catalog = json.dumps([{"type": "image", "endpoints": [
            {"region": "R", "publicURL": base}]}])
        image = new_image(user)
        resp = user.post(f"/v2/images/{image['id']}/import", headers={
            "X-Service-Catalog": catalog}, json={"method": {
                "name": "glance-download", "glance_region": "R",
                "glance_image_id": str(uuid.uuid4())}})
        assert resp.status_code == 202, resp.text
        assert wait_task(user, image["id"])["status"] == "failure"
        assert user.show(image["id"])["status"] == "queued"
    assert counter.accepts == before


def test_ssrf_refused_without_connecting(multi, www, counter):
    """Encoded, mapped and disallowed-port URLs: 400 at request time; redirects to them:
    the task fails. No connection ever reaches the target."""
    user = User(multi.api_url)
    other = Counter()   # a port that is not in allowed_ports
    before = counter.accepts
    direct = [f"http://2130706433:{counter.port}/", f"http://[::ffff:127.0.0.1]:{counter.port}/",
              f"http://0x7f000001:{counter.port}/", f"http://localhost:{counter.port}/",
              f"http://127.0.0.1:{other.port}/"]
    for uri in direct:
        image = new_image(user)
        resp = do_import(user, image["id"], {"name": "web-download", "uri": uri})
        assert resp.status_code == 400, (uri, resp.text)
        assert ("URI for web-download does not pass filtering: %s" % uri
                in resp.json()["message"])
        assert user.get(f"/v2/images/{image['id']}/tasks").json() == {"tasks": []}
        assert user.show(image["id"])["status"] == "queued"
    port, _root, redirects = www
    for index, target in enumerate(direct):
        redirects[f"/redirect-{index}"] = target
        image = new_image(user)
        resp = do_import(user, image["id"], {
            "name": "web-download", "uri": f"http://127.0.0.1:{port}/redirect-{index}"})
        assert resp.status_code == 202, resp.text
        task = wait_task(user, image["id"])
        assert (task["status"], task["message"]) == ("failure", INTERNAL), target
        shown = user.show(image["id"])
        assert (shown["status"], shown["os_glance_failed_import"]) == ("queued", "fast")
        assert "os_glance_import_task" not in shown
        assert leftovers(multi, image["id"]) == []
    assert (counter.accepts - before, other.accepts) == (0, 0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, www):
    image_corpus.qemu_img("--version")
    root = tmp_path_factory.mktemp("import-corpus")
    built = {}
    for name in MALICIOUS + ("qcow2", "vmdk", "raw"):
        (root / name).mkdir()
        path, disk_format, container_format = image_corpus.build(name, root / name)
        (www[1] / name).write_bytes(path.read_bytes())
        built[name] = (path, disk_format, container_format)
    return built


@pytest.mark.parametrize("method", ["glance-direct", "web-download", "copy-image"])
@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_images_refused(multi, www, corpus, name, method):
    user = User(multi.api_url, roles=ADMIN)
    path, disk_format, container_format = corpus[name]
    if method == "copy-image":
        return _copy_refused(multi, user, corpus, path, disk_format)
    image = new_image(user, disk_format=disk_format, container_format=container_format)
    body = {"name": method}
    if method == "glance-direct":
        assert stage(user, image["id"], path.read_bytes()).status_code == 204
    else:
        body["uri"] = f"http://127.0.0.1:{www[0]}/{name}"
    resp = do_import(user, image["id"], body)
    assert resp.status_code == 202, resp.text
    task = wait_task(user, image["id"])
    assert (task["status"], task["message"]) == ("failure", INTERNAL)
    shown = user.show(image["id"])
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
    assert shown["os_glance_failed_import"] == "fast"
    assert leftovers(multi, image["id"]) == []


def _copy_refused(multi, user, corpus, path, disk_format):
    """copy-image of data stored before inspection existed (a valid upload whose file is
    then replaced on disk): refused, the image stays active in its one store only."""
    valid = corpus[{"qcow2": "qcow2", "vmdk": "vmdk"}.get(disk_format, "raw")][0]
    image = user.create_active(valid.read_bytes(), disk_format=disk_format)
    stored = multi.dirs[0] / image["id"]
    stored.write_bytes(path.read_bytes())
    resp = do_import(user, image["id"], {"name": "copy-image"}, stores=["cheap"])
    assert resp.status_code == 202, resp.text
    task = wait_task(user, image["id"])
    assert (task["status"], task["message"]) == ("failure", INTERNAL)
    shown = user.show(image["id"])
    assert (shown["status"], shown["stores"], shown["os_glance_failed_import"]) == (
        "active", "fast", "cheap")
    assert leftovers(multi, image["id"]) == [str(stored)]


def test_conversion_qcow2_to_raw(convert, corpus, tmp_path):
    user = User(convert.api_url)
    path, _fmt, _cf = corpus["qcow2"]
    image = new_image(user, disk_format="qcow2")
    assert stage(user, image["id"], path.read_bytes()).status_code == 204
    assert do_import(user, image["id"], {"name": "glance-direct"}).status_code == 202
    task = wait_task(user, image["id"])
    assert task["status"] == "success", task
    shown = user.show(image["id"])
    assert (shown["status"], shown["disk_format"]) == ("active", "raw")
    assert shown["virtual_size"] == image_corpus.qemu_virtual_size(path)
    assert shown["injected_by"] == "glance-clone"
    out = tmp_path / "stored.raw"
    out.write_bytes(user.get(f"/v2/images/{image['id']}/file").content)
    assert shown["size"] == out.stat().st_size
    compare = subprocess.run(["qemu-img", "compare", str(path), str(out)],
                             capture_output=True, text=True)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    assert [p for p in leftovers(convert, image["id"]) if "staging" in p] == []


def test_decompression_and_admin_not_injected(convert, www):
    admin = User(convert.api_url, roles=ADMIN)
    (www[1] / "data.raw.gz").write_bytes(gzip.compress(DATA, compresslevel=1))
    image = new_image(admin)
    resp = do_import(admin, image["id"], {"name": "web-download",
                                          "uri": f"http://127.0.0.1:{www[0]}/data.raw.gz"})
    assert resp.status_code == 202, resp.text
    assert wait_task(admin, image["id"])["status"] == "success"
    shown = admin.show(image["id"])
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert "injected_by" not in shown
    assert admin.get(f"/v2/images/{image['id']}/file").content == DATA


def test_conversion_refuses_backing_file(convert, corpus):
    user = User(convert.api_url)
    path, disk_format, _cf = corpus["qcow2-backing-file"]
    image = new_image(user, disk_format=disk_format)
    assert stage(user, image["id"], path.read_bytes()).status_code == 204
    assert do_import(user, image["id"], {"name": "glance-direct"}).status_code == 202
    task = wait_task(user, image["id"])
    assert (task["status"], task["message"]) == ("failure", INTERNAL)
    assert user.show(image["id"])["status"] == "queued"
    assert leftovers(convert, image["id"]) == []


def test_plain_upload_converted_when_enabled(convert, corpus, tmp_path):
    """``[image_conversion] convert_plain_uploads`` (not a Glance option): PUT /file of a
    qcow2 image stores raw data; a refused image is a 415 and leaves nothing behind."""
    user = User(convert.api_url)
    path, _fmt, _cf = corpus["qcow2"]
    image = new_image(user, disk_format="qcow2")
    assert user.upload(image["id"], path.read_bytes()).status_code == 204
    shown = user.show(image["id"])
    assert (shown["status"], shown["disk_format"]) == ("active", "raw")
    out = tmp_path / "stored.raw"
    out.write_bytes(user.get(f"/v2/images/{image['id']}/file").content)
    assert subprocess.run(["qemu-img", "compare", str(path), str(out)]).returncode == 0
    assert leftovers(convert, image["id"]) == [str(convert.datadir / image["id"])]
    bad, disk_format, _cf = corpus["qcow2-backing-file"]
    image = new_image(user, disk_format=disk_format)
    resp = user.upload(image["id"], bad.read_bytes())
    assert resp.status_code == 415, resp.text
    assert "QCOW images with backing files are not allowed" in resp.text \
        or "Image has disallowed configuration" in resp.text
    shown = user.show(image["id"])
    assert (shown["status"], shown["disk_format"]) == ("queued", "qcow2")
    assert leftovers(convert, image["id"]) == []


def test_glance_cli_create_via_import(convert, tmp_path):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(DATA)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [script("glance"), "--os-image-url", convert.api_url, "--os-auth-token", "x",
         "image-create-via-import", "--disk-format", "raw", "--container-format", "bare",
         "--name", "via-import", "--import-method", "glance-direct"],
        stdin=disk.open("rb"), capture_output=True, text=True, timeout=120, env=env,
        cwd=tmp_path)   # NOTE: the data comes on stdin (not a tty here, so not --file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image_id = next(line.split("|")[2].strip() for line in proc.stdout.splitlines()
                    if line.startswith("| id "))
    user = User(convert.api_url, roles=ADMIN)
    deadline = time.monotonic() + TASK_WAIT
    while user.show(image_id)["status"] != "active":
        assert time.monotonic() < deadline, user.show(image_id)
        time.sleep(0.2)
    assert user.get(f"/v2/images/{image_id}/file").content == DATA


def test_interrupted_import_is_retryable_after_restart(multi, www):
    """Kill the api while a web-download runs: after the restart the task is failed, the
    image is queued again without lock or staged data, and a new import succeeds."""
    user = User(multi.api_url)
    image = new_image(user)
    resp = do_import(user, image["id"], {"name": "web-download",
                                         "uri": f"http://127.0.0.1:{www[0]}/slow"})
    assert resp.status_code == 202, resp.text
    deadline = time.monotonic() + TASK_WAIT
    while not leftovers(multi, image["id"]):
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.1)
    api = multi.procs.pop("glance-api")
    os.killpg(api.pid, signal.SIGKILL)
    api.wait(10)
    multi.stop()
    multi.start()
    user = User(multi.api_url, project_id=user.project_id)
    rows = user.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert [(t["status"], t["message"]) for t in rows] == [
        ("failure", "Task interrupted: the glance-api worker running it stopped")]
    shown = user.show(image["id"])
    assert (shown["status"], shown["os_glance_failed_import"]) == ("queued", "fast")
    assert "os_glance_import_task" not in shown
    assert leftovers(multi, image["id"]) == []
    resp = do_import(user, image["id"], {"name": "web-download",
                                         "uri": f"http://127.0.0.1:{www[0]}/data.raw"})
    assert resp.status_code == 202, resp.text
    assert wait_task(user, image["id"], count=2)["status"] == "success"
    assert user.show(image["id"])["status"] == "active"

