"""Secure RBAC: caller × image kind × operation gives the status real Glance 33 gives.

Every cell of the matrix is one request by one caller on a fresh (or read-only shared) image
owned by the "owner" project. The expected table, policy_matrix.json, was recorded from real
Glance 33.0.0 (tests/functional/glance33_oracle.py, context middleware without authtoken, so
the X-* identity headers act as a validated token):

    REGENERATE_POLICY_MATRIX=1 .venv/bin/pytest -q -m oracle \
        tests/functional/test_policy_matrix.py -k regenerate

Three tables: Glance's defaults, ``[oslo_policy] enforce_new_defaults = False`` (legacy rules)
and a policy.yaml that overrides some rules (with ``image_member_quota = 1``). Our stack is
checked against the recorded tables on every run; with the oracle venv (marker ``oracle``)
the same matrix also runs live against real Glance and ours side by side. Error bodies are
compared too, with ids replaced by the names of what they stand for.
"""
import concurrent.futures
import contextlib
import json
import os
import uuid
from pathlib import Path

import pytest
import requests

from tests.functional.conftest import PATCH_V21, Stack, mariadb_database
from tests.functional.glance33_oracle import RealGlance, glance33_bin, real_db_sync

MATRIX_FILE = Path(__file__).resolve().parent / "policy_matrix.json"
DATA = b"policy-matrix-bytes"

# caller -> (project, roles)
CALLERS = {
    "admin": ("admin", "admin,member,reader"),
    "owner_member": ("owner", "member,reader"),
    "owner_reader": ("owner", "reader"),
    "owner_member_only": ("owner", "member"),
    "other_member": ("other", "member,reader"),
    "other_reader": ("other", "reader"),
    # NOTE: roles are lower-cased, and admin comes from the context_is_admin rule alone.
    "other_admin_upper": ("other", "ADMIN"),
}
KINDS = ("public", "private", "shared_accepted", "shared_pending", "shared_rejected",
         "community", "public_hidden", "private_protected")
READ_OPS = ("show", "download", "list", "list_member_status_all", "list_visibility_community",
            "list_visibility_shared", "list_os_hidden", "members_list", "member_get")
WRITE_OPS = ("patch_name", "patch_public", "patch_community", "patch_private", "delete",
             "upload", "deactivate", "reactivate", "member_add", "member_accept",
             "member_reject", "member_delete", "tag_add", "tag_delete")
OPS = READ_OPS + WRITE_OPS
# NOTE: creation cells have no image yet; their kind is "new".
CREATE_OPS = ("create_private", "create_shared", "create_public", "create_community",
              "create_for_owner")
CONFIGS = {
    "default": "",
    "legacy": "[oslo_policy]\nenforce_new_defaults = False\n",
    "override": "[DEFAULT]\nimage_member_quota = 1\n"
                "[oslo_policy]\npolicy_file = matrix-policy.yaml\n",
}
POLICY_OVERRIDES = {
    "add_member": "role:admin",
    "publicize_image": "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    "get_members": "rule:context_is_admin",
    "reactivate": "!",
}
HEADER = (
    "Recorded from real Glance 33.0.0 (PyPI wheel, tools/glance33-venv.sh) by "
    "tests/functional/test_policy_matrix.py::test_regenerate (REGENERATE_POLICY_MATRIX=1, "
    "marker oracle): its paste pipeline without authtoken, so the X-Identity-Status/"
    "X-Project-Id/X-User-Id/X-Roles headers of each caller act as a validated Keystone "
    "token. Images belong to the 'owner' project, made by owner_member (published by admin; "
    "shared with 'other' by admin, member status set by other_member); kind 'new' is a "
    "create. Cell key 'caller kind op'; value the status code (lists: '200:in' or '200:out' "
    "for whether the image is listed). 'bodies' holds the error message of every 4xx cell "
    "with ids replaced by <image>, <owner>, <other>, <admin>, <new>. Tables: 'default' "
    "(Glance's defaults), 'legacy' (enforce_new_defaults = False), 'override' (policy.yaml "
    "from 'policy_overrides' plus image_member_quota = 1).")


