"""The scaled-out service of `make cluster` (tools/cluster.sh), issue 17.

Through the HAProxy endpoint with a real Keystone token: images uploaded to the default Ceph
RBD store and to the file store beside it come back byte for byte, are listed, and are shown
by each api node directly; then one api node and one registry node are killed with SIGKILL
(their whole process groups), and once HAProxy's health checks mark them down every request
through it still succeeds and no image is lost; `tools/cluster.sh start` brings both back.
A graceful HAProxy reload fails no request; the Galera node HAProxy writes to is killed, the
service goes on on a backup node, and the node rejoins holding what was written meanwhile.
One api and one registry node rolled (drained, restarted) under a light load fail no request;
one of the rbd pool's three OSDs stopped and started loses no image and no upload.

The cluster is started once (or found running) and left running for the drills of
benchmarks/cluster_drills.py; `make cluster-stop` stops it.
"""
import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pymysql
import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.keystone.conftest import Keystone, TokenUser, unique

pytestmark = pytest.mark.cluster
CLUSTER_SH = REPO_ROOT / "tools" / "cluster.sh"
STATS_URL = "http://127.0.0.1:9403/;csv"
NODE_URLS = {"api1": "http://127.0.0.1:9411", "api2": "http://127.0.0.1:9412"}
GALERA_NODE1 = 3321
MiB = 1024 * 1024


