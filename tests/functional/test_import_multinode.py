"""Interoperable import across api nodes and to several stores at once.

One glance-registry, two glance-api nodes ``a`` and ``b`` sharing it and the store
directories (shared storage), each with its own staging directory and its own
``worker_self_reference_url``. Node ``a`` writes to its stores in parallel
(``[image_import_opts] max_parallel_stores = 3``); node ``b`` knows one store more
(``d``), which ``a`` does not. A glance-direct import asked of ``b`` for data staged on
``a`` is replayed on ``a`` (Glance's _proxy_request_to_host).
"""
import hashlib
import os
import shutil
import uuid

import pytest

from tests.functional.conftest import Stack, User, free_port, stop_process
from tests.functional.test_import import do_import, new_image, stage, wait_task

DATA = os.urandom(2 * 1024 * 1024 + 5)
STORES = ("s1", "s2", "s3")
EMPTY = "<br /><br />\n\n\n"

NODE = """
[DEFAULT]
enabled_backends = {backends}
enabled_import_methods = [glance-direct,web-download,copy-image]
worker_self_reference_url = http://127.0.0.1:@API_PORT@
[glance_store]
default_backend = s1
[os_glance_staging_store]
filesystem_store_datadir = {staging}
[image_import_opts]
max_parallel_stores = {parallel}
"""


class Node(Stack):
    """A Stack whose api config may name its own port (``@API_PORT@``)."""

    def write_configs(self):
        super().write_configs()
        self.api_conf.write_text(
            self.api_conf.read_text().replace("@API_PORT@", str(self.api_port)))

    def start_api(self):
        """(Re)start only this node's glance-api on its port."""
        self._start_one("glance-api", self.api_conf, self.api_url)


def _extra(root, node, names, parallel):
    text = NODE.format(backends=",".join(f"{n}:file" for n in names),
                       staging=root / node / "staging", parallel=parallel)
    return text + "".join(f"[{n}]\nfilesystem_store_datadir = {root / n}\n" for n in names)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("import-nodes")
    a = Node(root / "a", f"sqlite:///{root}/glance.sqlite", "a",
             api_extra=_extra(root, "a", STORES, 3))
    b = Node(root / "b", a.db_url, "b", api_extra=_extra(root, "b", STORES + ("d",), 1))
    try:
        a.start()
        b.reg_port, b.api_port = a.reg_port, free_port()
        b.write_configs()
        b.start_api()
        yield a, b, root
    finally:
        b.stop()
        a.stop()


def _files(root, image_id):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if image_id in p.name)


