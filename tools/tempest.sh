#!/usr/bin/env bash
# `make tempest`: tempest's image API tests (tempest==47.0.0) against this service with a real
# Keystone (tools/keystone.sh).
#
# Builds once a tempest venv in $GLANCE_CLONE_CACHE/tempest-venv (default ~/.cache/glance-clone),
# recreates the MariaDB database glance_clone_tempest (127.0.0.1:3306, root) and syncs it,
# starts glance-registry and glance-api from $VENV/bin on free 127.0.0.1 ports with
# `[paste_deploy] flavor = keystone` and the install guide's [keystone_authtoken] (user glance,
# project service, password secret) in both, stores `fast:file, slow:file, web:http`
# (default fast), points Keystone's image endpoints at the api, writes tempest.conf and runs
#   tempest run --regex "$TEMPEST_REGEX" --concurrency "$TEMPEST_CONCURRENCY"
# It prints passed/failed/skipped per test module and, last, `passed N failed N skipped N`.
# Exit status: non-zero when a test failed (or the set-up did). Our processes are stopped on
# exit; Keystone is stopped too unless it was already running.
#
# NOTE: Keystone is shared: the image endpoint is re-pointed only under the image-catalog
# lock, which this run holds from its registration to its end.
#
# Env: TEMPEST_REGEX (default ^tempest.api.image), TEMPEST_CONCURRENCY (2),
#      TEMPEST_BUILD_TIMEOUT (seconds tempest waits for an image status, 60),
#      TEMPEST_FORMAT_ENFORCEMENT (1: uploads are inspected and a disk_format the data does
#        not match is refused, as in Glance 33, so tempest must not upload bogus data),
#      TEMPEST_IMAGE_CACHING (1: image_cache_dir and flavor keystone+cachemanagement, and
#      tempest's cache test runs, as in the reference Glance run),
#      TEMPEST_MANAGE_LOCATIONS (0; 1 sets show_multiple_locations = True in glance-api.conf
#        and runs tempest's location PATCH tests),
#      VENV (.venv), RUN_DIR (.run; configs, logs and the tempest workspace go to
#      $RUN_DIR/tempest/), GLANCE_CLONE_CACHE.
#      `tools/tempest.sh venv` only builds the tempest venv and prints its directory.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
TVENV="$CACHE/tempest-venv"
TEMPEST_VERSION=47.0.0
HOST=127.0.0.1
PASSWORD=secret
DB_NAME=glance_clone_tempest
DB_URL="mysql+pymysql://root@$HOST:3306/$DB_NAME?charset=utf8"
REGEX="${TEMPEST_REGEX:-^tempest.api.image}"
CONCURRENCY="${TEMPEST_CONCURRENCY:-2}"
VENV="${VENV:-.venv}"
RUN_DIR="${RUN_DIR:-.run}"

