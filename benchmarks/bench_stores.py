"""Upload/download MB/s of each store driver next to its raw client on the same server.

For every store in the table ``STORES`` the run measures, on the same server:

* ``driver``: ``Store.add`` (streamed from a generator, never in memory) and reading
  ``Store.get``'s iterator to the end;
* ``raw``: the vendor client's own best path (swiftclient ``put_object``/``get_object``,
  boto3 ``upload_fileobj``/``download_fileobj``), the ceiling a driver can reach.

    tools/swift.sh start
    .venv/bin/python benchmarks/bench_stores.py --size-mib 512 --stores swift,s3

A store is a factory ``f(args) -> Case`` in ``STORES``; to add one (e.g. rbd), write a
factory returning ``Case(store, raw_put, raw_get, raw_delete)`` and add it to ``STORES``.
Objects created are deleted at the end; the swift/s3 cases talk only to ``--swift-url``
(the loopback Swift of tools/swift.sh).
"""

import argparse
import collections
import io
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oslo_config import cfg  # noqa: E402

MiB = 1024 * 1024
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"
CONTAINER = "glance-bench"
BUCKET = "glance-bench-s3"

# raw_put(name, stream, size); raw_get(name) -> bytes read; raw_delete(name)
Case = collections.namedtuple("Case", "store raw_put raw_get raw_delete")


class PatternStream:
    """A read()-able stream of ``size`` bytes cycled from a random 8 MiB pool."""

    pool = os.urandom(8 * MiB)

    def __init__(self, size):
        self.size = size
        self.pos = 0

    def read(self, n=-1):
        left = self.size - self.pos
        if n is None or n < 0 or n > left:
            n = left
        start = self.pos % len(self.pool)
        n = min(n, len(self.pool) - start)
        self.pos += n
        return self.pool[start:start + n]


class NullSink(io.RawIOBase):
    """A write-only, non-seekable sink that counts bytes."""

    def __init__(self):
        self.count = 0

    def writable(self):
        return True

    def write(self, b):
        self.count += len(b)
        return len(b)


def _make(cls, group, **options):
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-bench", default_config_files=[])
    store = cls(conf, group)
    for name, value in options.items():
        conf.set_override(name, value, group)
    store.configure()
    return store


def _swift_conn(args):
    import swiftclient
    return swiftclient.Connection(authurl=args.swift_url + "/auth/v1.0", user=SWIFT_USER,
                                  key=SWIFT_KEY, auth_version="1")


def _swift_case(args, **extra):
    from stores.swift import SwiftStore
    store = _make(SwiftStore, "swift", swift_store_auth_address=args.swift_url + "/auth/v1.0",
                  swift_store_auth_version="1", swift_store_user=SWIFT_USER,
                  swift_store_key=SWIFT_KEY, swift_store_container=CONTAINER,
                  swift_store_create_container_on_put=True, **extra)
    conn = _swift_conn(args)
    conn.put_container(CONTAINER)

    def raw_put(name, stream, size):
        conn.put_object(CONTAINER, name, stream, content_length=size, chunk_size=MiB)

    def raw_get(name):
        _, body = conn.get_object(CONTAINER, name, resp_chunk_size=MiB)
        return sum(len(c) for c in body)

    return Case(store, raw_put, raw_get, lambda name: conn.delete_object(CONTAINER, name))


def swift_factory(args):
    """Swift with glance_store's defaults (one PUT below 5 GB)."""
    return _swift_case(args)


def swift_segmented_factory(args):
    """Swift as a large object: 100 "MB" segments (glance_store's MB: 1000 KiB)."""
    return _swift_case(args, swift_store_large_object_size=100,
                       swift_store_large_object_chunk_size=100)


def s3_factory(args):
    """S3 on Swift's s3api, glance_store's defaults (multipart above 100 MB, 10 threads)."""
    return _s3_case(args.swift_url, SWIFT_USER, SWIFT_KEY)


