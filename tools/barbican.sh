#!/usr/bin/env bash
# A real Barbican (PyPI barbican under gunicorn, MariaDB, Keystone auth, the simple_crypto
# plugin) holding the certificates of signed images. It uses the Keystone of tools/keystone.sh
# (started if needed) and registers itself there as the key-manager service (RegionOne).
#
#   tools/barbican.sh start   build the venv once, start if not running; the last stdout
#                             line is BARBICAN_URL=http://127.0.0.1:PORT
#   tools/barbican.sh stop    stop it
#   tools/barbican.sh url     print the URL; exit 0 only if it is running
#
# State (config, pid, port, log) lives in $GLANCE_CLONE_CACHE/barbican/ (default
# ~/.cache/glance-clone), the venv in $GLANCE_CLONE_CACHE/barbican-venv, the data in the MariaDB
# database glance_clone_barbican on 127.0.0.1:3306 (root, no password).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
BVENV="$CACHE/barbican-venv"
STATE="$CACHE/barbican"
HOST=127.0.0.1
DB_NAME=glance_clone_barbican
MARKER=glance-clone-barbican
BARBICAN_VERSION=23.0.0

log() { echo "[barbican.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "barbican.sh: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

running() {
    local pid port
    [ -s "$STATE/barbican.pid" ] && [ -s "$STATE/port" ] || return 1
    pid="$(cat "$STATE/barbican.pid")"
    port="$(cat "$STATE/port")"
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER" || return 1
    curl -s -o /dev/null -m 5 "http://$HOST:$port/"
}

build_venv() {
    [ -f "$BVENV/.installed-$BARBICAN_VERSION" ] && return 0
    log "building $BVENV (barbican==$BARBICAN_VERSION; takes minutes the first time)"
    [ -x "$BVENV/bin/python" ] || python3 -m venv "$BVENV" >&2 || die "python3 -m venv failed"
    "$BVENV/bin/pip" install -q --disable-pip-version-check \
        "barbican==$BARBICAN_VERSION" gunicorn pymysql >&2 \
        || die "pip could not install barbican==$BARBICAN_VERSION into $BVENV"
    touch "$BVENV/.installed-$BARBICAN_VERSION"
}

ensure_db() {
    "$BVENV/bin/python" - "$DB_NAME" <<'PY' || die "cannot create database $DB_NAME"
import sys
import pymysql
c = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')
c.cursor().execute('CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8' % sys.argv[1])
c.close()
PY
}

kek_ok() { grep -qE '^[A-Za-z0-9_-]{43}=$' "$STATE/kek" 2>/dev/null; }

write_files() {
    local ks="$1" port="$2" kek
    mkdir -p "$STATE/home/.barbican"
    # simple_crypto hands the KEK to Fernet, which takes URL-safe base64 only: a key made
    # with "+" or "/" (as this script once made them, 3 times in 4) fails every secret
    # with a 500 "Secret creation failure"; such a key never stored one, so it is replaced.
    kek_ok || "$BVENV/bin/python" -c \
        'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' \
        > "$STATE/kek"
    kek="$(cat "$STATE/kek")"
    # barbican parses its configuration when imported, from the default places
    # (~/.barbican/barbican.conf first): HOME points at the state directory.
    cat > "$STATE/home/.barbican/barbican.conf" <<EOF
# Written by tools/barbican.sh on each start.
[DEFAULT]
sql_connection = mysql+pymysql://root@$HOST:3306/$DB_NAME?charset=utf8
db_auto_create = True
host_href = http://$HOST:$port
use_stderr = true

[secretstore]
enabled_secretstore_plugins = store_crypto

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = $kek

[keystone_authtoken]
www_authenticate_uri = $ks/v3
auth_url = $ks/v3
auth_type = password
username = glance
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
EOF
    sed -e 's#^audit_map_file.*##' "$BVENV/etc/barbican/barbican-api-paste.ini" \
        > "$STATE/barbican-api-paste.ini"
    cat > "$STATE/barbican_wsgi.py" <<EOF
import sys
sys.argv = sys.argv[:1]
from paste import deploy  # noqa: E402
application = deploy.loadapp('config:$STATE/barbican-api-paste.ini')
EOF
    cat > "$STATE/register.py" <<'PY'
"""Idempotent key-manager service and endpoints. usage: register.py KEYSTONE_URL URL"""
import sys

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

base, url = sys.argv[1] + '/v3', sys.argv[2]
s = ks_session.Session(auth=v3.Password(
    auth_url=base, username='admin', password='secret', project_name='admin',
    user_domain_id='default', project_domain_id='default'))
svcs = s.get(base + '/services', params={'type': 'key-manager'}).json()['services']
svc = svcs[0] if svcs else s.post(base + '/services', json={'service': {
    'name': 'barbican', 'type': 'key-manager'}}).json()['service']
for iface in ('public', 'internal', 'admin'):
    eps = s.get(base + '/endpoints',
                params={'service_id': svc['id'], 'interface': iface}).json()['endpoints']
    for ep in eps:
        s.delete(base + '/endpoints/' + ep['id'])
    s.post(base + '/endpoints', json={'endpoint': {
        'service_id': svc['id'], 'interface': iface, 'url': url, 'region_id': 'RegionOne'}})
# secrets are created by users with the "creator" role in Barbican's legacy rules
roles = {r['name']: r['id'] for r in s.get(base + '/roles').json()['roles']}
if 'creator' not in roles:
    roles['creator'] = s.post(base + '/roles', json={'role': {'name': 'creator'}}).json()[
        'role']['id']
PY
}

do_start() {
    if running && kek_ok; then
        echo "BARBICAN_URL=http://$HOST:$(cat "$STATE/port")"
        return 0
    fi
    local ks port pid
    ks="$(bash "$ROOT/tools/keystone.sh" start | tail -n 1 | sed 's/^KEYSTONE_URL=//')"
    build_venv
    ensure_db
    do_stop_quiet
    port="$(cat "$STATE/port" 2>/dev/null || true)"
    if [ -z "$port" ] || port_busy "$port"; then
        port="$("$BVENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fi
    echo "$port" > "$STATE/port"
    write_files "$ks" "$port"
    log "starting barbican on http://$HOST:$port (log $STATE/barbican.log)"
    (cd "$STATE" && export HOME="$STATE/home" && exec setsid \
        "$BVENV/bin/gunicorn" --bind "$HOST:$port" --workers 1 --threads 4 \
            --worker-class gthread --timeout 120 --graceful-timeout 5 --name "$MARKER" \
            --pythonpath "$STATE" barbican_wsgi:application \
        >> "$STATE/barbican.log" 2>&1 < /dev/null 9>&-) &
    pid=$!
    echo "$pid" > "$STATE/barbican.pid"
    for _ in $(seq 1 240); do
        curl -s -o /dev/null -m 2 "http://$HOST:$port/" && break
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$STATE/barbican.log" >&2; die "barbican exited"; }
        sleep 0.5
    done
    running || { tail -n 30 "$STATE/barbican.log" >&2; die "barbican did not answer on $port"; }
    "$CACHE/keystone-venv/bin/python" "$STATE/register.py" "$ks" "http://$HOST:$port" >&2
    echo "BARBICAN_URL=http://$HOST:$port"
}

do_stop_quiet() {
    local pid
    [ -s "$STATE/barbican.pid" ] || return 0
    pid="$(cat "$STATE/barbican.pid")"
    if kill -0 "$pid" 2>/dev/null \
            && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/barbican.pid"
}

mkdir -p "$CACHE" "$STATE"
case "${1:-}" in
    url) running && echo "http://$HOST:$(cat "$STATE/port")"; exit ;;
esac
exec 9>"$CACHE/barbican.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    stop) do_stop_quiet ;;
    *) die "usage: $0 start|stop|url" ;;
esac