class Service:
    """The callers of one service (real Glance or ours) for one matrix run."""

    def __init__(self, url):
        self.url = url
        tag = uuid.uuid4().hex[:10]
        self.projects = {name: f"{name}-{tag}" for name in ("owner", "other", "admin", "new")}
        self.sessions = {}
        for caller, (project, roles) in CALLERS.items():
            session = requests.Session()
            session.headers.update({
                "X-Identity-Status": "Confirmed", "X-Project-Id": self.projects[project],
                "X-User-Id": f"u-{caller}", "X-Roles": roles,
                "Accept": "application/json"})
            self.sessions[caller] = session

    def call(self, caller, method, path, **kwargs):
        kwargs.setdefault("timeout", 60)
        return self.sessions[caller].request(method, self.url + path, **kwargs)

    def ok(self, caller, method, path, status, **kwargs):
        resp = self.call(caller, method, path, **kwargs)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)
        return resp

    def make_image(self, kind, state="active"):
        """Create an image of one kind owned by the owner project; return its id and name."""
        name = "m-" + uuid.uuid4().hex
        body = {"name": name, "disk_format": "raw", "container_format": "bare",
                "tags": ["matrix"]}
        if kind.startswith("shared"):
            body["visibility"] = "shared"
        elif kind == "community":
            body["visibility"] = "community"
        else:
            body["visibility"] = "private"
        if kind == "private_protected":
            body["protected"] = True
        image_id = self.ok("owner_member", "POST", "/v2/images", 201, json=body).json()["id"]
        if state != "queued":
            self.ok("owner_member", "PUT", f"/v2/images/{image_id}/file", 204, data=DATA,
                    headers={"Content-Type": "application/octet-stream"})
        if kind.startswith("public"):
            ops = [{"op": "replace", "path": "/visibility", "value": "public"}]
            if kind == "public_hidden":
                ops.append({"op": "replace", "path": "/os_hidden", "value": True})
            self.ok("admin", "PATCH", f"/v2/images/{image_id}", 200, json=ops,
                    headers={"Content-Type": PATCH_V21})
        if kind.startswith("shared"):
            other = self.projects["other"]
            self.ok("admin", "POST", f"/v2/images/{image_id}/members", 200,
                    json={"member": other})
            status = kind.split("_")[1]
            if status != "pending":
                self.ok("other_member", "PUT", f"/v2/images/{image_id}/members/{other}", 200,
                        json={"status": status})
        if state == "deactivated":
            self.ok("admin", "POST", f"/v2/images/{image_id}/actions/deactivate", 204)
        return image_id, name

    def scrub(self, text, image_id):
        if image_id:
            text = text.replace(image_id, "<image>")
        for name, project in self.projects.items():
            text = text.replace(project, f"<{name}>")
        return text


def _message(resp):
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return json.dumps(body, sort_keys=True)


def _list_value(resp, name):
    if resp.status_code != 200:
        return str(resp.status_code)
    names = [image["name"] for image in resp.json()["images"]]
    return "200:in" if name in names else "200:out"


LIST_QUERIES = {
    "list": "",
    "list_member_status_all": "&member_status=all",
    "list_visibility_community": "&visibility=community",
    "list_visibility_shared": "&visibility=shared&member_status=all",
    "list_os_hidden": "&os_hidden=true",
}


def _do(svc, caller, op, image_id, name):
    """Send one operation; return (cell value, response)."""
    other, new = svc.projects["other"], svc.projects["new"]
    if op in CREATE_OPS:
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        if op == "create_for_owner":
            body["owner"] = svc.projects["owner"]
        else:
            body["visibility"] = op.split("_")[1]
        resp = svc.call(caller, "POST", "/v2/images", json=body)
        return resp.status_code, resp
    base = f"/v2/images/{image_id}"
    if op in LIST_QUERIES:
        resp = svc.call(caller, "GET", f"/v2/images?name={name}{LIST_QUERIES[op]}")
        return _list_value(resp, name), resp
    patch = {"Content-Type": PATCH_V21}
    requests_by_op = {
        "show": ("GET", base, {}),
        "download": ("GET", base + "/file", {}),
        "members_list": ("GET", base + "/members", {}),
        "member_get": ("GET", f"{base}/members/{other}", {}),
        "patch_name": ("PATCH", base, {"headers": patch, "json": [
            {"op": "replace", "path": "/name", "value": "renamed"}]}),
        "delete": ("DELETE", base, {}),
        "upload": ("PUT", base + "/file", {
            "data": DATA, "headers": {"Content-Type": "application/octet-stream"}}),
        "deactivate": ("POST", base + "/actions/deactivate", {}),
        "reactivate": ("POST", base + "/actions/reactivate", {}),
        "member_add": ("POST", base + "/members", {"json": {"member": new}}),
        "member_accept": ("PUT", f"{base}/members/{other}", {"json": {"status": "accepted"}}),
        "member_reject": ("PUT", f"{base}/members/{other}", {"json": {"status": "rejected"}}),
        "member_delete": ("DELETE", f"{base}/members/{other}", {}),
        "tag_add": ("PUT", base + "/tags/added", {}),
        "tag_delete": ("DELETE", base + "/tags/matrix", {}),
    }
    for visibility in ("public", "community", "private"):
        requests_by_op[f"patch_{visibility}"] = ("PATCH", base, {"headers": patch, "json": [
            {"op": "replace", "path": "/visibility", "value": visibility}]})
    method, path, kwargs = requests_by_op[op]
    resp = svc.call(caller, method, path, **kwargs)
    return resp.status_code, resp