log() { echo "[tempest.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "tempest.sh: $*" >&2; exit 2; }

build_venv() {
    mkdir -p "$CACHE"
    [ -f "$TVENV/.installed-$TEMPEST_VERSION" ] && return 0
    # NOTE: a lock keeps two runs from building the same venv at once.
    (
        flock 8
        [ -f "$TVENV/.installed-$TEMPEST_VERSION" ] && exit 0
        log "building $TVENV (tempest==$TEMPEST_VERSION)"
        [ -x "$TVENV/bin/python" ] || python3 -m venv "$TVENV" >&2 || exit 1
        "$TVENV/bin/pip" install -q --disable-pip-version-check "tempest==$TEMPEST_VERSION" \
            2>&1 | grep -v 'is ignored: it is neither' >&2
        "$TVENV/bin/python" -c 'import tempest' || exit 1
        touch "$TVENV/.installed-$TEMPEST_VERSION"
    ) 8>"$TVENV.lock" || die "could not install tempest==$TEMPEST_VERSION into $TVENV"
}

build_venv
if [ "${1:-}" = venv ]; then echo "$TVENV"; exit 0; fi
[ $# -eq 0 ] || die "usage: $0 [venv]"

BIN="$(cd "$VENV/bin" 2>/dev/null && pwd)" || die "no $VENV/bin (run make install)"
[ -x "$BIN/glance-api" ] || die "$BIN/glance-api missing (run make install)"
OUT="$(mkdir -p "$RUN_DIR/tempest" && cd "$RUN_DIR/tempest" && pwd)"
WS="$OUT/workspace"
# NOTE: a fresh stestr repository, so the summary never shows an earlier run's results.
rm -rf "$OUT/images" "$OUT/www" "$OUT"/*.log "$WS/.stestr"
mkdir -p "$OUT/images/fast" "$OUT/images/slow" "$OUT/www" "$WS/etc" "$WS/logs"

free_port() {
    "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PIDS=()
KEYSTONE_WAS_RUNNING=1
cleanup() {
    local pid
    trap - INT TERM EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$KEYSTONE_WAS_RUNNING" = 0 ]; then
        log "stopping keystone (it was not running before)"
        bash tools/keystone.sh stop || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Keystone
bash tools/ensure-services.sh || die "MariaDB is not reachable on $HOST:3306"
if ! bash tools/keystone.sh url >/dev/null 2>&1; then KEYSTONE_WAS_RUNNING=0; fi
KEYSTONE_URL="$(bash tools/keystone.sh start | sed -n 's/^KEYSTONE_URL=//p' | tail -n 1)"
[ -n "$KEYSTONE_URL" ] || die "tools/keystone.sh start gave no KEYSTONE_URL"
log "keystone at $KEYSTONE_URL"

# --- database
"$BIN/python" - "$DB_NAME" <<'PY' || die "cannot recreate database $DB_NAME"
import sys
import pymysql
conn = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')
with conn.cursor() as cur:
    cur.execute('DROP DATABASE IF EXISTS `%s`' % sys.argv[1])
    cur.execute('CREATE DATABASE `%s` CHARACTER SET utf8' % sys.argv[1])
conn.close()
PY

# --- configs
API_PORT="$(free_port)"
REG_PORT="$(free_port)"
WWW_PORT="$(free_port)"
API_URL="http://$HOST:$API_PORT"
MEMCACHED=""
if (exec 3<>"/dev/tcp/$HOST/11211") 2>/dev/null; then MEMCACHED="memcached_servers = $HOST:11211"; fi
authtoken() {
    cat <<EOF

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
$MEMCACHED
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = $PASSWORD

[paste_deploy]
flavor = ${1:-keystone}
EOF
}
{
    cat <<EOF
# Written by tools/tempest.sh on each run.
[DEFAULT]
bind_host = $HOST
bind_port = $REG_PORT
workers = 2

[database]
connection = $DB_URL
EOF
    authtoken
} > "$OUT/glance-registry.conf"
{
    cat <<EOF
# Written by tools/tempest.sh on each run.
[DEFAULT]
bind_host = $HOST
bind_port = $API_PORT
workers = 2
registry_host = $HOST
registry_port = $REG_PORT
enabled_backends = fast:file, slow:file, web:http

[database]
connection = $DB_URL

[glance_store]
default_backend = fast

[fast]
filesystem_store_datadir = $OUT/images/fast
store_description = Fast file store (default)

[slow]
filesystem_store_datadir = $OUT/images/slow
store_description = Slow file store

[web]
store_description = Read-only http store

[DEFAULT]
# Interoperable import, as the reference Glance run had it.
enabled_import_methods = [glance-direct,web-download,copy-image]
worker_self_reference_url = http://$HOST:$API_PORT

[os_glance_staging_store]
filesystem_store_datadir = $OUT/images/staging

[import_filtering_opts]
# The location tests fetch from the web server below, on loopback (the reference Glance
# set-up allowed it the same way); Glance refuses loopback hosts by default.
allowed_hosts = [$HOST]
allowed_ports = [80,443,$WWW_PORT]
EOF
    if [ "${TEMPEST_MANAGE_LOCATIONS:-0}" = 1 ]; then
        printf '\n[DEFAULT]\nshow_multiple_locations = True\n'
    fi
    if [ "${TEMPEST_IMAGE_CACHING:-1}" = 1 ]; then
        # NOTE: the image cache and its API, as the reference Glance run had them.
        printf '\n[DEFAULT]\nimage_cache_dir = %s\n' "$OUT/cache"
        authtoken keystone+cachemanagement
    else
        authtoken
    fi
} > "$OUT/glance-api.conf"

"$BIN/glance-manage" --config-file "$OUT/glance-registry.conf" db sync \
    > "$OUT/glance-manage.log" 2>&1 || { cat "$OUT/glance-manage.log" >&2; die "db sync failed"; }
# NOTE: devstack loads Glance's metadef files after the sync; tempest's metadef tests pick
# one of the resource types they create. These are four of Glance's own files.
"$BIN/glance-manage" --config-file "$OUT/glance-registry.conf" db load_metadefs \
    --path "$ROOT/tests/fixtures/metadefs" >> "$OUT/glance-manage.log" 2>&1 \
    || { cat "$OUT/glance-manage.log" >&2; die "db load_metadefs failed"; }

# --- processes
wait_http() {  # NAME URL PID LOG
    for _ in $(seq 1 300); do
        if ! kill -0 "$3" 2>/dev/null; then
            tail -n 30 "$4" >&2
            die "$1 exited during start-up"
        fi
        curl -s -o /dev/null -m 2 "$2" && return 0
        sleep 0.2
    done
    die "$1 did not answer at $2 in 60 s"
}
"$BIN/glance-registry" --config-file "$OUT/glance-registry.conf" \
    > "$OUT/glance-registry.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_http glance-registry "http://$HOST:$REG_PORT/healthcheck" $! "$OUT/glance-registry.log"
"$BIN/glance-api" --config-file "$OUT/glance-api.conf" > "$OUT/glance-api.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_http glance-api "$API_URL/healthcheck" $! "$OUT/glance-api.log"
# A static web server for the http-store / location tests.
head -c 1048576 /dev/urandom > "$OUT/www/cirros.raw"
tar -C "$OUT/www" -czf "$OUT/www/cirros-uec.tar.gz" cirros.raw
# NOTE: a real qcow2 (the web-download import test declares qcow2 and the format inspection
# refuses raw bytes under that name, as Glance's does); a copy only without qemu-img.
qemu-img convert -f raw -O qcow2 "$OUT/www/cirros.raw" "$OUT/www/cirros.qcow2" 2>/dev/null \
    || cp "$OUT/www/cirros.raw" "$OUT/www/cirros.qcow2"
"$BIN/python" -m http.server --bind "$HOST" --directory "$OUT/www" "$WWW_PORT" \
    > "$OUT/www.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_http www "http://$HOST:$WWW_PORT/" $! "$OUT/www.log"
log "glance-api at $API_URL (registry :$REG_PORT); configs and logs in $OUT"

# The catalog's image endpoint is shared: hold the machine-wide image-catalog lock (as the
# tests that point it somewhere do) until this run ends.
CATALOG_LOCK="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}/image-catalog.lock"
mkdir -p "$(dirname "$CATALOG_LOCK")"
exec 7>"$CATALOG_LOCK"
log "waiting for the image-catalog lock"
flock 7
bash tools/keystone.sh register "$API_URL" || die "could not register $API_URL in keystone"

# --- tempest
flag() { if [ "$1" = 1 ]; then echo true; else echo false; fi; }
cat > "$WS/etc/tempest.conf" <<EOF
# Written by tools/tempest.sh on each run.
[DEFAULT]
log_dir = $WS/logs
log_file = tempest.log

[auth]
admin_username = admin
admin_password = $PASSWORD
admin_project_name = admin
admin_domain_name = Default
use_dynamic_credentials = true
create_isolated_networks = false

[identity]
uri_v3 = $KEYSTONE_URL/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public
admin_role = admin

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
glance = true
nova = false
cinder = false
neutron = false
swift = false
horizon = false

[image]
catalog_type = image
region = RegionOne
endpoint_type = public
build_timeout = ${TEMPEST_BUILD_TIMEOUT:-60}
build_interval = 1
http_image = http://$HOST:$WWW_PORT/cirros-uec.tar.gz
http_qcow2_image = http://$HOST:$WWW_PORT/cirros.qcow2
image_caching_enabled = $(flag "${TEMPEST_IMAGE_CACHING:-1}")

[image-feature-enabled]
api_v2 = true
import_image = $(flag "${TEMPEST_IMPORT_IMAGE:-1}")
os_glance_reserved = true
manage_locations = $(flag "${TEMPEST_MANAGE_LOCATIONS:-0}")
image_conversion = false
image_format_enforcement = $(flag "${TEMPEST_FORMAT_ENFORCEMENT:-1}")
do_secure_hash = true
http_store_enabled = true

[enforce_scope]
glance = true
keystone = true

[validation]
run_validation = false
EOF

log "tempest run --regex '$REGEX' --concurrency $CONCURRENCY (output: $OUT/tempest.log)"
start=$(date +%s)
(cd "$WS" && "$TVENV/bin/tempest" run --config-file "$WS/etc/tempest.conf" \
    --regex "$REGEX" --concurrency "$CONCURRENCY") > "$OUT/tempest.log" 2>&1
rc=$?
log "tempest finished (exit $rc) in $(( $(date +%s) - start )) s"

# --- summary from the subunit stream of the last run
# Module of a test id: "tempest.a.b.module.Class.test_x[...]" or "setUpClass (….module.Class)"
# (a skipped or failed class set-up counts once).
read -r -d '' SUMMARY <<'PY'
import collections
import sys

import subunit
import testtools

results = {}
stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name='stdout')
sink = testtools.StreamToDict(lambda test: results.__setitem__(test['id'], test))
sink.startTestRun()
stream.run(sink)
sink.stopTestRun()
names = {'success': 'passed', 'xfail': 'passed', 'fail': 'failed', 'uxsuccess': 'failed',
         'inprogress': 'failed', 'skip': 'skipped'}   # inprogress: its worker died
per_module = collections.defaultdict(collections.Counter)
failures = []
for test_id, test in sorted(results.items()):
    status = names.get(test['status'])
    if status is None:
        continue
    name = test_id.split('[')[0]
    if '(' in name:
        name = name[name.index('(') + 1:].rstrip(')') + '.setUpClass'
    per_module[name.rsplit('.', 2)[0]][status] += 1
    if status == 'failed':
        trace = test['details'].get('traceback')
        lines = [line for line in (trace.as_text() if trace else '').splitlines() if line.strip()]
        failures.append('%s :: %s' % (name, lines[-1][:300] if lines else '?'))
total = collections.Counter()
for module, counts in sorted(per_module.items()):
    total.update(counts)
    print('%-62s passed %3d failed %3d skipped %3d'
          % (module, counts['passed'], counts['failed'], counts['skipped']))
with open(sys.argv[1], 'w') as out:
    out.write(''.join(line + '\n' for line in failures))
print('passed %d failed %d skipped %d' % (total['passed'], total['failed'], total['skipped']))
sys.exit(1 if total['failed'] or not results else 0)
PY
(cd "$WS" && "$TVENV/bin/stestr" last --subunit 2>/dev/null) | \
    "$TVENV/bin/python" -c "$SUMMARY" "$OUT/tempest.failures" > "$OUT/summary.txt"
src=$?
if [ -s "$OUT/tempest.failures" ]; then
    echo "failures (details in $OUT/tempest.log):" >&2
    sed 's/^/  /' "$OUT/tempest.failures" >&2
fi
cat "$OUT/summary.txt"
if [ $rc -eq 0 ] && [ $src -ne 0 ]; then rc=1; fi
exit $rc
