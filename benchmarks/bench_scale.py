"""Latency against catalogue size: list(limit=20), a filtered list and image-show with 1k, 10k
and 100k images, and how much each grows from the smallest catalogue to the largest.

The images are seeded straight into the database through glance_db's tables in bulk (the
API would take an hour for 100k): one new MariaDB database per size, each served by its own
glance-registry + glance-api (2 workers each), all running at once. The caller is a plain
project member, as Nova and most users are: its list is the query with the visibility rules
and the membership subquery, not an admin's. It owns every fifth image (20% of any size),
so its filtered list answers a full page at every size: what grows is the catalogue, not
the page (with a 1% share the 1k page held 2 images, the 100k page 20, and the figure
measured the answer's length). Each figure is ``--samples`` sequential
requests per size on one keep-alive connection after a warm-up, sent round-robin over the
sizes ``ROUND`` at a time; median and p95 are printed, the growth ratio (median at the
largest ÷ median at the smallest) is judged against ``TARGET`` and a PNG plot is written.

    .venv/bin/python benchmarks/bench_scale.py --sizes 1000,10000,100000 --plot scale.png
"""

import argparse
import contextlib
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import stacks, table  # noqa: E402
from benchmarks.http_load import Endpoint, check  # noqa: E402

TARGET = 1.5
LIST_PATH = '/v2/images?limit=20'
# NOTE: the same filter as bench.FILTERED_PATH: the caller's private qcow2 images.
FILTERED_PATH = '/v2/images?limit=20&visibility=private&disk_format=qcow2'
PROJECTS = 100
CALLER = 'project-1'
CALLER_HEADERS = {'X-Identity-Status': 'Confirmed', 'X-Project-Id': CALLER,
                  'X-User-Id': 'user-1', 'X-Roles': 'member,reader'}
BATCH = 5000
VISIBILITIES = ['public', 'public', 'shared', 'shared', 'shared', 'shared',
                'private', 'private', 'private', 'private']
FORMATS = ['raw', 'qcow2', 'iso']


