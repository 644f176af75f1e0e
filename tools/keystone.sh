#!/usr/bin/env bash
# A real Keystone (keystone==30.0.0 under gunicorn, MariaDB) for the keystone-mode tests and
# tempest. One Keystone is shared by every caller; all commands are flock-protected.
#
#   tools/keystone.sh start              build the venv once, start if not running; the last
#                                        stdout line is KEYSTONE_URL=http://127.0.0.1:PORT
#   tools/keystone.sh stop               stop it
#   tools/keystone.sh url                print the URL; exit 0 only if it is running
#   tools/keystone.sh register IMAGE_URL [REGION]
#                                        (re)point the image endpoints of REGION (default
#                                        RegionOne; created if missing) at IMAGE_URL
#   tools/keystone.sh pid                print the gunicorn master pid (= its process group)
#
# State (config, fernet keys, pid, port, log) lives in $GLANCE_CLONE_CACHE/keystone/
# (default ~/.cache/glance-clone), the venv in $GLANCE_CLONE_CACHE/keystone-venv, the data in
# the MariaDB database glance_clone_keystone on 127.0.0.1:3306 (root, no password).
# Port: $KEYSTONE_PORT, else a free port picked at first start and remembered.
# Accounts (domain Default, password "secret"): admin (project admin: admin), glance
# (project service: admin, service), demo and alt_demo (own project: member, reader),
# demo_reader (project demo: reader).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
KVENV="$CACHE/keystone-venv"
STATE="$CACHE/keystone"
HOST=127.0.0.1
DB_NAME=glance_clone_keystone
DB_URL="mysql+pymysql://root@$HOST:3306/$DB_NAME?charset=utf8"
PASSWORD=secret
MARKER=glance-clone-keystone
KEYSTONE_VERSION=30.0.0