def cluster_sh(*args, timeout=120):
    """Run tools/cluster.sh; return the finished process (asserting success)."""
    proc = subprocess.run(["bash", str(CLUSTER_SH), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "VENV": str(REPO_ROOT / ".venv")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def values(stdout):
    """Return the KEY=value lines of a tool's output as a dict."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line
                and line.split("=", 1)[0].isupper())


def server_states():
    """Return HAProxy's view of its servers: {(backend, server): 'UP' / 'DOWN' / ...}."""
    text = requests.get(STATS_URL, timeout=5).text.lstrip("# ")
    return {(row["pxname"], row["svname"]): row["status"].split()[0]
            for row in csv.DictReader(io.StringIO(text))
            if row["svname"] not in ("FRONTEND", "BACKEND")}


def wait_states(wanted, timeout=30):
    """Wait until HAProxy reports each (backend, server) in ``wanted`` with its state."""
    deadline = time.monotonic() + timeout
    while True:
        states = server_states()
        if all(states.get(key) == state for key, state in wanted.items()):
            return
        assert time.monotonic() < deadline, f"HAProxy states {states}, wanted {wanted}"
        time.sleep(0.5)


@contextlib.contextmanager
def alone():
    """Hold the cluster for the with-block.

    NOTE: xdist may run this module's tests on two workers at once; one killing a node while
    the other counts failed requests (or starts the cluster, which revives killed nodes) would
    make both fail. A file lock serializes them.
    """
    file_store().parent.mkdir(parents=True, exist_ok=True)
    with open(file_store().parent / "tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def cluster():
    """Start (or find) the cluster; return (endpoint, Keystone)."""
    with alone():
        proc = cluster_sh("start", timeout=1800)
    found = values(proc.stdout)
    return found["CLUSTER_URL"], Keystone(found["KEYSTONE_URL"])


@pytest.fixture
def demo(cluster):
    """The demo account through HAProxy, with the cluster to this test alone."""
    url, keystone = cluster
    with alone():
        yield keystone.user(url, "demo")


def upload(user, data, store=None):
    """Create an image and upload ``data`` (to ``store``, else the default); return it."""
    image = user.create_image(name=unique("cluster"), disk_format="raw",
                              container_format="bare")
    headers = {"X-Image-Meta-Store": store} if store else {}
    resp = user.upload(image["id"], data, **headers)
    assert resp.status_code == 204, resp.text
    return user.show(image["id"])


def assert_intact(user, image, data):
    """Assert the image is active and downloads as ``data``."""
    shown = user.show(image["id"])
    assert (shown["status"], shown["checksum"]) == ("active", hashlib.md5(data).hexdigest())
    resp = user.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200
    assert resp.content == data


def test_images_on_rbd_and_file_through_haproxy(demo):
    rbd_data, file_data = os.urandom(3 * MiB + 7), os.urandom(MiB + 3)
    on_rbd, on_file = upload(demo, rbd_data), upload(demo, file_data, store="local")
    try:
        assert on_rbd["stores"] == "ceph"
        assert on_file["stores"] == "local"
        assert_intact(demo, on_rbd, rbd_data)
        assert_intact(demo, on_file, file_data)
        listed = {i["id"] for i in demo.get("/v2/images?limit=1000").json()["images"]}
        assert {on_rbd["id"], on_file["id"]} <= listed
        for node_url in NODE_URLS.values():
            node = TokenUser(node_url, demo.token, demo.project_id, demo.user_id)
            for image in (on_rbd, on_file):
                assert node.show(image["id"])["checksum"] == image["checksum"]
    finally:
        for image in (on_rbd, on_file):
            assert demo.delete(f"/v2/images/{image['id']}").status_code == 204
    for image in (on_rbd, on_file):
        assert demo.get(f"/v2/images/{image['id']}").status_code == 404
    assert not (file_store() / on_file["id"]).exists()


def test_seed_cli_flow_through_the_cluster_catalog(cluster, demo, tmp_path):
    # The seeds' steps with the openstack CLI as demo, finding the image service in the
    # catalog (region `cluster`, HAProxy's endpoint), as an operator's users would.
    from tests.conftest import script
    from tests.functional.keystone.conftest import ACCOUNTS, PASSWORD, clean_env

    keystone_url = cluster[1].url
    env = clean_env(tmp_path)
    env.update({"OS_AUTH_URL": keystone_url + "/v3", "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": "demo", "OS_PASSWORD": PASSWORD,
                "OS_PROJECT_NAME": ACCOUNTS["demo"], "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "cluster"})

    def openstack(*args):
        proc = subprocess.run([script("openstack"), *args], capture_output=True, text=True,
                              timeout=180, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    data = os.urandom(3 * MiB + 11)
    (tmp_path / "disk.raw").write_bytes(data)
    name = unique("cluster-cli")
    created = json.loads(openstack("image", "create", "--disk-format", "raw",
                                   "--container-format", "bare", "--file", "disk.raw",
                                   name, "-f", "json"))
    try:
        assert created["status"] == "active"
        assert name in openstack("image", "list", "-f", "value", "-c", "Name").split()
        openstack("image", "save", "--file", "saved.raw", name)
        assert (tmp_path / "saved.raw").read_bytes() == data
        assert demo.show(created["id"])["stores"] == "ceph"
    finally:
        openstack("image", "delete", name)
    assert demo.get(f"/v2/images/{created['id']}").status_code == 404


def file_store():
    """Return the cluster's file store directory (where tools/cluster.sh places it)."""
    state = os.environ.get("CLUSTER_STATE") or (
        os.environ["GLANCE_CLONE_CACHE"] + "/cluster" if os.environ.get("GLANCE_CLONE_CACHE")
        else "/var/tmp/glance-clone-cluster")
    return Path(state) / "images"


def test_api_and_registry_node_killed(demo):
    before = [(upload(demo, data), data) for data in (os.urandom(MiB), os.urandom(MiB + 1))]
    try:
        cluster_sh("kill", "api1")
        cluster_sh("kill", "reg1")
        wait_states({("glance_api", "api1"): "DOWN", ("glance_registry", "reg1"): "DOWN"})
        for image, data in before:
            assert_intact(demo, image, data)
        statuses = [demo.get("/v2/images?limit=5").status_code for _ in range(20)]
        assert statuses == [200] * 20
        data = os.urandom(2 * MiB)
        during = upload(demo, data)
        before.append((during, data))
        assert_intact(demo, during, data)
    finally:
        cluster_sh("start", timeout=600)
    wait_states({("glance_api", "api1"): "UP", ("glance_registry", "reg1"): "UP"})
    node = TokenUser(NODE_URLS["api1"], demo.token, demo.project_id, demo.user_id)
    for image, data in before:
        assert_intact(node, image, data)
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204


def test_haproxy_reload_fails_no_request(demo):
    image = upload(demo, os.urandom(MiB))
    statuses, stop = [], threading.Event()

    def steady():
        while not stop.is_set():
            statuses.append(demo.get(f"/v2/images/{image['id']}").status_code)

    client = threading.Thread(target=steady)
    client.start()
    try:
        time.sleep(1)
        cluster_sh("reload", "haproxy")
        time.sleep(2)
    finally:
        stop.set()
        client.join()
    assert len(statuses) > 10 and set(statuses) == {200}
    assert demo.delete(f"/v2/images/{image['id']}").status_code == 204


def test_haproxy_restart_loses_nothing(demo):
    # A stop and start of HAProxy (not a reload): requests sent while it is down fail at
    # once (connection refused, nothing half done); the load runs clean again within
    # seconds and every image, those written just before, is intact.
    before = [(upload(demo, data), data) for data in (os.urandom(MiB), os.urandom(MiB + 5))]
    outcomes, stop = [], threading.Event()

    def steady():
        while not stop.is_set():
            try:
                status = demo.get(f"/v2/images/{before[0][0]['id']}", timeout=5).status_code
            except requests.ConnectionError:
                status = None
            outcomes.append((time.monotonic(), status))
            time.sleep(0.05)

    client = threading.Thread(target=steady)
    client.start()
    try:
        time.sleep(1)
        restarted = time.monotonic()
        cluster_sh("restart", "haproxy")
        back = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        client.join()
    failed = [(t, s) for t, s in outcomes if s != 200]
    assert all(s is None for _, s in failed), failed   # refused, never an error answer
    assert all(restarted <= t <= back + 2 for t, _ in failed), (restarted, back, failed)
    assert [s for t, s in outcomes if t > back + 2] and \
        all(s == 200 for t, s in outcomes if t > back + 2)
    for image, data in before:
        assert_intact(demo, image, data)
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204


def galera_row(port, image_id):
    """Return (status, checksum) of an image as one Galera node holds it, or None."""
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database="glance")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, checksum FROM images WHERE id = %s", (image_id,))
            return cur.fetchone()
    finally:
        conn.close()


def test_galera_active_node_lost_and_rejoined(demo):
    before = upload(demo, os.urandom(MiB))
    images = [before]
    try:
        cluster_sh("kill", "node1")
        wait_states({("galera", "node1"): "DOWN"})
        images.append(upload(demo, os.urandom(MiB)))
        assert demo.get("/v2/images?limit=5").status_code == 200
    finally:
        cluster_sh("start", timeout=600)
    wait_states({("galera", "node1"): "UP"})
    for image in images:
        assert demo.show(image["id"])["status"] == "active"
        # the rejoined node holds what was written while it was down
        assert galera_row(GALERA_NODE1, image["id"]) == ("active", image["checksum"])
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204


def test_rolling_restart_under_load_fails_no_request(demo):
    """One api and one registry node rolled (`tools/cluster.sh roll`: drained in HAProxy,
    graceful stop, start, ready) while three clients create, upload, download and list."""
    outcomes, kept, stop = [], {}, threading.Event()

    def client():
        mine = []
        while not stop.is_set():
            try:
                if len(mine) < 4:   # a few images each, then downloads and lists
                    data = os.urandom(64 * 1024)
                    image = demo.create_image(name=unique("roll"), disk_format="raw",
                                              container_format="bare")
                    up = demo.upload(image["id"], data)
                    outcomes.append(("upload", up.status_code))
                    if up.status_code == 204:
                        kept[image["id"]] = data
                        mine.append(image["id"])
                for image_id in mine:
                    got = demo.get(f"/v2/images/{image_id}/file")
                    outcomes.append(("download", got.status_code))
                    outcomes.append(("checksum", got.content == kept[image_id]))
                outcomes.append(("list", demo.get("/v2/images?limit=5").status_code))
            except Exception as exc:  # a transport error is a failed request too
                outcomes.append(("error", repr(exc)))

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1)
        for node in ("api1", "reg2"):
            started = time.monotonic()
            cluster_sh("roll", node, timeout=180)
            print(f"roll {node}: {time.monotonic() - started:.1f} s")
        time.sleep(1)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    failed = [o for o in outcomes if o[1] not in (200, 204, True)]
    assert len(outcomes) > 40 and failed == []
    wait_states({("glance_api", "api1"): "UP", ("glance_registry", "reg2"): "UP"})
    for image_id, data in kept.items():
        assert_intact(demo, {"id": image_id}, data)
        assert demo.delete(f"/v2/images/{image_id}").status_code == 204


def ceph_sh(*args, timeout=300):
    proc = subprocess.run(["bash", str(REPO_ROOT / "tools" / "ceph.sh"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "VENV": str(REPO_ROOT / ".venv")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def pool_pg_states(ceph_conf, pool="glance-cluster"):
    """Return the states of the pool's PGs, each asked of its primary OSD (no mgr here)."""
    detail = subprocess.run(["ceph", "-c", ceph_conf, "osd", "pool", "ls", "detail"],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    line = [x for x in detail.splitlines() if f" '{pool}' " in x][0].split()
    states = []
    for i in range(int(line[line.index("pg_num") + 1])):
        out = subprocess.run(["ceph", "-c", ceph_conf, "pg", f"{line[1]}.{i:x}", "query"],
                             capture_output=True, text=True, timeout=30).stdout
        states.append(json.loads(out)["state"] if out.strip() else "unknown")
    return states


def wait_clean(ceph_conf, timeout=180):
    deadline = time.monotonic() + timeout
    while set(states := pool_pg_states(ceph_conf)) != {"active+clean"}:
        assert time.monotonic() < deadline, states
        time.sleep(1)


def test_ceph_osd_stopped_and_started_under_uploads(demo):
    """One of the cluster pool's three OSDs (size 2, min_size 1) stopped: uploads and
    downloads go on from the other copy; started again, every PG is active+clean."""
    ceph_conf = ceph_sh("conf").strip()
    wait_clean(ceph_conf)
    images = [(upload(demo, data), data) for data in (os.urandom(MiB), os.urandom(MiB + 5))]
    try:
        ceph_sh("stop-osd", "2")
        deadline = time.monotonic() + 30
        while "active+undersized+degraded" not in (states := pool_pg_states(ceph_conf)):
            assert time.monotonic() < deadline, states   # the PGs osd.2 held, on one copy
            time.sleep(1)
        for _ in range(3):
            data = os.urandom(512 * 1024)
            images.append((upload(demo, data), data))
        for image, data in images:
            assert_intact(demo, image, data)
    finally:
        ceph_sh("start-osd", "2")
    wait_clean(ceph_conf)
    for image, data in images:
        assert_intact(demo, image, data)
        assert demo.delete(f"/v2/images/{image['id']}").status_code == 204
