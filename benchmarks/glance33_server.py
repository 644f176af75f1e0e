"""Serve real Glance 33.0.0 on 127.0.0.1 as the bench's ``--reference``: MariaDB, file store,
no authtoken, under gunicorn (2 workers × 4 threads by default); with ``--keystone``
authtoken stays, configured as the bench's keystone stacks of this service are.

    .venv/bin/python benchmarks/glance33_server.py --port 9393     # Ctrl-C stops it
    .venv/bin/python benchmarks/glance33_server.py --port 9394 --keystone

Glance 33 comes from the scratch venv the tests' oracle builds (tools/glance33-venv.sh:
``pip install glance==33.0.0``); gunicorn is added to that venv the first time. Glance 33 has
no standalone glance-api, so gunicorn serves ``glance.wsgi.api:application`` with the paste
pipeline of `flavor = keystone` minus `authtoken`, as tests/functional/glance33_oracle.py
does: the identity headers the bench sends (http_load.ADMIN_HEADERS) act as a token's. The
database is created with Glance's own `glance-manage db_sync` and dropped at exit, with the
configuration, images and logs (in a temporary directory).
"""

import argparse
import pathlib
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from benchmarks import stacks  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
API_CONF = """\
[DEFAULT]
node_staging_uri = file://{root}/staging
log_file = {root}/glance33.log

[database]
connection = {db_url}

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {root}/images

[paste_deploy]
flavor = keystone

[oslo_concurrency]
lock_path = {root}/locks
"""
AUTHTOKEN_PIPELINE = ('keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler '
                      'authtoken context rootapp')


def glance33_venv():
    """Return the Glance 33 venv (built once by tools/glance33-venv.sh), with gunicorn."""
    proc = subprocess.run(['bash', str(REPO / 'tools' / 'glance33-venv.sh')],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit('tools/glance33-venv.sh failed:\n' + proc.stderr[-2000:])
    venv = pathlib.Path(proc.stdout.strip().splitlines()[-1])
    if not (venv / 'bin' / 'gunicorn').exists():
        subprocess.run([str(venv / 'bin' / 'pip'), 'install', '-q',
                        '--disable-pip-version-check', 'gunicorn'], check=True, timeout=600)
    return venv


def write_config(venv, root, db_url, keystone_url=None):
    """Write glance-api.conf and the paste file, without authtoken unless ``keystone_url``
    is given (then with the install guide's `[keystone_authtoken]`, as the bench's keystone
    stacks of this service have it); return the directory."""
    confdir = root / 'etc'
    confdir.mkdir()
    paste = (venv / 'etc' / 'glance' / 'glance-api-paste.ini').read_text()
    if AUTHTOKEN_PIPELINE not in paste:
        raise SystemExit("Glance's paste file changed; update benchmarks/glance33_server.py")
    conf = API_CONF.format(root=root, db_url=db_url)
    if keystone_url:
        from benchmarks import bench_keystone
        conf += '\n' + bench_keystone.authtoken_section('glance-api.conf', keystone_url)
    else:
        paste = paste.replace(AUTHTOKEN_PIPELINE, AUTHTOKEN_PIPELINE.replace(' authtoken', ''))
    (confdir / 'glance-api-paste.ini').write_text(paste)
    (confdir / 'glance-api.conf').write_text(conf)
    return confdir


def serve(args):
    """Run Glance 33 until SIGINT or SIGTERM."""
    venv = glance33_venv()
    with tempfile.TemporaryDirectory(prefix='glance33-bench-') as tmp, \
            stacks.mariadb_database('glance33_bench') as db_url:
        root = pathlib.Path(tmp)
        keystone_url = None
        if args.keystone:
            from benchmarks import bench_keystone
            keystone_url = bench_keystone.keystone_url()
        confdir = write_config(venv, root, db_url, keystone_url)
        subprocess.run([str(venv / 'bin' / 'glance-manage'), '--config-file',
                        str(confdir / 'glance-api.conf'), 'db_sync'], check=True, cwd=root,
                       capture_output=True, timeout=600)
        env = {'OS_GLANCE_CONFIG_DIR': str(confdir), 'PATH': '/usr/bin:/bin'}
        cmd = [str(venv / 'bin' / 'gunicorn'), '--bind', '127.0.0.1:%d' % args.port,
               '--workers', str(args.workers), '--threads', str(args.threads),
               '--worker-class', 'gthread', '--timeout', '300',
               '--error-logfile', str(root / 'gunicorn.log'), 'glance.wsgi.api:application']
        proc = subprocess.Popen(cmd, cwd=root, env=env, start_new_session=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        try:
            stacks.wait_ready(proc, 'http://127.0.0.1:%d' % args.port, root / 'gunicorn.log')
            print('GLANCE33_URL=http://127.0.0.1:%d' % args.port, flush=True)
            proc.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stacks.stop_process(proc)


def main(argv=None):
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=int, default=9393)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--keystone', action='store_true',
                        help="keep authtoken, against tools/keystone.sh's Keystone (the "
                             "bench's --reference-keystone)")
    serve(parser.parse_args(argv))


if __name__ == '__main__':
    main()
