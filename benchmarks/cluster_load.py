"""A bounded, steady load on the HAProxy endpoint of `make cluster` (tools/cluster.sh).

Eight client threads (``--threads``) each act as the Keystone account ``demo`` and loop over a
weighted mix of create + upload (random 64-512 KiB; one in five to the file store ``local``,
the others to the default, Ceph RBD), download (bytes compared with the md5 the thread
uploaded), list, member add (the ``alt_demo`` project) and delete, each thread on its own
images. The run ends after ``--duration`` seconds or ``--max-requests`` requests, whichever
comes first; a client pauses 0.1 s after a failed request. Every request is recorded (start,
end, operation, outcome), so a drill run beside it (benchmarks/cluster_drills.py) can say
which requests failed and when the load ran clean again.

    .venv/bin/python benchmarks/cluster_load.py --duration 30
"""

import argparse
import collections
import hashlib
import os
import random
import threading
import time

import requests

DEFAULT_ENDPOINT = "http://127.0.0.1:9400"
EXPECTED = {"create": 201, "upload": 204, "download": 200, "list": 200, "member": 200,
            "delete": 204}
WEIGHTS = {"create": 3, "download": 3, "list": 2, "member": 1, "delete": 1}
MAX_OWN_IMAGES = 12
FAILURE_PAUSE = 0.1
KiB = 1024


def state_dir():
    """Return tools/cluster.sh's state directory."""
    if os.environ.get("CLUSTER_STATE"):
        return os.environ["CLUSTER_STATE"]
    if os.environ.get("GLANCE_CLONE_CACHE"):
        return os.environ["GLANCE_CLONE_CACHE"] + "/cluster"
    return "/var/tmp/glance-clone-cluster"