def run_matrix(url):
    """Run every cell against the service at url; return (cells, error bodies)."""
    svc = Service(url)
    cells, bodies = {}, {}
    shared = {kind: svc.make_image(kind) for kind in KINDS}

    def one(caller, kind, op):
        if op in CREATE_OPS:
            image_id, name = None, "m-" + uuid.uuid4().hex
        elif op in READ_OPS:
            image_id, name = shared[kind]
        else:
            state = {"upload": "queued", "reactivate": "deactivated"}.get(op, "active")
            image_id, name = svc.make_image(kind, state)
        value, resp = _do(svc, caller, op, image_id, name)
        key = f"{caller} {kind} {op}"
        cells[key] = value
        if 400 <= resp.status_code < 500:
            bodies[key] = svc.scrub(_message(resp), image_id)

    jobs = [(c, k, o) for c in CALLERS for k in KINDS for o in OPS]
    jobs += [(c, "new", o) for c in CALLERS for o in CREATE_OPS]
    # NOTE: read-only cells share one image per kind; none of them changes it.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(one, *job) for job in jobs]:
            future.result()
    return dict(sorted(cells.items())), dict(sorted(bodies.items()))


def _policy_file(directory):
    text = "".join(f'"{rule}": "{check}"\n' for rule, check in POLICY_OVERRIDES.items())
    (directory / "matrix-policy.yaml").write_text(text)


@contextlib.contextmanager
def our_stack(root, config):
    """Run our stack (SQLite) with one of the CONFIGS; yield its url."""
    root.mkdir(parents=True, exist_ok=True)
    _policy_file(root)
    stack = Stack(root, f"sqlite:///{root}/glance.sqlite", "ours", api_extra=CONFIGS[config])
    try:
        stack.start()
        yield stack.api_url
    finally:
        stack.stop()


@contextlib.contextmanager
def real_glance(root, config):
    """Run real Glance 33 (SQLite, its own db_sync) with one of the CONFIGS; yield its url."""
    bin_dir = glance33_bin()
    root.mkdir(parents=True, exist_ok=True)
    # NOTE: MariaDB, as real Glance on SQLite answers 500 (database is locked) to parallel
    # requests.
    name = f"glance_ft_{os.getpid()}_pm_{uuid.uuid4().hex[:8]}"
    with mariadb_database(name) as db_url:
        real_db_sync(bin_dir, db_url, root)
        (root / "images").mkdir(exist_ok=True)
        real = RealGlance(bin_dir, root, db_url, root / "images", extra_conf=CONFIGS[config])
        _policy_file(real.confdir)
        with real.running():
            yield real.url


def load_expected():
    return json.loads(MATRIX_FILE.read_text())


def _diff(expected, seen):
    return {key: (expected.get(key), seen.get(key))
            for key in sorted(set(expected) | set(seen)) if expected.get(key) != seen.get(key)}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ours_matches_recorded_matrix(tmp_path, config):
    table = load_expected()["tables"][config]
    with our_stack(tmp_path / "ours", config) as url:
        cells, bodies = run_matrix(url)
    assert _diff(table["cells"], cells) == {}
    assert _diff(table["bodies"], bodies) == {}


@pytest.mark.oracle
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ours_matches_real_glance_live(tmp_path, config):
    with real_glance(tmp_path / "real", config) as url:
        real_cells, real_bodies = run_matrix(url)
    with our_stack(tmp_path / "ours", config) as url:
        cells, bodies = run_matrix(url)
    assert _diff(real_cells, cells) == {}
    assert _diff(real_bodies, bodies) == {}
    # NOTE: a live oracle that disagrees with the recorded table means the JSON is stale.
    table = load_expected()["tables"][config]
    assert _diff(table["cells"], real_cells) == {}


@pytest.mark.oracle
@pytest.mark.skipif(not os.environ.get("REGENERATE_POLICY_MATRIX"),
                    reason="set REGENERATE_POLICY_MATRIX=1 to re-record policy_matrix.json")
def test_regenerate(tmp_path):
    tables = {}
    for config in sorted(CONFIGS):
        with real_glance(tmp_path / config, config) as url:
            cells, bodies = run_matrix(url)
        tables[config] = {"config": CONFIGS[config], "cells": cells, "bodies": bodies}
        document = {"header": HEADER, "callers": CALLERS, "kinds": list(KINDS) + ["new"],
                    "ops": list(OPS + CREATE_OPS), "policy_overrides": POLICY_OVERRIDES,
                    "tables": tables}
        MATRIX_FILE.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
