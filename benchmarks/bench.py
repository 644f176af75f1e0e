"""Benchmark this service, and Glance 33 beside it, and print one table of figures and targets.

In one run: this machine's limits for the data path (md5, sha512, disk write, the bare
receive-hash-write pipeline of limits.bare_pipeline_mbps); upload and download MB/s of a
generated image (v2, and v1 where served); image-show, list(limit=20), a filtered list and
image-create requests/s with C keep-alive clients; with ``--reference URL`` the same figures
of a running Glance 33 (benchmarks/glance33_server.py); with ``--keystone`` show, list and
create with `flavor = keystone` against the real Keystone, without and with memcached, as
ratios to the no-auth figures, and with ``--reference-keystone URL`` beside Glance 33 with
authtoken (glance33_server.py --keystone); api and registry RSS during a big upload and download
(``--memory-mib``); with ``--isolation`` image-show while slow transfers and header
tricklers load the api (benchmarks/bench_isolation.py, on both endpoints); with ``--scale``
the latency growth of benchmarks/bench_scale.py.

Without ``--endpoint`` the bench starts this service itself (2 workers each, MariaDB on
127.0.0.1:3306, file store in a temporary directory) and removes everything at the end.
Everything is bounded in count and time; it only talks to loopback.

    .venv/bin/python benchmarks/bench.py --size-mib 1024 --reference http://127.0.0.1:9393
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import bench_memory, images, limits, stacks, table  # noqa: E402
from benchmarks.http_load import Endpoint, check, delete_all, measure_rps  # noqa: E402

LIST_PATH = '/v2/images?limit=20'
# NOTE: the list images below are private qcow2: the filter matches a full page of them,
# and at scale (bench_scale) a fraction of the catalogue.
FILTERED_PATH = '/v2/images?limit=20&visibility=private&disk_format=qcow2'
CREATE_BODY = {'name': 'bench-create', 'disk_format': 'raw', 'container_format': 'bare'}
TARGETS = {'show': 5.0, 'list': 5.0,      # × Glance 33 (issue 2)
           'upload/bare': 0.95,           # issue 14
           'download/upload': 3.0,
           'v1': 0.9,                     # v1 within 10 % of v2 (issue 15)
           'keystone': 0.75,              # keystone ÷ no-auth, same run (issue 14)
           'keystone show': 3.0}          # × Glance 33 with authtoken (issue 14)


def metadata_figures(ep, args):
    """Return {'show', 'list', 'filtered', 'create'} requests/s of ``ep``.

    Creates one image to show and 20 private qcow2 images to list, and deletes them (and
    every image the create load made) at the end.
    """
    conn = ep.connect()
    created = []
    try:
        show_id = images.create_image(ep, conn, 'bench-show')
        created.append(show_id)
        for i in range(20):
            status, body = ep.call(conn, 'POST', '/v2/images', {
                'name': 'bench-list-%d' % i, 'disk_format': 'qcow2',
                'container_format': 'bare', 'visibility': 'private'})
            check(status, body, (201,), 'list image create')
            created.append(json.loads(body)['id'])
        load = (args.requests, args.concurrency, args.time_limit)
        out = {'show': measure_rps(ep, '/v2/images/%s' % show_id, *load)[0],
               'list': measure_rps(ep, LIST_PATH, *load)[0],
               'filtered': measure_rps(ep, FILTERED_PATH, *load)[0]}
        out['create'], new = measure_rps(ep, '/v2/images', args.create_requests,
                                         args.concurrency, args.time_limit, 'POST',
                                         CREATE_BODY)
        created += new
    finally:
        conn.close()
        delete_all(ep, created)
    return out


ROUNDS = 3


def data_figures(ep, size, v1=True):
    """Return {'upload', 'download'[, 'v1 upload', 'v1 download']} MB/s of ``ep``."""
    conn = ep.connect()
    created = []
    try:
        # NOTE: one transfer takes a second or two here, so one sample is mostly noise: the
        # best of ROUNDS, v2 and v1 alternating, so both see the same machine.
        up = up_v1 = 0.0
        image_id = v1_id = None
        for _ in range(ROUNDS):
            image_id = images.create_image(ep, conn, 'bench-upload')
            created.append(image_id)
            up = max(up, images.upload(ep, image_id, size))
            if v1:
                v1_id, mbs = images.upload_v1(ep, size)
                if v1_id is None:
                    v1 = False   # the endpoint serves no /v1
                else:
                    created.append(v1_id)
                    up_v1 = max(up_v1, mbs)
        down = down_v1 = 0.0
        for _ in range(ROUNDS):
            down = max(down, images.download(ep, image_id, size))
            if v1:
                down_v1 = max(down_v1, images.download(ep, v1_id, size, '/v1/images/%s'))
        out = {'upload': up, 'download': down}
        if v1:
            out.update({'v1 upload': up_v1, 'v1 download': down_v1})
    finally:
        for iid in created:
            ep.call(conn, 'DELETE', '/v2/images/%s' % iid)
        conn.close()
    return out


def measure_memory(ep, args, pids, datadir):
    """Return {(service, phase): RSS growth MiB} over a --memory-mib upload and download."""
    if not args.memory_mib or not pids:
        return {}
    conn = ep.connect()
    try:
        growth, image_id = bench_memory.run(ep, conn, pids, args.memory_mib * limits.CHUNK,
                                            datadir)
        if image_id:
            ep.call(conn, 'DELETE', '/v2/images/%s' % image_id)
    finally:
        conn.close()
    return growth or {}


def keystone_figures(args, root, db_url):
    """Return {mode: {'keystone': figures, 'no-auth': figures}} of show, list and create.

    This service without auth and in each keystone mode run side by side on the same
    database, and are measured in turn, ROUNDS times; each figure is its best round. On a
    shared machine the load drifts over a run: figures taken minutes apart, or once each,
    would measure the neighbours as much as Keystone.
    """
    from benchmarks import bench_keystone

    url = bench_keystone.keystone_url()
    modes = ('keystone', 'keystone+memcached')
    best = {}
    with contextlib.ExitStack() as cleanup:
        endpoints = {'no-auth': Endpoint(cleanup.enter_context(
            stacks.Stack(root, db_url, 'noauth').running()).api_url)}
        for mode in modes:
            servers = (cleanup.enter_context(bench_keystone.memcached())
                       if mode.endswith('memcached') else None)
            stack = bench_keystone.keystone_stack(root, db_url, url, mode.replace('+', '-'),
                                                  servers)
            cleanup.enter_context(stack.running())
            endpoints[mode] = Endpoint(stack.api_url, bench_keystone.issue_token(url))
        if args.reference_keystone:
            endpoints['glance33'] = Endpoint(args.reference_keystone,
                                             bench_keystone.issue_token(url))
        for _ in range(ROUNDS):
            for name, ep in endpoints.items():
                figures = metadata_figures(ep, args)
                for key in ('show', 'list', 'create'):
                    best.setdefault(name, {})[key] = max(best.get(name, {}).get(key, 0),
                                                         figures[key])
    return {mode: {'keystone': best[mode], 'no-auth': best['no-auth'],
                   'glance33': best.get('glance33')} for mode in modes}


def isolation_figures(url, api_pid, args):
    """Return benchmarks/bench_isolation.py's figures for the api at ``url``."""
    from benchmarks import bench_isolation

    argv = ['--endpoint', url, '--transfers', str(args.isolation_transfers),
            '--tricklers', str(args.isolation_tricklers)]
    if api_pid:
        argv += ['--api-pid', str(api_pid)]
    print('  isolation: %s' % url, flush=True)
    return bench_isolation.measure(bench_isolation.parse_args(argv))


