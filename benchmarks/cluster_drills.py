"""Node-loss drills on `make cluster` under the steady load of benchmarks/cluster_load.py.

For each drill: the load runs ``--duration`` seconds; ``--lead`` seconds in, the drill
happens (a kill -9, a restart); ``--hold`` seconds later `tools/cluster.sh start` brings the
lost node back (a Galera node rejoins by state transfer). When the load has ended, the
scrubber runs once (``stalled_upload_time`` 15 s, the shortest it accepts: an upload cut by a
dead api node has not been renewed since the kill) and the drill's row says:

- failed requests, how many of them were sent before the drill command returned (in flight
  when the node died, or sent during the command: ~0.1 s for a kill, the whole outage for the
  HAProxy stop+start), and which (operation, status or transport error, seconds after the
  drill began); a client pauses 0.1 s after a failure;
- seconds from the drill to the end of the last failed request ("clean again");
- images lost: uploaded (204) and never deleted, but no longer shown active;
- checksum mismatches: an image whose bytes (downloaded) or checksum differ from what was sent;
- orphaned objects after the scrubber: rbd images in the cluster's pool, files in its file
  store, that no undeleted location in the database points to;
- images stuck in saving or importing after the scrubber.

Two drills are sequences run by a function while the load goes on (it ends 10 s after them):
the rolling upgrade (`glance-manage db expand`, `migrate`, `contract` through HAProxy's Galera
frontend, then `tools/cluster.sh roll` of each api and registry node in turn) and the OSD
drill (`tools/ceph.sh stop-osd 2`, 15 s, `start-osd 2`, every PG of the cluster's pool
`active+clean` again). Their "sent before the drill returned" counts every failure.

    .venv/bin/python benchmarks/cluster_drills.py            (make cluster first)
"""

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pymysql
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cluster_load import DEFAULT_ENDPOINT, Load, state_dir  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DB = {"host": "127.0.0.1", "port": 9402, "user": "root", "database": "glance"}
POOL = os.environ.get("CLUSTER_RBD_POOL", "glance-cluster")
STALLED = 15

ROLL_ORDER = ["api1", "api2", "reg1", "reg2"]
MANAGE_STEPS = ["expand", "migrate", "contract"]