log() { echo "[keystone.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "keystone.sh: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# running -> 0 if the pid file names a live gunicorn of ours that answers on the saved port.
running() {
    local pid port
    [ -s "$STATE/keystone.pid" ] && [ -s "$STATE/port" ] || return 1
    pid="$(cat "$STATE/keystone.pid")"
    port="$(cat "$STATE/port")"
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER" || return 1
    curl -sf -o /dev/null -m 5 "http://$HOST:$port/v3"
}

free_port() {
    "$KVENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

build_venv() {
    [ -f "$KVENV/.installed-$KEYSTONE_VERSION" ] && return 0
    log "building $KVENV (keystone==$KEYSTONE_VERSION; takes minutes the first time)"
    [ -x "$KVENV/bin/python" ] || python3 -m venv "$KVENV" >&2 \
        || die "pip could not install keystone==$KEYSTONE_VERSION: python3 -m venv failed"
    "$KVENV/bin/pip" install -q --disable-pip-version-check \
        "keystone==$KEYSTONE_VERSION" gunicorn pymysql >&2 \
        || die "pip could not install keystone==$KEYSTONE_VERSION into $KVENV"
    touch "$KVENV/.installed-$KEYSTONE_VERSION"
}

ensure_mariadb() {
    if ! port_busy 3306; then
        log "MariaDB not answering on $HOST:3306; running tools/ensure-services.sh"
        bash "$ROOT/tools/ensure-services.sh" >&2 || die "MariaDB is not reachable on $HOST:3306"
    fi
    local new
    new="$("$KVENV/bin/python" - "$DB_NAME" <<'PY'
import sys
import pymysql
c = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')
cur = c.cursor()
if not cur.execute('SHOW DATABASES LIKE %s', (sys.argv[1],)):
    cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8' % sys.argv[1])
    print('new')
c.close()
PY
)" || die "cannot create database $DB_NAME"
    # A new (e.g. dropped) database needs db_sync + bootstrap again.
    [ "$new" != new ] || rm -f "$STATE/bootstrapped"
}

write_files() {
    mkdir -p "$STATE/etc" "$STATE/fernet-keys" "$STATE/credential-keys" "$STATE/locks"
    cat > "$STATE/etc/keystone.conf" <<EOF
# Written by tools/keystone.sh on each start.
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = $DB_URL

[token]
provider = fernet

[fernet_tokens]
key_repository = $STATE/fernet-keys

[fernet_receipts]
key_repository = $STATE/fernet-keys

[credential]
key_repository = $STATE/credential-keys

[oslo_concurrency]
lock_path = $STATE/locks
EOF
    # keystone's WSGI entry lets oslo.config parse sys.argv, which under gunicorn holds
    # gunicorn's own arguments: reset argv before importing it.
    cat > "$STATE/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
    cat > "$STATE/register.py" <<'PY'
"""Idempotent accounts / image endpoints.

usage: register.py KEYSTONE_URL PASSWORD [IMAGE_URL [REGION]]
"""
import sys

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

url, pw = sys.argv[1], sys.argv[2]
image_url = sys.argv[3] if len(sys.argv) > 3 else None
region = sys.argv[4] if len(sys.argv) > 4 else 'RegionOne'
base = url + '/v3'
s = ks_session.Session(auth=v3.Password(
    auth_url=base, username='admin', password=pw, project_name='admin',
    user_domain_id='default', project_domain_id='default'))


def get(path, **params):
    return s.get(base + path, params=params).json()


def post(path, body):
    return s.post(base + path, json=body).json()


def one(coll, **params):
    items = get('/' + coll, **params)[coll]
    return items[0] if items else None


def ensure_account(uname, pname, roles):
    proj = one('projects', name=pname, domain_id='default') or post(
        '/projects', {'project': {'name': pname, 'domain_id': 'default'}})['project']
    user = one('users', name=uname, domain_id='default')
    if user is None:
        user = post('/users', {'user': {'name': uname, 'password': pw, 'domain_id': 'default',
                                        'default_project_id': proj['id']}})['user']
    for rn in roles:
        s.put(base + '/projects/%s/users/%s/roles/%s' % (proj['id'], user['id'], role[rn]))


if image_url is None:
    role = {r['name']: r['id'] for r in get('/roles')['roles']}
    for rn in ('admin', 'member', 'reader', 'service'):
        if rn not in role:
            role[rn] = post('/roles', {'role': {'name': rn}})['role']['id']
    ensure_account('glance', 'service', ['admin', 'service'])
    ensure_account('demo', 'demo', ['member', 'reader'])
    ensure_account('alt_demo', 'alt_demo', ['member', 'reader'])
    ensure_account('demo_reader', 'demo', ['reader'])
    sys.exit(0)

svc = one('services', type='image') or post('/services', {'service': {
    'name': 'glance', 'type': 'image', 'description': 'OpenStack Image'}})['service']
if s.get(base + '/regions/' + region, raise_exc=False).status_code == 404:
    post('/regions', {'region': {'id': region}})
# Only this region's endpoints: another region may point at another api (the Horizon tests').
for iface in ('public', 'internal', 'admin'):
    eps = [ep for ep in get('/endpoints', service_id=svc['id'], interface=iface)['endpoints']
           if ep.get('region_id') == region]
    for ep in eps[1:]:
        s.delete(base + '/endpoints/' + ep['id'])
    if not eps:
        post('/endpoints', {'endpoint': {'service_id': svc['id'], 'interface': iface,
                                         'url': image_url, 'region_id': region}})
    elif eps[0]['url'] != image_url:
        s.patch(base + '/endpoints/' + eps[0]['id'], json={'endpoint': {'url': image_url}})
PY
}

do_start() {
    if running; then
        echo "KEYSTONE_URL=http://$HOST:$(cat "$STATE/port")"
        return 0
    fi
    build_venv
    ensure_mariadb
    write_files
    local port km pid
    # A stale pid file (process gone or not ours) is dropped; a process of ours that is alive
    # but does not answer is stopped first.
    do_stop_quiet
    port="${KEYSTONE_PORT:-}"
    if [ -z "$port" ]; then
        port="$(cat "$STATE/port" 2>/dev/null || true)"
        if [ -z "$port" ] || port_busy "$port"; then port="$(free_port)"; fi
    fi
    port_busy "$port" && die "port $port on $HOST is already in use"
    echo "$port" > "$STATE/port"
    km="$KVENV/bin/keystone-manage --config-file $STATE/etc/keystone.conf"
    if [ ! -s "$STATE/fernet-keys/0" ]; then
        log "fernet_setup / credential_setup"
        $km fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >&2
        $km credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >&2
    fi
    # db_sync once per (database, URL); bootstrap on every start: it also points the
    # identity endpoints at this URL, and another state directory (GLANCE_CLONE_CACHE)
    # sharing the database may have pointed them at its own port meanwhile, which made
    # keystonemiddleware validate tokens against a Keystone that is not there.
    if [ "$(cat "$STATE/bootstrapped" 2>/dev/null || true)" != "$DB_URL http://$HOST:$port" ]; then
        log "db_sync"
        $km db_sync >&2
        rm -f "$STATE/registered"
    fi
    log "bootstrap (admin account, identity endpoints at http://$HOST:$port/v3)"
    $km bootstrap --bootstrap-password "$PASSWORD" \
        --bootstrap-username admin --bootstrap-project-name admin \
        --bootstrap-role-name admin --bootstrap-service-name keystone \
        --bootstrap-region-id RegionOne \
        --bootstrap-admin-url "http://$HOST:$port/v3" \
        --bootstrap-public-url "http://$HOST:$port/v3" \
        --bootstrap-internal-url "http://$HOST:$port/v3" >&2
    echo "$DB_URL http://$HOST:$port" > "$STATE/bootstrapped"
    local nocs=""
    "$KVENV/bin/gunicorn" --help 2>/dev/null | grep -q -- '--no-control-socket' \
        && nocs="--no-control-socket"
    log "starting keystone on http://$HOST:$port (log $STATE/keystone.log)"
    # setsid: its own process group (pgid = master pid); exec keeps the pid we record.
    (cd "$STATE" && export OS_KEYSTONE_CONFIG_DIR="$STATE/etc" && exec setsid \
        "$KVENV/bin/gunicorn" --bind "$HOST:$port" --workers 2 --threads 4 \
            --worker-class gthread --timeout 300 --graceful-timeout 5 --name "$MARKER" \
            $nocs --pythonpath "$STATE" keystone_wsgi:application \
        >> "$STATE/keystone.log" 2>&1 < /dev/null 9>&-) &
    pid=$!
    echo "$pid" > "$STATE/keystone.pid"
    for _ in $(seq 1 240); do
        curl -sf -o /dev/null -m 2 "http://$HOST:$port/v3" && break
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$STATE/keystone.log" >&2; die "keystone exited"; }
        sleep 0.5
    done
    running || { tail -n 30 "$STATE/keystone.log" >&2; die "keystone did not answer on port $port"; }
    if [ ! -f "$STATE/registered" ]; then
        log "creating roles and accounts"
        "$KVENV/bin/python" "$STATE/register.py" "http://$HOST:$port" "$PASSWORD" >&2
        touch "$STATE/registered"
    fi
    echo "KEYSTONE_URL=http://$HOST:$port"
}

do_stop_quiet() {
    local pid
    [ -s "$STATE/keystone.pid" ] || return 0
    pid="$(cat "$STATE/keystone.pid")"
    if kill -0 "$pid" 2>/dev/null \
            && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER"; then
        kill -CONT -- "-$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/keystone.pid"
}

mkdir -p "$CACHE" "$STATE"
case "${1:-}" in
    url) running && echo "http://$HOST:$(cat "$STATE/port")"; exit ;;
    pid) running && cat "$STATE/keystone.pid"; exit ;;
esac
exec 9>"$CACHE/keystone.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    stop) do_stop_quiet ;;
    register)
        [ -n "${2:-}" ] || die "usage: $0 register IMAGE_URL [REGION]"
        running || die "keystone is not running (tools/keystone.sh start)"
        write_files   # a Keystone started by an older copy of this script has an older script
        "$KVENV/bin/python" "$STATE/register.py" "http://$HOST:$(cat "$STATE/port")" \
            "$PASSWORD" "$2" "${3:-RegionOne}" >&2
        ;;
    *) die "usage: $0 start|stop|url|pid|register IMAGE_URL [REGION]" ;;
esac