def _owner(i):
    # NOTE: i % 5 == 1 and i % 10 in (6..9) and i % 3 == 1: 1 in 30 images is the
    # caller's private qcow2 one, 33 at 1k
    return CALLER if i % 5 == 1 else 'project-%d' % (i // 10 % PROJECTS)


def seed_rows(start, stop, base):
    """Return the rows of images start..stop-1: (images, properties, locations, members)."""
    out = ([], [], [], [])
    for i in range(start, stop):
        image_id = str(uuid.UUID(int=i + 1))
        when = base + datetime.timedelta(seconds=i)
        active = (i // 10) % 10 != 9
        visibility = VISIBILITIES[i % 10]
        common = {'created_at': when, 'updated_at': when, 'deleted_at': None,
                  'deleted': False}
        out[0].append(dict(common, id=image_id, name='image-%d' % i, size=2**20 * (i % 50),
                           status='active' if active else 'queued',
                           disk_format=FORMATS[i % 3], container_format='bare',
                           checksum=None, owner=_owner(i), min_disk=0,
                           min_ram=0, protected=False, virtual_size=None,
                           visibility=visibility, os_hidden=False, os_hash_algo=None,
                           os_hash_value=None))
        out[1].extend([dict(common, image_id=image_id, name='os_distro', value='cirros'),
                       dict(common, image_id=image_id, name='hw_disk_bus', value='virtio')])
        if active:
            out[2].append(dict(common, image_id=image_id, meta_data='{}', status='active',
                               value='file:///var/lib/glance/images/%s' % image_id))
        if visibility == 'shared':
            out[3].append(dict(common, image_id=image_id, can_share=False, status='accepted',
                               member='project-%d' % ((i + 1) % PROJECTS)))
    return out


def seed(engine, start, stop):
    """Insert images start..stop-1 and their children in batches."""
    from glance_db import models

    tables = (models.images, models.image_properties, models.image_locations,
              models.image_members)
    base = datetime.datetime(2026, 1, 1)
    for first in range(start, stop, BATCH):
        rows = seed_rows(first, min(stop, first + BATCH), base)
        with engine.begin() as conn:
            for tbl, batch in zip(tables, rows, strict=True):
                if batch:
                    conn.execute(tbl.insert(), batch)


ROUND = 10   # requests of one figure on one catalogue before moving to the next


def latencies(ep, conn, paths, count, offset=0):
    """Return the seconds of ``count`` sequential GETs on ``conn`` cycling through ``paths``."""
    out = []
    for i in range(offset, offset + count):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        status, body = ep.call(conn, 'GET', path)
        out.append(time.perf_counter() - start)
        check(status, body, (200,), path)
    return out


def summary(times):
    """Return (median, p95) in milliseconds."""
    ordered = sorted(times)
    return (statistics.median(ordered) * 1e3,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3)


def _catalogue(cleanup, root, size):
    """Seed a new database with ``size`` images and run a stack on it; return its figures'
    (endpoint, connection, {figure: paths})."""
    from glance_db.engine import create_engine

    db_url = cleanup.enter_context(stacks.mariadb_database('glance_scale'))
    stack = stacks.Stack(root, db_url, 'scale-%d' % size)
    stack.sync()
    engine = create_engine(db_url)
    started = time.monotonic()
    seed(engine, 0, size)
    engine.dispose()
    print('  scale: seeded %d images in %.0f s' % (size, time.monotonic() - started))
    cleanup.enter_context(stack.running())
    ep = Endpoint(stack.api_url, headers=CALLER_HEADERS)
    conn = ep.connect()
    cleanup.callback(conn.close)
    # public images (i % 10 == 0) anywhere in the catalogue, as many at every size
    shows = ['/v2/images/%s' % uuid.UUID(int=i + 1)
             for i in random.Random(size).sample(range(0, size, 10), 20)]
    paths = {'image-list limit=20': [LIST_PATH], 'filtered list': [FILTERED_PATH],
             'image-show': shows}
    for figure_paths in paths.values():   # NOTE: warms the pools and the caches
        latencies(ep, conn, figure_paths, ROUND)
    return ep, conn, paths


def run(args):
    """Measure every size; return {figure: {size: (median, p95)}}.

    Each size has its own database and stack, all running at once, and the requests go
    round-robin over them ``ROUND`` at a time: on a shared machine the load of the moment
    then weighs on every size alike instead of on whichever was measured during it.
    """
    sizes = sorted(int(s) for s in args.sizes.split(','))
    times = {}
    with tempfile.TemporaryDirectory(prefix='glance-scale-', dir=args.tmpdir) as root, \
            contextlib.ExitStack() as cleanup:
        catalogues = {size: _catalogue(cleanup, root, size) for size in sizes}
        for offset in range(0, args.samples, ROUND):
            for size, (ep, conn, paths) in catalogues.items():
                for figure, figure_paths in paths.items():
                    times.setdefault(figure, {}).setdefault(size, []).extend(
                        latencies(ep, conn, figure_paths, ROUND, offset))
    result = {figure: {size: summary(t) for size, t in by_size.items()}
              for figure, by_size in times.items()}
    print(report(result))
    if args.plot:
        plot(result, args.plot)
        print('  scale: plot written to %s' % args.plot)
    return result


def report(result):
    """Return the per-size latencies as text."""
    lines = ['latency (ms) by catalogue size, median / p95:']
    for name, by_size in result.items():
        lines.append('  %-22s' % name + '  '.join(
            '%7d: %6.1f / %6.1f' % (size, med, p95) for size, (med, p95) in by_size.items()))
    return '\n'.join(lines)


def _count(n):
    return '%dk' % (n // 1000) if n % 1000 == 0 else str(n)


def rows(result):
    """Return the table rows: each figure's median growth from smallest to largest size."""
    out = []
    for name, by_size in result.items():
        sizes = sorted(by_size)
        if len(sizes) < 2:
            continue
        out.append(table.Row('%s latency %s / %s (median)' % (
            name, _count(sizes[-1]), _count(sizes[0])),
            by_size[sizes[-1]][0] / by_size[sizes[0]][0], target=('<=', TARGET), on='this',
            fmt='%.2f'))
    return out


def plot(result, path):
    """Write a PNG of latency (median, p95 dashed) against image count."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    for name, by_size in result.items():
        sizes = sorted(by_size)
        line, = ax.plot(sizes, [by_size[s][0] for s in sizes], marker='o',
                        label=name + ' median')
        ax.plot(sizes, [by_size[s][1] for s in sizes], linestyle='--', marker='.',
                color=line.get_color(), label=name + ' p95')
    ax.set_xscale('log')
    ax.set_xlabel('images in the catalogue')
    ax.set_ylabel('latency (ms), one client')
    ax.set_ylim(bottom=0)
    ax.set_title('glance-clone: latency against catalogue size (MariaDB)')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)


def parse_args(argv=None):
    """Return the command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='1000,10000,100000',
                        help='catalogue sizes, comma-separated (default 1000,10000,100000)')
    parser.add_argument('--samples', type=int, default=200,
                        help='requests per figure and size (default 200)')
    parser.add_argument('--plot', default='bench-scale.png',
                        help='PNG to write (default bench-scale.png; empty: none)')
    parser.add_argument('--tmpdir', help='directory for the service files')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the scale bench and print its rows."""
    print(table.render(rows(run(parse_args(argv)))))


if __name__ == '__main__':
    main()
