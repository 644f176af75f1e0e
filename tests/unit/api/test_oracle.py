"""Replay request scenarios against real Glance 33.0.0 and this api; answers must match.

Real Glance runs from the scratch venv of tools/glance33-venv.sh (built once, shared with
the DB oracle tests) with a noauth-with-headers paste pipeline, on SQLite in tmp_path.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.unit.api import oracle_scenarios as sc
from tests.unit.api.conftest import Env

pytestmark = pytest.mark.oracle
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PIPELINE = """
[composite:glance-api-headers]
paste.composite_factory = glance.api:root_app_factory
/: apiheaders
/healthcheck: healthcheck

[pipeline:apiheaders]
pipeline = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp
"""
SERVE = """
import os, sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, WSGIRequestHandler, make_server
class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
from glance.wsgi.api import application
make_server('127.0.0.1', int(sys.argv[1]), application, server_class=Server,
            handler_class=Quiet).serve_forever()
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _write_config(venv, etc, tmp_path):
    paste = os.path.join(venv, 'etc', 'glance', 'glance-api-paste.ini')
    with open(paste) as src, open(os.path.join(etc, 'glance-api-paste.ini'), 'w') as dst:
        dst.write(src.read() + PIPELINE)
    with open(os.path.join(etc, 'glance-api.conf'), 'w') as conf:
        conf.write('[database]\nconnection = sqlite:///%s/glance.sqlite\n'
                   '[paste_deploy]\nflavor = headers\nconfig_file = %s/glance-api-paste.ini\n'
                   '[glance_store]\nstores = file,http\ndefault_store = file\n'
                   'filesystem_store_datadir = %s/data\n' % (tmp_path, etc, tmp_path))


@pytest.fixture(scope='module')
def glance33(tmp_path_factory):
    if not shutil.which('bash'):
        pytest.skip('bash is needed to build the Glance 33 venv')
    venv = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'glance33-venv.sh')],
                          capture_output=True, text=True, check=True).stdout.strip()
    tmp_path = tmp_path_factory.mktemp('glance33')
    etc = str(tmp_path / 'etc')
    os.makedirs(etc)
    _write_config(venv, etc, tmp_path)
    subprocess.run([os.path.join(venv, 'bin', 'glance-manage'), '--config-file',
                    os.path.join(etc, 'glance-api.conf'), 'db_sync'],
                   capture_output=True, check=True)
    (tmp_path / 'serve.py').write_text(SERVE)
    port = _free_port()
    log = open(tmp_path / 'glance.log', 'w')
    proc = subprocess.Popen([os.path.join(venv, 'bin', 'python'), '-W', 'ignore',
                             str(tmp_path / 'serve.py'), str(port)],
                            env=dict(os.environ, OS_GLANCE_CONFIG_DIR=etc),
                            stdout=log, stderr=subprocess.STDOUT)
    url = 'http://127.0.0.1:%d' % port
    _wait(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _wait(url, proc):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit('real Glance exited early')
        try:
            requests.get(url + '/', timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError('real Glance did not start')


def _real(url):
    def send(method, path, headers, raw, qs):
        resp = requests.request(method, url + path + ('?' + qs if qs else ''),
                                headers=headers, data=raw, allow_redirects=False)
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.text
    return send


def _mine():
    env = Env(enable_v1_api=False)   # NOTE: Glance 33 has no Images API v1

    def send(method, path, headers, raw, qs):
        resp = env.client.simulate_request(method, path, headers=headers, body=raw,
                                           query_string=qs)
        return resp.status_code, dict(resp.headers), resp.text
    return send


def test_same_answers_as_glance_33(glance33):
    # NOTE: one test (not parametrized) so that xdist starts a single real Glance.
    diffs = []
    for scenario in (sc.list_scenario, sc.images_scenario):
        real = scenario(sc.Recorder(_real(glance33)))
        mine = scenario(sc.Recorder(_mine()))
        diffs += [(a, b) for a, b in zip(real, mine, strict=True) if a != b]
    assert not diffs, '\n'.join('real %r\nmine %r' % pair for pair in diffs)