def keystone_token(keystone_url, user):
    """Return (token, project_id) of a tools/keystone.sh account (password "secret")."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": user, "domain": {"name": "Default"}}}}}
    resp = requests.post(keystone_url + "/v3/auth/tokens", json=body, timeout=30)
    resp.raise_for_status()
    return resp.headers["X-Subject-Token"], resp.json()["token"]["project"]["id"]


Record = collections.namedtuple("Record", "start end op ok outcome")


class Load:
    """The load: run() it in a thread; its records and images are read afterwards."""

    def __init__(self, endpoint, keystone_url, threads=8, duration=60.0, max_requests=100000):
        self.endpoint = endpoint
        self.token, self.project = keystone_token(keystone_url, "demo")
        self.member_project = keystone_token(keystone_url, "alt_demo")[1]
        self.threads, self.duration, self.max_requests = threads, duration, max_requests
        self.records = []
        self.images = {}          # id -> (md5, store) of every image uploaded and not deleted
        self.unsure = set()       # ids whose upload or delete ended without an answer
        self.mismatches = []      # (id, expected md5, md5 downloaded)
        self.t0 = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self):
        """Ask the clients to finish their current request and end."""
        self._stop.set()

    def run(self):
        """Run the clients until the duration or the request bound; return when all ended."""
        self.t0 = time.monotonic()
        clients = [threading.Thread(target=self._client, args=(random.Random(i),), daemon=True)
                   for i in range(self.threads)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()

    def now(self):
        return time.monotonic() - self.t0

    def _done(self):
        return (self._stop.is_set() or self.now() >= self.duration
                or len(self.records) >= self.max_requests)

    def _call(self, session, op, method, path, **kwargs):
        """Send one request; record it; return the response or None on a transport error."""
        start = self.now()
        try:
            resp = session.request(method, self.endpoint + path, timeout=60, **kwargs)
            outcome, ok = resp.status_code, resp.status_code == EXPECTED[op]
        except requests.RequestException as exc:
            resp, outcome, ok = None, type(exc).__name__, False
        with self._lock:
            self.records.append(Record(start, self.now(), op, ok, outcome))
        if not ok:
            # NOTE: a client that retried at once would count thousands of refused
            # connections during a short outage; this one waits as a polite client would.
            time.sleep(FAILURE_PAUSE)
        return resp if ok else None

    def _client(self, rnd):
        session = requests.Session()
        session.headers.update({"X-Auth-Token": self.token})
        own = {}   # this thread's images: id -> (md5, members)
        while not self._done():
            op = rnd.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
            if not own or len(own) < 2:
                op = "create"
            elif len(own) >= MAX_OWN_IMAGES and op == "create":
                op = "delete"
            getattr(self, "_" + op)(session, rnd, own)
        session.close()

    def _create(self, session, rnd, own):
        store = "local" if rnd.random() < 0.2 else None
        resp = self._call(session, "create", "POST", "/v2/images", json={
            "name": "load-%d" % rnd.randrange(10**6), "disk_format": "raw",
            "container_format": "bare", "visibility": "shared"})
        if resp is None:
            return
        image_id = resp.json()["id"]
        data = os.urandom(rnd.randrange(64, 513) * KiB)
        headers = {"Content-Type": "application/octet-stream"}
        if store:
            headers["X-Image-Meta-Store"] = store
        if self._call(session, "upload", "PUT", "/v2/images/%s/file" % image_id, data=data,
                      headers=headers) is None:
            with self._lock:
                self.unsure.add(image_id)
            return
        md5 = hashlib.md5(data).hexdigest()
        own[image_id] = (md5, set())
        with self._lock:
            self.images[image_id] = (md5, store or "ceph")

    def _download(self, session, rnd, own):
        image_id = rnd.choice(list(own))
        resp = self._call(session, "download", "GET", "/v2/images/%s/file" % image_id)
        if resp is not None and hashlib.md5(resp.content).hexdigest() != own[image_id][0]:
            with self._lock:
                self.mismatches.append((image_id, own[image_id][0],
                                        hashlib.md5(resp.content).hexdigest()))

    def _list(self, session, rnd, own):
        self._call(session, "list", "GET", "/v2/images?limit=20")

    def _member(self, session, rnd, own):
        image_id = rnd.choice(list(own))
        if self.member_project in own[image_id][1]:
            return
        if self._call(session, "member", "POST", "/v2/images/%s/members" % image_id,
                      json={"member": self.member_project}) is not None:
            own[image_id][1].add(self.member_project)

    def _delete(self, session, rnd, own):
        image_id = rnd.choice(list(own))
        del own[image_id]
        ok = self._call(session, "delete", "DELETE", "/v2/images/%s" % image_id) is not None
        with self._lock:
            if ok:
                self.images.pop(image_id, None)
            else:
                self.unsure.add(image_id)

    def failures(self, since=0.0):
        """Return the failed records that ended at or after ``since`` (seconds into the run)."""
        return [r for r in self.records if not r.ok and r.end >= since]

    def summary(self):
        """Return {op: (requests, failed)} of the run."""
        counts = collections.defaultdict(lambda: [0, 0])
        for r in self.records:
            counts[r.op][0] += 1
            counts[r.op][1] += not r.ok
        return {op: tuple(v) for op, v in sorted(counts.items())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    parser.add_argument("--keystone", default=None,
                        help="Keystone URL (default: the one tools/cluster.sh recorded)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=100000)
    args = parser.parse_args()
    keystone = args.keystone or open(state_dir() + "/keystone_url").read().strip()
    load = Load(args.endpoint, keystone, args.threads, args.duration, args.max_requests)
    load.run()
    elapsed = load.now()
    print("%d requests in %.1f s (%.1f/s), %d threads against %s" % (
        len(load.records), elapsed, len(load.records) / elapsed, args.threads, args.endpoint))
    for op, (count, failed) in load.summary().items():
        print("  %-9s %6d requests %4d failed" % (op, count, failed))
    for r in load.failures()[:20]:
        print("  failed: %6.2f s %-9s %s" % (r.end, r.op, r.outcome))
    print("checksum mismatches on download: %d" % len(load.mismatches))


if __name__ == "__main__":
    main()
