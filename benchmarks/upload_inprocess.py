"""Measure glance_api.data.uploads.upload in-process: real file store on /tmp, fake registry.

Run: .venv/bin/python benchmarks/upload_inprocess.py [--size-mib 1024] [--dir /tmp]
Prints the upload MB/s next to the machine's md5 / sha512 / disk-write limits.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oslo_config import cfg  # noqa: E402

from benchmarks import limits  # noqa: E402
from glance_api import config
from glance_api.rules import policy
from glance_api.data import uploads  # noqa: E402
from glance_api.web.context import RequestContext  # noqa: E402
from stores import StoreRegistry  # noqa: E402


class Registry:
    """Just enough registry client for one upload, with compare-and-swap."""

    def __init__(self, image):
        self.image = image

    def image_get(self, ctx, image_id, include_deleted=False):
        return dict(self.image)

    def image_update(self, ctx, image_id, values, from_state=None, purge_props=False):
        assert from_state in (None, self.image['status'])
        self.image.update(values)
        return dict(self.image)


def main():
    """Print in-process upload MB/s against the machine limits."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--dir', default=tempfile.gettempdir())
    args = parser.parse_args()
    size = args.size_mib * limits.CHUNK
    workdir = tempfile.mkdtemp(prefix='glance-upload-bench-', dir=args.dir)
    try:
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], project='glance', default_config_files=[], default_config_dirs=[])
        conf.set_override('filesystem_store_datadir', workdir, group='glance_store')
        conf.set_override('stores', ['file'], group='glance_store')
        stores = StoreRegistry(conf)
        image = {'id': str(uuid.uuid4()), 'status': 'queued', 'owner': 'p', 'visibility':
                 'private', 'disk_format': 'raw', 'container_format': 'bare',
                 'os_hash_algo': None, 'locations': []}
        ctx = RequestContext(project_id='p', roles=['member', 'reader'])
        lim = limits.machine_limits(size, workdir)
        cpu, start = time.process_time(), time.perf_counter()
        done = uploads.upload(conf, Registry(image), stores, ctx, image['id'],
                              limits.GeneratedStream(size), size, None, None,
                              enforcer=policy.Enforcer(conf))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        upload = size / wall / 1e6
        assert done['status'] == 'active' and done['size'] == size
        for name, value in lim.items():
            print('%-22s %8.0f MB/s' % (name, value))
        print('%-22s %8.0f MB/s  (%.2f CPU s over %.2f s wall: %.1f cores busy)'
              % ('upload (in-process)', upload, cpu, wall, cpu / wall))
        floor = min(lim['md5'], lim['sha512'], lim['disk'])
        print('upload / min(md5, sha512, disk) = %.2f (target >= 0.9)' % (upload / floor))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
