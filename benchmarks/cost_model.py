"""What one API request costs the tiers behind it, measured (issue 17, "scaling on paper").

Starts this service (benchmarks/stacks.py: api + registry, file store) on a MariaDB database
reached through a MariaDB account of its own, turns on MariaDB's per-account statistics
(``userstat``, information_schema.USER_STATISTICS) and, per request type, sends N requests
and reads the deltas:

- registry calls: the registry's own request counter (``/metrics``);
- DB statements (SELECT, data-changing, other), commits, rows read and written, and bytes
  between registry and database, from the account's statistics;
- store bytes: the image bytes the request moves to or from the store.

Everything a request needs beforehand (the image to show, upload into, share, delete) is made
before the counters are read. Prints one row per request type and, with ``--json``, the
figures for docs/scale-out.md's model.

    .venv/bin/python benchmarks/cost_model.py [--requests 50] [--size-mib 1]
        [--catalogue 100000] [--json FILE]

``--catalogue N`` also seeds N images the way bench_scale does and prints the InnoDB bytes
(data and indexes) per image of each image table.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
import uuid

import pymysql
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import stacks  # noqa: E402

HEADERS = {'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'project-a',
           'X-User-Id': 'user-a', 'X-Roles': 'member,reader'}
STAT_COLUMNS = ('SELECT_COMMANDS', 'UPDATE_COMMANDS', 'OTHER_COMMANDS', 'COMMIT_TRANSACTIONS',
                'ROWS_READ', 'ROWS_INSERTED', 'ROWS_UPDATED', 'ROWS_DELETED',
                'BYTES_RECEIVED', 'BYTES_SENT')


@contextlib.contextmanager
def counted_database():
    """A fresh database and an account of its own; yield (url, account name)."""
    root = pymysql.connect(connect_timeout=5, autocommit=True, **stacks.MARIADB)
    name = 'glance_cost_%s' % uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex
    try:
        with root.cursor() as cur:
            cur.execute('SET GLOBAL userstat = 1')
            cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8' % name)
            cur.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (name, password))
            cur.execute("GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1'" % (name, name))
        yield ('mysql+pymysql://%s:%s@127.0.0.1:3306/%s?charset=utf8'
               % (name, password, name)), name
    finally:
        with root.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS `%s`' % name)
            cur.execute("DROP USER IF EXISTS '%s'@'127.0.0.1'" % name)
        root.close()


def db_counters(account):
    conn = pymysql.connect(connect_timeout=5, autocommit=True, **stacks.MARIADB)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT %s FROM information_schema.USER_STATISTICS WHERE USER = %%s'
                        % ', '.join(STAT_COLUMNS), (account,))
            row = cur.fetchone() or (0,) * len(STAT_COLUMNS)
    finally:
        conn.close()
    return dict(zip(STAT_COLUMNS, (float(v) for v in row), strict=True))


def registry_calls(registry_url):
    text = requests.get(registry_url + '/metrics', timeout=30).text
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if line.startswith('glance_http_requests_total{'))


class Client:
    def __init__(self, url):
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(HEADERS)

    def call(self, method, path, expect, **kw):
        resp = self.session.request(method, self.url + path, timeout=120, **kw)
        if resp.status_code != expect:
            raise SystemExit('%s %s: %s %s' % (method, path, resp.status_code, resp.text[:300]))
        return resp

    def create(self):
        return self.call('POST', '/v2/images', 201, json={
            'name': 'cost', 'disk_format': 'raw', 'container_format': 'bare',
            'visibility': 'shared'}).json()['id']

    def upload(self, image_id, data):
        self.call('PUT', '/v2/images/%s/file' % image_id, 204, data=data,
                  headers={'Content-Type': 'application/octet-stream'})


def request_types(client, data, n):
    """Yield (name, store bytes per request, prepare() -> state, run(state, i))."""
    def fresh(count):
        return [client.create() for _ in range(count)]

    def active(count):
        ids = fresh(count)
        for image_id in ids:
            client.upload(image_id, data)
        return ids
    size = len(data)
    yield 'create', 0, lambda: None, lambda _, i: client.create()
    yield 'show', 0, lambda: active(1)[0], \
        lambda image_id, i: client.call('GET', '/v2/images/' + image_id, 200)
    yield 'list limit=20', 0, lambda: active(25), \
        lambda _, i: client.call('GET', '/v2/images?limit=20', 200)
    yield 'upload %d MiB' % (size >> 20), size, lambda: fresh(n), \
        lambda ids, i: client.upload(ids[i], data)
    yield 'download %d MiB' % (size >> 20), size, lambda: active(1)[0], \
        lambda image_id, i: client.call('GET', '/v2/images/%s/file' % image_id, 200).content
    yield 'member add', 0, lambda: active(1)[0], \
        lambda image_id, i: client.call('POST', '/v2/images/%s/members' % image_id, 200,
                                        json={'member': 'project-m%d' % i})
    yield 'delete', size, lambda: active(n), \
        lambda ids, i: client.call('DELETE', '/v2/images/' + ids[i], 204)


def measure(args):
    data = os.urandom(args.size_mib << 20)
    rows = []
    with tempfile.TemporaryDirectory(prefix='glance-cost-') as root, \
            counted_database() as (db_url, account):
        stack = stacks.Stack(root, db_url, 'cost', workers=1)
        stack.sync()
        with stack.running():
            client = Client(stack.api_url)
            registry_url = 'http://127.0.0.1:%d' % stack.reg_port
            for name, store_bytes, prepare, run in request_types(client, data, args.requests):
                state = prepare()
                calls0, db0 = registry_calls(registry_url), db_counters(account)
                for i in range(args.requests):
                    run(state, i)
                calls1, db1 = registry_calls(registry_url), db_counters(account)
                per = {k: (db1[k] - db0[k]) / args.requests for k in STAT_COLUMNS}
                rows.append({'request': name,
                             'registry_calls': (calls1 - calls0) / args.requests,
                             'statements': per['SELECT_COMMANDS'] + per['UPDATE_COMMANDS']
                             + per['OTHER_COMMANDS'],
                             'selects': per['SELECT_COMMANDS'],
                             'changes': per['UPDATE_COMMANDS'],
                             'commits': per['COMMIT_TRANSACTIONS'],
                             'rows_read': per['ROWS_READ'],
                             'rows_written': per['ROWS_INSERTED'] + per['ROWS_UPDATED']
                             + per['ROWS_DELETED'],
                             'db_bytes': per['BYTES_RECEIVED'] + per['BYTES_SENT'],
                             'store_bytes': store_bytes})
    return rows


def storage_per_image(count):
    """Seed ``count`` images as bench_scale does (two properties each, a location when
    active, a member when shared); return {table: bytes of data + indexes per image}."""
    from benchmarks import bench_scale
    from glance_db.engine import create_engine

    with tempfile.TemporaryDirectory(prefix='glance-cost-') as root, \
            stacks.mariadb_database('glance_cost') as db_url:
        stacks.Stack(root, db_url, 'size').sync()
        engine = create_engine(db_url)
        bench_scale.seed(engine, 0, count)
        engine.dispose()
        name = db_url.rsplit('/', 1)[1].split('?')[0]
        conn = pymysql.connect(connect_timeout=5, autocommit=True, database=name,
                               **stacks.MARIADB)
        try:
            with conn.cursor() as cur:
                tables = ('images', 'image_properties', 'image_locations', 'image_members')
                for table in tables:
                    cur.execute('ANALYZE TABLE `%s`' % table)
                    cur.fetchall()
                cur.execute('SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM '
                            'information_schema.TABLES WHERE TABLE_SCHEMA = %s', (name,))
                sizes = {t: float(b) / count for t, b in cur.fetchall() if t in tables}
        finally:
            conn.close()
    return sizes


def render(rows):
    head = ('request', 'registry calls', 'DB statements', 'selects', 'changes', 'commits',
            'rows read', 'rows written', 'DB bytes', 'store bytes')
    keys = ('request', 'registry_calls', 'statements', 'selects', 'changes', 'commits',
            'rows_read', 'rows_written', 'db_bytes', 'store_bytes')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        cells = [row['request']] + ['%.1f' % row[k] if isinstance(row[k], float) else
                                    str(row[k]) for k in keys[1:]]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--requests', type=int, default=50, help='requests per type')
    parser.add_argument('--size-mib', type=int, default=1, help='image size (MiB)')
    parser.add_argument('--catalogue', type=int, default=0,
                        help='also seed this many images and report InnoDB bytes per image')
    parser.add_argument('--json', help='also write the rows to this file')
    args = parser.parse_args(argv)
    rows = measure(args)
    print(render(rows))
    result = {'requests': rows}
    if args.catalogue:
        sizes = storage_per_image(args.catalogue)
        result['bytes_per_image'] = sizes
        print('InnoDB bytes per image (data + indexes) at %d images: %s; total %.0f'
              % (args.catalogue, ', '.join('%s %.0f' % kv for kv in sorted(sizes.items())),
                 sum(sizes.values())))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(result, out, indent=1)


if __name__ == '__main__':
    main()