def s3_rgw_factory(args):
    """S3 on Ceph's radosgw (tools/ceph.sh rgw), glance_store's defaults."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([os.path.join(root, "tools", "ceph.sh"), "rgw"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("tools/ceph.sh rgw failed:\n" + out.stderr)
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return _s3_case(values["RGW_URL"], values["RGW_ACCESS_KEY"], values["RGW_SECRET_KEY"])


def _s3_case(url, access, secret):
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from stores.s3 import S3Store
    store = _make(S3Store, "s3", s3_store_host=url,
                  s3_store_access_key=access, s3_store_secret_key=secret,
                  s3_store_bucket=BUCKET, s3_store_create_bucket_on_put=True)
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id=access,
                          aws_secret_access_key=secret, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    transfer = TransferConfig(multipart_chunksize=10 * MiB, max_concurrency=10)

    def raw_put(name, stream, size):
        client.upload_fileobj(stream, BUCKET, name, Config=transfer)

    def raw_get(name):
        sink = NullSink()
        client.download_fileobj(BUCKET, name, sink, Config=transfer)
        return sink.count

    return Case(store, raw_put, raw_get,
                lambda name: client.delete_object(Bucket=BUCKET, Key=name))


def _ceph_conf():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([os.path.join(root, "tools", "ceph.sh"), "conf"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("Ceph is not running: tools/ceph.sh start")
    return out.stdout.strip()


def rbd_factory(args):
    """RBD (pool images) with glance_store's defaults: 8 MiB objects and chunks."""
    import rados
    import rbd

    from stores.rbd import RbdStore
    conf_file = _ceph_conf()
    store = _make(RbdStore, "rbd", rbd_store_ceph_conf=conf_file)
    cluster = rados.Rados(conffile=conf_file)
    cluster.connect(timeout=30)
    ioctx = cluster.open_ioctx("images")
    chunk = 8 * MiB

    def raw_put(name, stream, size):
        rbd.RBD().create(ioctx, name, size, 23, old_format=False,
                         features=rbd.RBD_FEATURE_LAYERING)
        with rbd.Image(ioctx, name) as image:
            for offset in range(0, size, chunk):
                image.write(stream.read(chunk), offset)
            image.flush()

    def raw_get(name):
        with rbd.Image(ioctx, name, read_only=True) as image:
            size = image.size()
            return sum(len(image.read(offset, min(chunk, size - offset)))
                       for offset in range(0, size, chunk))

    return Case(store, raw_put, raw_get, lambda name: rbd.RBD().remove(ioctx, name))


STORES = {
    "swift": swift_factory,
    "swift-segmented": swift_segmented_factory,
    "s3": s3_factory,
    "s3-rgw": s3_rgw_factory,
    "rbd": rbd_factory,
}


def _mbps(size, seconds):
    return size / MiB / seconds if seconds > 0 else float("inf")


def run_case(name, case, size, repeat=1):
    """Return {(path, op): best MB/s of ``repeat`` rounds} for one store."""
    best = {}
    for _ in range(repeat):
        for key, value in _one_round(case, size).items():
            best[key] = max(best.get(key, 0), value)
    return best


def _one_round(case, size):
    results = {}
    image_id = "bench-" + uuid.uuid4().hex
    started = time.monotonic()
    added = case.store.add(image_id, PatternStream(size), size)
    results["driver", "upload"] = _mbps(size, time.monotonic() - started)
    assert added.size == size
    url = added.url
    try:
        started = time.monotonic()
        iterator, _ = case.store.get(url)
        got = sum(len(c) for c in iterator)
        results["driver", "download"] = _mbps(size, time.monotonic() - started)
        assert got == size, (got, size)
    finally:
        case.store.delete(url)
    raw_name = "raw-" + uuid.uuid4().hex
    started = time.monotonic()
    case.raw_put(raw_name, PatternStream(size), size)
    results["raw", "upload"] = _mbps(size, time.monotonic() - started)
    try:
        started = time.monotonic()
        got = case.raw_get(raw_name)
        results["raw", "download"] = _mbps(size, time.monotonic() - started)
        assert got == size, (got, size)
    finally:
        case.raw_delete(raw_name)
    return results


def _swift_url():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([os.path.join(root, "tools", "swift.sh"), "url"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--stores", default=",".join(STORES),
                        help="comma-separated names from: " + ", ".join(STORES))
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds per store; the best figure of each is shown (the first "
                             "read of a fresh object on a loaded machine is often slower)")
    parser.add_argument("--swift-url", help="Swift proxy URL (default: tools/swift.sh url)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.stores.split(",") if n.strip()]
    if any(n.startswith("swift") or n == "s3" for n in names) and not args.swift_url:
        args.swift_url = _swift_url()
        if not args.swift_url:
            parser.error("Swift is not running: tools/swift.sh start (or --swift-url)")
    size = args.size_mib * MiB
    print("%-16s %14s %14s %14s %14s" % ("store (%d MiB)" % args.size_mib, "driver up",
                                         "raw up", "driver down", "raw down"))
    for name in names:
        if name not in STORES:
            parser.error("unknown store %s" % name)
        res = run_case(name, STORES[name](args), size, args.repeat)
        print("%-16s %9.0f MB/s %9.0f MB/s %9.0f MB/s %9.0f MB/s" % (
            name, res["driver", "upload"], res["raw", "upload"],
            res["driver", "download"], res["raw", "download"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