def rows(lim, this, ref, memory, keystone, scale, memory_mib):
    """Return the table rows of all the measured figures."""
    R = table.Row
    out = [R('%s (MB/s)' % name, value) for name, value in lim.items()]
    out += [R('image-show (req/s)', this['show'], ref.get('show'), ('>=', TARGETS['show'])),
            R('image-list limit=20 (req/s)', this['list'], ref.get('list'),
              ('>=', TARGETS['list'])),
            R('filtered list (req/s)', this['filtered'], ref.get('filtered')),
            R('image-create (req/s)', this['create'], ref.get('create')),
            R('upload (MB/s)', this['upload'], ref.get('upload')),
            R('upload / bare pipeline', this['upload'] / lim['bare pipeline'],
              target=('>=', TARGETS['upload/bare']), on='this', fmt='%.2f'),
            R('download (MB/s)', this['download'], ref.get('download')),
            R('download / upload', this['download'] / this['upload'],
              ref['download'] / ref['upload'] if 'upload' in ref else None,
              ('>=', TARGETS['download/upload']), on='this', fmt='%.2f')]
    if 'v1 upload' in this:
        out += [R('v1 upload / v2 upload', this['v1 upload'] / this['upload'],
                  target=('>=', TARGETS['v1']), on='this', fmt='%.2f'),
                R('v1 download / v2 download', this['v1 download'] / this['download'],
                  target=('>=', TARGETS['v1']), on='this', fmt='%.2f')]
    glance33 = keystone.get('keystone', {}).get('glance33')
    if glance33:
        for name in ('show', 'list', 'create'):
            out.append(R('keystone %s (req/s)' % name, keystone['keystone']['keystone'][name],
                         glance33[name],
                         ('>=', TARGETS['keystone show']) if name == 'show' else None))
    for mode, figures in keystone.items():
        for name in ('show', 'list', 'create'):
            out.append(R('%s %s / no-auth' % (mode, name),
                         figures['keystone'][name] / figures['no-auth'][name],
                         target=('>=', TARGETS['keystone']), on='this', fmt='%.2f'))
    for (service, phase), growth in memory.items():
        out.append(R('%s RSS growth, %d MiB %s (MiB)' % (service, memory_mib, phase), growth,
                     target=('<=', bench_memory.TARGET_MIB), on='this'))
    if 'isolation' in this:
        from benchmarks import bench_isolation
        out += bench_isolation.rows(this['isolation'], ref.get('isolation'))
    return out + list(scale)