def rolling_upgrade():
    """The rolling upgrade: glance-manage db expand, migrate, contract against the cluster's
    database (through HAProxy's Galera frontend), then each api and registry node rolled
    (drained in HAProxy, SIGTERM, started, ready) one at a time. Return what each step said
    and how long it took."""
    notes = []
    manage = str(pathlib.Path(sys.prefix) / "bin" / "glance-manage")
    conf = state_dir() + "/reg1/glance-registry.conf"
    for step in MANAGE_STEPS:
        t = time.monotonic()
        proc = subprocess.run([manage, "--config-file", conf, "db", step], capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError("glance-manage db %s: %s" % (step, proc.stderr[-2000:]))
        notes.append("db %s (%.1f s): %s" % (step, time.monotonic() - t,
                                             " ".join(proc.stdout.split())))
    for node in ROLL_ORDER:
        t = time.monotonic()
        tool("cluster.sh", "roll", node)
        notes.append("roll %s: %.1f s" % (node, time.monotonic() - t))
    return notes


OSD = "2"          # the OSD of the cluster's pool the drill stops (never osd.0)
OSD_HOLD = 15.0    # seconds it stays down
CEPH_CONF = {}     # filled by main()


def pool_pg_states(ceph_conf):
    """Return {pgid: state} of the cluster's pool, each asked of its primary OSD.

    NOTE: tools/ceph.sh runs no mgr, so `ceph pg stat` / `ceph -s` have no PG figures.
    """
    detail = subprocess.run(["ceph", "-c", ceph_conf, "osd", "pool", "ls", "detail"],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    line = [x for x in detail.splitlines() if " '%s' " % POOL in x][0].split()
    pool_id, pg_num = line[1], int(line[line.index("pg_num") + 1])
    states = {}
    for i in range(pg_num):
        pgid = "%s.%x" % (pool_id, i)
        out = subprocess.run(["ceph", "-c", ceph_conf, "pg", pgid, "query"],
                             capture_output=True, text=True, timeout=30).stdout
        try:
            states[pgid] = json.loads(out)["state"]
        except ValueError:
            states[pgid] = "unknown"
    return states


def wait_clean(ceph_conf, timeout=600):
    """Wait until every PG of the pool is active+clean; return the seconds waited."""
    t0 = time.monotonic()
    while True:
        states = pool_pg_states(ceph_conf)
        if set(states.values()) == {"active+clean"}:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("PGs not active+clean after %d s: %s" % (timeout, states))
        time.sleep(1)


def osd_loss():
    """Stop one OSD of the cluster's pool (size 2, min_size 1) for OSD_HOLD seconds, start
    it, wait until every PG of the pool is active+clean again; return what happened."""
    conf = CEPH_CONF["path"]
    wait_clean(conf)
    t = time.monotonic()
    tool("ceph.sh", "stop-osd", OSD)
    notes = ["stop-osd %s: %.1f s" % (OSD, time.monotonic() - t)]
    time.sleep(OSD_HOLD / 2)
    down = sorted(set(pool_pg_states(conf).values()))
    notes.append("PG states while osd.%s is down: %s" % (OSD, ", ".join(down)))
    time.sleep(OSD_HOLD / 2)
    t = time.monotonic()
    tool("ceph.sh", "start-osd", OSD)
    notes.append("start-osd %s (until up): %.1f s" % (OSD, time.monotonic() - t))
    notes.append("all PGs active+clean %.1f s after start-osd returned" % wait_clean(conf))
    return notes


# name, tools/cluster.sh arguments of the drill (or a function running it), whether `start`
# brings something back
DRILLS = [
    ("kill -9 api node (api1)", ["kill", "api1"], True),
    ("kill -9 registry node (reg1)", ["kill", "reg1"], True),
    ("kill -9 Galera node1 (HAProxy's active one), rejoin", ["kill", "node1"], True),
    ("restart HAProxy (stop, start)", ["restart", "haproxy"], False),
    ("reload HAProxy (new process, old one -sf)", ["reload", "haproxy"], False),
    ("rolling upgrade: db expand/migrate/contract, roll api1 api2 reg1 reg2",
     rolling_upgrade, False),
    ("stop one Ceph OSD (osd.%s of 3, pool size 2) for %d s, start it, wait active+clean"
     % (OSD, OSD_HOLD), osd_loss, False),
]
# the load goes on this long after a drill run by a function (its own length unknown)
TAIL = 10.0


def tool(script, *args, timeout=900):
    """Run tools/<script>; return its stdout (raising with its stderr on failure)."""
    proc = subprocess.run(["bash", str(ROOT / "tools" / script), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "VENV": sys.prefix})
    if proc.returncode != 0:
        raise RuntimeError("tools/%s %s: %s" % (script, " ".join(args), proc.stderr[-2000:]))
    return proc.stdout


def run_scrubber():
    extra = pathlib.Path(state_dir()) / "scrubber-drills.conf"
    extra.write_text("[DEFAULT]\nstalled_upload_time = %d\n" % STALLED)
    subprocess.run([str(pathlib.Path(sys.prefix) / "bin" / "glance-scrubber"), "--config-file",
                    state_dir() + "/glance-scrubber.conf", "--config-file", str(extra)],
                   check=True, capture_output=True, timeout=300)


def db_rows(sql):
    conn = pymysql.connect(**DB)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def orphans(ceph_conf):
    """Return the store objects no undeleted location points to."""
    pointed = {value.rstrip("/").split("/")[-2 if value.startswith("rbd://") else -1]
               for (value,) in db_rows("SELECT value FROM image_locations WHERE deleted = 0")}
    rbd = subprocess.run(["rbd", "-c", ceph_conf, "ls", "-p", POOL], capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    files = [p.name for p in (pathlib.Path(state_dir()) / "images").iterdir()]
    return ["rbd:" + n for n in rbd if n not in pointed] + \
        ["file:" + n for n in files if n not in pointed]


def verify(load, session):
    """Return (lost, mismatched) among the images the load uploaded and did not delete."""
    lost, mismatched = [], [m[0] for m in load.mismatches]
    for image_id, (md5, _store) in load.images.items():
        if image_id in load.unsure:
            continue
        shown = session.get("%s/v2/images/%s" % (load.endpoint, image_id), timeout=60)
        if shown.status_code != 200 or shown.json()["status"] != "active":
            lost.append(image_id)
            continue
        body = session.get("%s/v2/images/%s/file" % (load.endpoint, image_id), timeout=60)
        if shown.json()["checksum"] != md5 or hashlib.md5(body.content).hexdigest() != md5:
            mismatched.append(image_id)
    return lost, mismatched


def cleanup(load, session):
    for image_id in set(load.images) | load.unsure:
        session.delete("%s/v2/images/%s" % (load.endpoint, image_id), timeout=60)


def drill(name, action, restore, args, keystone, ceph_conf):
    """Run one drill beside a load; return its result row (a dict)."""
    scripted = callable(action)
    load = Load(args.endpoint, keystone, args.threads,
                3600.0 if scripted else args.duration, args.max_requests)
    runner = threading.Thread(target=load.run)
    runner.start()
    while load.t0 is None or load.now() < args.lead:
        time.sleep(0.1)
    at = load.now()
    if scripted:
        notes = action()
    else:
        tool("cluster.sh", *action)
        notes = []
    done = load.now()
    if scripted:
        time.sleep(TAIL)
        load.stop()
    if restore:
        time.sleep(max(0.0, at + args.hold - load.now()))
        back = load.now()
        tool("cluster.sh", "start")
        back_after = load.now() - back
    runner.join()
    time.sleep(max(0.0, at + STALLED + 1 - load.now()))
    run_scrubber()
    session = requests.Session()
    session.headers["X-Auth-Token"] = load.token
    lost, mismatched = verify(load, session)
    failed = load.failures()
    row = {
        "drill": name, "requests": len(load.records), "failed": len(failed),
        "in_flight": sum(r.start <= done for r in failed),
        "drill_took": done - at,
        "clean_after": max((r.end - at for r in failed), default=0.0),
        "lost": len(lost), "mismatched": len(mismatched),
        "orphans": orphans(ceph_conf),
        "stuck": [r[0] for r in db_rows(
            "SELECT id FROM images WHERE deleted = 0 AND status IN ('saving', 'importing')")],
        "details": ["%s %s at %+.1f s" % (r.op, r.outcome, r.end - at) for r in failed],
        "restart": "%.1f s" % back_after if restore else "-",
        "steps": notes,
    }
    cleanup(load, session)
    return row


def print_table(rows):
    print("| Drill | Requests | Failed (sent before the drill returned) | Clean again after "
          "| Images lost "
          "| Checksum mismatches | Orphaned objects after scrubber "
          "| Stuck in saving/importing | `cluster.sh start` took |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print("| %s | skipped: %s | | | | | | | |" % (r["drill"], r["skipped"]))
            continue
        print("| %s | %d | %d (%d) | %.1f s | %d | %d | %d | %d | %s |" % (
            r["drill"], r["requests"], r["failed"], r["in_flight"], r["clean_after"], r["lost"],
            r["mismatched"], len(r["orphans"]), len(r["stuck"]), r["restart"]))
    for r in rows:
        for what in ("steps", "details", "orphans", "stuck"):
            if r.get(what):
                print("%s, %s: %s" % (r["drill"], what, "; ".join(r[what][:12])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=50.0)
    parser.add_argument("--max-requests", type=int, default=100000)
    parser.add_argument("--lead", type=float, default=10.0, help="seconds before the drill")
    parser.add_argument("--hold", type=float, default=15.0,
                        help="seconds the node stays down before tools/cluster.sh start")
    parser.add_argument("--only", help="run only the drills whose name contains this")
    args = parser.parse_args()
    keystone = tool("cluster.sh", "start").strip().splitlines()
    keystone = [line for line in keystone if line.startswith("KEYSTONE_URL=")][0].split("=", 1)[1]
    ceph_conf = tool("ceph.sh", "conf").strip()
    CEPH_CONF["path"] = ceph_conf
    rows = []
    for name, action, restore in DRILLS:
        if args.only and args.only not in name:
            continue
        rows.append(drill(name, action, restore, args, keystone, ceph_conf))
        print_table(rows[-1:])
        sys.stdout.flush()
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
