"""Keystone mode of the bench: the same service with `flavor = keystone`, against the real
Keystone of tools/keystone.sh, with keystonemiddleware's token cache in each worker and then
shared through memcached.

The stacks' `[keystone_authtoken]` sections are the install guides' own text
(etc/install-guide/), filled in as tests/functional/keystone does; `memcached_servers`
points at a memcached this module starts on a loopback port (installed with apt-get when
missing) or is left out. The caller is the Keystone `admin` account, which sees every image,
as the no-auth figures' admin headers do.
"""

import contextlib
import json
import pathlib
import re
import shutil
import subprocess
import time
import urllib.request

from benchmarks import stacks

REPO = pathlib.Path(__file__).resolve().parent.parent
KEYSTONE_SH = REPO / 'tools' / 'keystone.sh'
GUIDES = REPO / 'etc' / 'install-guide'
PASSWORD = 'secret'   # the accounts of tools/keystone.sh
FLAVOR = '\n[paste_deploy]\nflavor = keystone\n\n'


def keystone_url():
    """Start (or find) the Keystone of tools/keystone.sh; return its URL."""
    proc = subprocess.run(['bash', str(KEYSTONE_SH), 'start'], capture_output=True,
                          text=True, timeout=1800)
    last = (proc.stdout.strip().splitlines() or [''])[-1]
    if proc.returncode != 0 or not last.startswith('KEYSTONE_URL='):
        raise SystemExit('tools/keystone.sh start failed:\n' + proc.stderr[-2000:])
    return last.split('=', 1)[1]


def issue_token(url, user='admin', project='admin'):
    """Return a project-scoped token of ``user``."""
    body = {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'name': 'Default'}, 'password': PASSWORD}}},
        'scope': {'project': {'name': project, 'domain': {'name': 'Default'}}}}}
    req = urllib.request.Request(url + '/v3/auth/tokens', data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.headers['X-Subject-Token']


def authtoken_section(guide, url, memcached=None):
    """Return the guide's `[keystone_authtoken]` section for Keystone at ``url``."""
    text = (GUIDES / guide).read_text()
    section = re.search(r'^\[keystone_authtoken\]\n(.*?)(?=^\[|\Z)', text,
                        re.M | re.S).group(0)
    section = section.replace('http://controller:5000', url).replace('GLANCE_PASS', PASSWORD)
    lines = []
    for line in section.splitlines(True):
        if line.startswith('memcached_servers'):
            if memcached is None:
                continue
            line = 'memcached_servers = %s\n' % memcached
        lines.append(line)
    return ''.join(lines)


def keystone_stack(root, db_url, url, name, memcached=None):
    """Return a Stack of this service with `flavor = keystone` on both services."""
    return stacks.Stack(
        root, db_url, name,
        api_extra=FLAVOR + authtoken_section('glance-api.conf', url, memcached),
        registry_extra=FLAVOR + authtoken_section('glance-registry.conf', url, memcached))


@contextlib.contextmanager
def memcached():
    """Run a memcached on a free loopback port for the with-block; yield 'host:port'."""
    binary = shutil.which('memcached')
    if binary is None:
        subprocess.run(['apt-get', 'install', '-y', '-q', 'memcached'], check=True,
                       capture_output=True, timeout=600)
        binary = shutil.which('memcached')
    port = stacks.free_port()
    # NOTE: -U 0: no UDP listener; run as the current user (root needs -u).
    proc = subprocess.Popen([binary, '-l', '127.0.0.1', '-p', str(port), '-U', '0',
                             '-m', '64', '-u', 'nobody'], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        if proc.poll() is not None:
            raise SystemExit('memcached exited at start (%s)' % proc.returncode)
        yield '127.0.0.1:%d' % port
    finally:
        stacks.stop_process(proc, timeout=10)