def parse_args(argv=None):
    """Return the command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--endpoint', help='a running glance-api (default: start one)')
    parser.add_argument('--api-pid', type=int, help='with --endpoint: the glance-api '
                        'gunicorn master, for the memory figures')
    parser.add_argument('--registry-pid', type=int, help='with --endpoint: the '
                        'glance-registry gunicorn master')
    parser.add_argument('--reference', help='a running Glance 33 endpoint (no authtoken, '
                        'benchmarks/glance33_server.py) measured in the same run')
    parser.add_argument('--keystone', action='store_true', help='also measure keystone mode '
                        '(needs the bench to start this service: no --endpoint)')
    parser.add_argument('--reference-keystone', help='with --keystone: a running Glance 33 '
                        'endpoint with authtoken (benchmarks/glance33_server.py --keystone), '
                        'measured in the keystone rounds with the same token')
    parser.add_argument('--isolation', action='store_true',
                        help='also run bench_isolation: image-show under slow transfers and '
                             'header tricklers (about 2 minutes per endpoint)')
    parser.add_argument('--isolation-transfers', type=int, default=100,
                        help='slow uploads, and as many slow downloads (default 100)')
    parser.add_argument('--isolation-tricklers', type=int, default=200,
                        help='connections trickling their request headers (default 200)')
    parser.add_argument('--scale', action='store_true',
                        help='also run bench_scale (1k/10k/100k images; slow)')
    parser.add_argument('--scale-sizes', default='1000,10000,100000')
    parser.add_argument('--size-mib', type=int, default=1024,
                        help='image size for the MB/s figures (default 1024)')
    parser.add_argument('--memory-mib', type=int, default=10240,
                        help='image size for the memory figures (default 10240; 0: skip)')
    parser.add_argument('--requests', type=int, default=3000,
                        help='show and list requests, each (default 3000)')
    parser.add_argument('--create-requests', type=int, default=1000,
                        help='image-create requests (default 1000)')
    parser.add_argument('--concurrency', type=int, default=8,
                        help='concurrent keep-alive clients (default 8)')
    parser.add_argument('--time-limit', type=float, default=20.0,
                        help='seconds at most per requests/s measurement (default 20)')
    parser.add_argument('--token', help='X-Auth-Token to send to --endpoint (keystone flavor)')
    parser.add_argument('--tmpdir', help='directory for the disk-write measurement and, '
                        'without --endpoint, the service files')
    args = parser.parse_args(argv)
    if args.reference_keystone and not args.keystone:
        parser.error('--reference-keystone needs --keystone')
    if args.keystone and args.endpoint:
        parser.error('--keystone starts this service itself; leave out --endpoint')
    return args


def main(argv=None):
    """Run the whole benchmark once and print the table."""
    args = parse_args(argv)
    size = args.size_mib * limits.CHUNK
    lim = limits.machine_limits(size, args.tmpdir)
    ref, keystone, scale = {}, {}, []
    with contextlib.ExitStack() as cleanup:
        if args.endpoint:
            ep = Endpoint(args.endpoint, args.token)
            pids = {k: v for k, v in (('api', args.api_pid), ('registry', args.registry_pid))
                    if v}
            datadir = None
        else:
            root = cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix='glance-bench-', dir=args.tmpdir))
            db_url = cleanup.enter_context(stacks.mariadb_database())
            stack = stacks.Stack(root, db_url, 'noauth')
            stack.sync()
            cleanup.enter_context(stack.running())
            ep = Endpoint(stack.api_url)
            pids = {'api': stack.api_pid, 'registry': stack.registry_pid}
            datadir = stack.datadir
        this = metadata_figures(ep, args)
        this.update(data_figures(ep, size))
        memory = measure_memory(ep, args, pids, datadir)
        if args.isolation:
            this['isolation'] = isolation_figures(ep.url, pids.get('api'), args)
        if not args.endpoint:
            stack.stop()   # NOTE: the keystone stacks and the reference get the cores alone
        if args.reference:
            ref_ep = Endpoint(args.reference)
            ref = metadata_figures(ref_ep, args)
            ref.update(data_figures(ref_ep, size, v1=False))
            if args.isolation:
                ref['isolation'] = isolation_figures(args.reference, None, args)
        if args.keystone:
            keystone = keystone_figures(args, root, db_url)
    if args.scale:
        from benchmarks import bench_scale
        scale = bench_scale.rows(bench_scale.run(bench_scale.parse_args(
            ['--sizes', args.scale_sizes])))
    result = rows(lim, this, ref, memory, keystone, scale, args.memory_mib)
    print(table.render(result, title='glance-clone bench (%d MiB images, %d clients)'
                       % (args.size_mib, args.concurrency)))
    failed = table.failures(result)
    print('%d figure(s) miss their target%s' % (len(failed), ': ' + ', '.join(failed)
                                                 if failed else ''))


if __name__ == '__main__':
    main()