def test_glance_direct_staged_on_a_imported_through_b(nodes):
    a, b, root = nodes
    on_a = User(a.api_url)
    on_b = User(b.api_url, project_id=on_a.project_id)
    image = new_image(on_a)
    assert stage(on_a, image["id"], DATA).status_code == 204
    assert _files(root, image["id"]) == [f"a/staging/{image['id']}"]
    mine = "req-" + str(uuid.uuid4())
    resp = on_b.post(f"/v2/images/{image['id']}/import", headers={"X-Openstack-Request-Id": mine},
                     json={"method": {"name": "glance-direct"}, "stores": ["s2", "s3"]})
    assert resp.status_code == 202, resp.text
    assert resp.text == ""
    # NOTE: as Glance, b answers with the request id a gave the replayed request.
    theirs = resp.headers["x-openstack-request-id"]
    assert theirs.startswith("req-") and theirs != mine
    task = wait_task(on_b, image["id"])
    assert task["status"] == "success", task
    shown = on_b.show(image["id"])
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert sorted(shown["stores"].split(",")) == ["s2", "s3"]   # a writes them in parallel
    assert shown["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert on_b.get(f"/v2/images/{image['id']}/file").content == DATA
    # NOTE: b never had the data: its staging area was never used, a's is emptied.
    assert _files(root, image["id"]) == [f"s2/{image['id']}", f"s3/{image['id']}"]
    assert not (root / "b" / "staging").exists() or not any((root / "b" / "staging").iterdir())
    assert f"Proxying POST request to host {a.api_url} which has image." in \
        (b.root / "glance-api.log").read_text()


def test_stage_host_errors_are_passed_on(nodes):
    a, b, root = nodes
    on_a = User(a.api_url)
    on_b = User(b.api_url, project_id=on_a.project_id)
    image = new_image(on_a)
    assert stage(on_a, image["id"], DATA).status_code == 204
    # b knows store d, a does not: a's refusal is b's answer, without a's message (as
    # Glance's ProxiedResponse).
    resp = do_import(on_b, image["id"], {"name": "glance-direct"}, stores=["d"])
    assert resp.status_code == 409, resp.text
    assert resp.json() == {"message": EMPTY, "code": "409 Conflict", "title": "Conflict"}
    # a down: Glance's 504.
    stop_process(a.procs.pop("glance-api"))
    try:
        resp = do_import(on_b, image["id"], {"name": "glance-direct"})
        assert resp.status_code == 504, resp.text
        assert resp.json()["message"] == "Stage host is unavailable<br /><br />\n\n\n"
        assert on_b.show(image["id"])["status"] == "uploading"
    finally:
        a.start_api()
    resp = do_import(on_b, image["id"], {"name": "glance-direct"})
    assert resp.status_code == 202, resp.text
    assert wait_task(on_b, image["id"])["status"] == "success"
    assert on_a.get(f"/v2/images/{image['id']}/file").content == DATA


def test_parallel_import_to_three_stores(nodes):
    a, _b, root = nodes
    user = User(a.api_url)
    image = new_image(user)
    assert stage(user, image["id"], DATA).status_code == 204
    resp = do_import(user, image["id"], {"name": "glance-direct"}, all_stores=True)
    assert resp.status_code == 202, resp.text
    assert wait_task(user, image["id"])["status"] == "success"
    shown = user.show(image["id"])
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert sorted(shown["stores"].split(",")) == list(STORES)
    assert shown["checksum"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert (shown["os_glance_importing_to_stores"], shown["os_glance_failed_import"]) == (
        "", "")
    assert _files(root, image["id"]) == [f"{s}/{image['id']}" for s in STORES]
    assert all((root / s / image["id"]).read_bytes() == DATA for s in STORES)
    assert f"Parallel store import starting for image {image['id']}: stores=s1,s2,s3 " \
        "num_workers=3" in (a.root / "glance-api.log").read_text()


@pytest.mark.parametrize("must_succeed", [True, False])
def test_parallel_import_with_a_failing_store(nodes, must_succeed):
    a, _b, root = nodes
    user = User(a.api_url)
    image = new_image(user)
    assert stage(user, image["id"], DATA).status_code == 204
    # NOTE: store s3's directory becomes a file: its write fails (root ignores modes).
    shutil.rmtree(root / "s3", ignore_errors=True)
    (root / "s3").write_bytes(b"")
    try:
        resp = do_import(user, image["id"], {"name": "glance-direct"}, all_stores=True,
                         all_stores_must_succeed=must_succeed)
        assert resp.status_code == 202, resp.text
        task = wait_task(user, image["id"])
    finally:
        (root / "s3").unlink()
        (root / "s3").mkdir()
    shown = user.show(image["id"])
    if must_succeed:
        assert task["status"] == "failure"
        assert (shown["status"], shown["checksum"], shown.get("stores")) == (
            "queued", None, None)
        assert "s3" in shown["os_glance_failed_import"].split(",")
        assert _files(root, image["id"]) == []
    else:
        assert task["status"] == "success"
        # NOTE: locations come in the order the writes ended.
        assert (shown["status"], sorted(shown["stores"].split(","))) == ("active",
                                                                         ["s1", "s2"])
        assert shown["os_glance_failed_import"] == "s3"
        assert _files(root, image["id"]) == [f"s1/{image['id']}", f"s2/{image['id']}"]
        assert user.get(f"/v2/images/{image['id']}/file").content == DATA
    assert shown["os_glance_importing_to_stores"] == ""
