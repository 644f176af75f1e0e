#!/usr/bin/env bash
# A real Cinder (PyPI cinder, its own venv) with the RBD volume driver on the Ceph of
# tools/ceph.sh, for the cinder store. noauth API (token "user:project"), MariaDB on
# 127.0.0.1:3306 (root, no password), RabbitMQ on 127.0.0.1:5672 (guest/guest).
# One Cinder is shared by every caller; all commands are flock-protected.
#
#   tools/cinder.sh start   build the venv once, start api/scheduler/volume if not running,
#                           install os-brick into $VENV (default .venv) for the cinder
#                           store; the last stdout line is CINDER_URL=http://127.0.0.1:PORT/v3
#   tools/cinder.sh stop    stop them (only the pids recorded by start)
#   tools/cinder.sh url     print the URL; exit 0 only if the api answers
#   tools/cinder.sh keystone-api
#                           after start: a second cinder-api on the same services with
#                           Keystone auth (tools/keystone.sh), registered in the catalog
#                           as volumev3 (RegionOne); the last stdout line is
#                           CINDER_KEYSTONE_URL=http://127.0.0.1:KPORT/v3
#                           start (which starts tools/keystone.sh too) gives the volume
#                           service a [glance] service user (Keystone account "cinder",
#                           project "service", roles admin and service) for the image
#                           service's location API; keystone-api restarts the volume
#                           service only if that section is missing or outdated.
#
# Two RBD backends on the same pool: "ceph" (volume type ceph, the default) uploads a
# volume's bytes to the image service; "ceph-upload" (volume type ceph-upload) has
# image_upload_use_cinder_backend, so upload-to-image clones the volume and registers
# cinder://<volume id> as the new image's location.
#
# State (config, pids, logs) in $GLANCE_CLONE_CACHE/cinder (default
# ${XDG_CACHE_HOME:-~/.cache}/glance-clone), the venv in .../cinder-venv, the data in the
# MariaDB database glance_clone_cinder and the Ceph pool "volumes".
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-clone}"
CVENV="$CACHE/cinder-venv"
VENV="${VENV:-$ROOT/.venv}"
STATE="$CACHE/cinder"
PORT="${CINDER_PORT:-28776}"
URL="http://127.0.0.1:$PORT/v3"
KPORT="${CINDER_KEYSTONE_PORT:-28777}"
IMAGE_PORT="${GLANCE_CLONE_CINDER_IMAGE_PORT:-29292}"
KURL="http://127.0.0.1:$KPORT/v3"
CINDER_VERSION=29.0.0
DB_NAME=glance_clone_cinder
POOL=volumes
SERVICES="api scheduler volume"
# Bump when the services' configuration changes: a running Cinder of another version is
# restarted by start.
CONF_VERSION=5

log() { echo "[cinder.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "cinder.sh: $*" >&2; exit 1; }
alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
api_up() { curl -sf -o /dev/null -m 5 -H "X-Auth-Token: admin:admin" "$URL/types"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

build_venv() {
    [ -f "$CVENV/.installed-$CINDER_VERSION" ] && return 0
    log "building $CVENV (cinder==$CINDER_VERSION; takes minutes the first time)"
    [ -x "$CVENV/bin/python" ] || python3 -m venv "$CVENV" >&2 || die "python3 -m venv failed"
    "$CVENV/bin/pip" install -q --disable-pip-version-check "cinder==$CINDER_VERSION" pymysql >&2 \
        || die "pip could not install cinder==$CINDER_VERSION into $CVENV"
    touch "$CVENV/.installed-$CINDER_VERSION"
}

# The cinder store attaches volumes with os-brick: make it importable in the project venv.
install_os_brick() {
    [ -x "$VENV/bin/python" ] || { log "no venv at $VENV; os-brick not installed"; return 0; }
    "$VENV/bin/python" -c 'import os_brick' 2>/dev/null && return 0
    log "installing os-brick into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check os-brick >&2 \
        || die "pip could not install os-brick into $VENV"
}

write_conf() {  # ceph.conf path
    mkdir -p "$STATE/lock" "$STATE/state"
    cat >"$STATE/cinder.conf" <<EOF
[DEFAULT]
api_paste_config = $CVENV/etc/cinder/api-paste.ini
auth_strategy = noauth
transport_url = rabbit://guest:guest@127.0.0.1:5672/
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $PORT
osapi_volume_workers = 1
enabled_backends = ceph,ceph-upload
default_volume_type = ceph
state_path = $STATE/state
my_ip = 127.0.0.1
host = glance-clone
# NOTE: on a loaded 2-core machine a heartbeat can be late; the default 60 s made the
# scheduler think the volume service down (NoValidBackend) in the middle of a test run.
service_down_time = 300
log_dir = $STATE

# The image service Cinder's tests drive (tests/functional/keystone/
# test_cinder_image_service.py) listens here; Cinder would otherwise take the first image
# endpoint of the catalog, which other tests re-point, and keep it for its lifetime.
glance_api_servers = http://127.0.0.1:$IMAGE_PORT
# A volume from an image whose location is cinder://<volume> (an image made by the
# ceph-upload backend) is a clone of that volume, not a download.
allowed_direct_url_schemes = cinder

[database]
connection = mysql+pymysql://root@127.0.0.1:3306/$DB_NAME?charset=utf8

[oslo_concurrency]
lock_path = $STATE/lock

[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = $POOL
rbd_ceph_conf = $1
# NOTE: no rbd_user: with a user, os-brick insists on reading its keyring file, and the
# test cluster has no cephx.

[ceph-upload]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph-upload
rbd_pool = $POOL
rbd_ceph_conf = $1
# upload-to-image of a raw volume: a clone registered as the image's cinder:// location
# (POST /v2/images/{id}/locations with the [glance] service user), no byte upload.
image_upload_use_cinder_backend = True
EOF
    # The volume service calls the image service with the caller's token (volume create
    # --image, upload-to-image), as in a Keystone deployment; the noauth api keeps its own
    # auth_strategy. Its callers without a Keystone token never reach the image service.
    # Its privileged helpers (format inspection, qemu-img) run as privsep daemons; as root
    # they need no sudo, and the venv's cinder-rootwrap is not on sudo's path anyway.
    cat >"$STATE/cinder-volume.conf" <<EOF
[DEFAULT]
auth_strategy = keystone

[cinder_sys_admin]
helper_command = $CVENV/bin/privsep-helper --config-file $STATE/cinder.conf --config-file $STATE/cinder-volume.conf

[privsep_osbrick]
helper_command = $CVENV/bin/privsep-helper --config-file $STATE/cinder.conf --config-file $STATE/cinder-volume.conf
EOF
    echo "$CONF_VERSION" >"$STATE/conf-version"
}

prepare() {
    local ceph_conf
    port_busy 3306 || bash "$ROOT/tools/ensure-services.sh" >&2 || die "MariaDB is not reachable"
    port_busy 5672 || die "RabbitMQ is not reachable on 127.0.0.1:5672"
    ceph_conf="$(VENV="$CVENV" bash "$ROOT/tools/ceph.sh" start | tail -1 | cut -d= -f2-)"
    if ! timeout 20 ceph -c "$ceph_conf" osd pool ls | grep -qx "$POOL"; then
        timeout 30 ceph -c "$ceph_conf" osd pool create "$POOL" 8 8 >/dev/null 2>&1
        timeout 30 ceph -c "$ceph_conf" osd pool set "$POOL" size 1 --yes-i-really-mean-it \
            >/dev/null 2>&1 || true
        timeout 60 rbd -c "$ceph_conf" pool init "$POOL"
    fi
    write_conf "$ceph_conf"
    # The [glance] service user before the volume service starts, so that keystone-api
    # never has to restart it under another test's feet.
    KEYSTONE_URL="$(bash "$ROOT/tools/keystone.sh" start 2>/dev/null | tail -1 | cut -d= -f2-)" \
        || KEYSTONE_URL=""
    if [ -n "$KEYSTONE_URL" ]; then
        glance_conf "$KEYSTONE_URL" >"$STATE/cinder-glance.conf"
    else
        log "Keystone did not start: cinder-volume runs without a [glance] service user"
    fi
    "$CVENV/bin/python" - "$DB_NAME" <<'PY'
import sys
import pymysql
c = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')
c.cursor().execute('CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8' % sys.argv[1])
c.close()
PY
    "$CVENV/bin/cinder-manage" --config-file "$STATE/cinder.conf" db sync >/dev/null 2>&1 \
        || die "cinder-manage db sync failed (see $STATE/cinder-manage.log)"
}

ensure_volume_type() {
    "$CVENV/bin/python" - "$URL" <<'PY'
import json, sys, urllib.request
url, headers = sys.argv[1], {"X-Auth-Token": "admin:admin", "Content-Type": "application/json"}
types = json.load(urllib.request.urlopen(urllib.request.Request(url + "/types", headers=headers)))
for name in ("ceph", "ceph-upload"):
    if name not in [t["name"] for t in types["volume_types"]]:
        body = {"volume_type": {"name": name, "extra_specs": {"volume_backend_name": name}}}
        urllib.request.urlopen(urllib.request.Request(url + "/types", json.dumps(body).encode(),
                                                      headers=headers))
PY
}

wait_ready() {
    local end=$(( $(date +%s) + 120 )) s
    until api_up && "$CVENV/bin/python" - "$URL" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/os-services", headers={"X-Auth-Token": "admin:admin"})
up = {s["binary"] for s in json.load(urllib.request.urlopen(req))["services"] if s["state"] == "up"}
if not {"cinder-scheduler", "cinder-volume"} <= up:
    sys.exit(1)
# NOTE: "up" is not enough: until the volume service has reported its pool to the
# scheduler, every create fails with NoValidBackend.
req = urllib.request.Request(sys.argv[1] + "/scheduler-stats/get_pools",
                             headers={"X-Auth-Token": "admin:admin"})
pools = json.load(urllib.request.urlopen(req))["pools"]
sys.exit(0 if {p["name"].split("@")[-1].split("#")[0] for p in pools} >= {"ceph", "ceph-upload"}
         else 1)
PY
    do
        for s in $SERVICES; do
            alive "$s" || { tail -20 "$STATE/cinder-$s.log" >&2 2>/dev/null; die "cinder-$s exited"; }
        done
        [ "$(date +%s)" -lt "$end" ] || die "cinder not ready after 120 s (logs in $STATE)"
        sleep 1
    done
}

start_service() {  # api|scheduler|volume
    local extra=""
    if [ "$1" = volume ]; then
        extra="--config-file $STATE/cinder-volume.conf"
        # The [glance] service user, once keystone-api has written it.
        [ -f "$STATE/cinder-glance.conf" ] && extra="$extra --config-file $STATE/cinder-glance.conf"
    fi
    # NOTE: 9>&- so the service does not hold this script's flock.
    # shellcheck disable=SC2086
    nohup "$CVENV/bin/cinder-$1" --config-file "$STATE/cinder.conf" $extra \
        >"$STATE/$1.out" 2>&1 </dev/null 9>&- &
    echo $! >"$STATE/$1.pid"
}

stop_pid_file() {  # pid file
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

do_start() {
    build_venv
    install_os_brick
    if api_up && alive api && alive scheduler && alive volume \
            && [ "$(cat "$STATE/conf-version" 2>/dev/null)" = "$CONF_VERSION" ]; then
        echo "CINDER_URL=$URL"
        return 0
    fi
    do_stop
    prepare
    local s
    for s in $SERVICES; do
        start_service "$s"
    done
    wait_ready
    ensure_volume_type
    [ -z "${KEYSTONE_URL:-}" ] || ensure_glance_account "$KEYSTONE_URL"
    log "ready: $URL"
    echo "CINDER_URL=$URL"
}

# The Keystone-auth api: same database, queue and volume service as the noauth one.
write_keystone_conf() {  # keystone URL
    cat >"$STATE/cinder-keystone.conf" <<EOF
[DEFAULT]
auth_strategy = keystone
osapi_volume_listen_port = $KPORT
log_file = $STATE/cinder-keystone-api.log

[keystone_authtoken]
www_authenticate_uri = $1/v3
auth_url = $1/v3
auth_type = password
username = glance
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
EOF
}

# Make the catalog's volumev3 public endpoint (RegionOne) point at the Keystone-auth api.
register_volumev3() {  # keystone URL
    "$CVENV/bin/python" - "$1" "$KURL" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
keystone, cinder = sys.argv[1], sys.argv[2] + "/$(project_id)s"
s = session.Session(auth=v3.Password(
    auth_url=keystone + "/v3", username="admin", password="secret", project_name="admin",
    user_domain_name="Default", project_domain_name="Default"))
ks = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}
services = s.get("/services?type=volumev3", **ks).json()["services"]
if services:
    service_id = services[0]["id"]
else:
    service_id = s.post("/services", json={"service": {
        "type": "volumev3", "name": "cinderv3", "enabled": True}}, **ks).json()["service"]["id"]
endpoints = s.get("/endpoints?service_id=%s&interface=public" % service_id,
                  **ks).json()["endpoints"]
if [e["url"] for e in endpoints] != [cinder]:
    for e in endpoints:
        s.delete("/endpoints/" + e["id"], **ks)
    s.post("/endpoints", json={"endpoint": {
        "service_id": service_id, "interface": "public", "region_id": "RegionOne",
        "url": cinder, "enabled": True}}, **ks)
PY
}

# Cinder 2024.2+ adds and reads image locations (POST/GET /v2/images/{id}/locations, the
# image service's service_api rule) with the credentials of its [glance] section, not the
# caller's token. The account is an admin too: the image it registers a location for
# belongs to the caller's project, and only admins see other projects' private images.
ensure_glance_account() {  # keystone URL
    "$CVENV/bin/python" - "$1" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
keystone = sys.argv[1]
s = session.Session(auth=v3.Password(
    auth_url=keystone + "/v3", username="admin", password="secret", project_name="admin",
    user_domain_name="Default", project_domain_name="Default"))
ks = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}
project = s.get("/projects?name=service", **ks).json()["projects"][0]
users = s.get("/users?name=cinder", **ks).json()["users"]
user = users[0] if users else s.post("/users", json={"user": {
    "name": "cinder", "password": "secret", "domain_id": "default",
    "default_project_id": project["id"]}}, **ks).json()["user"]
for name in ("admin", "service"):
    role = s.get("/roles?name=" + name, **ks).json()["roles"][0]
    s.put("/projects/%s/users/%s/roles/%s" % (project["id"], user["id"], role["id"]), **ks)
PY
}

glance_conf() {  # keystone URL
    cat <<EOF
[glance]
auth_type = password
auth_url = $1/v3
username = cinder
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
EOF
}

# After a start without Keystone (or with Keystone on another port): give the running
# volume service its [glance] section, restarting it once.
ensure_glance_user() {  # keystone URL
    ensure_glance_account "$1"
    if [ "$(cat "$STATE/cinder-glance.conf" 2>/dev/null)" != "$(glance_conf "$1")" ]; then
        log "giving cinder-volume its [glance] service user (restarting it)"
        glance_conf "$1" >"$STATE/cinder-glance.conf"
        stop_pid_file "$STATE/volume.pid"
        start_service volume
        wait_ready
    fi
}

do_keystone_api() {
    local kurl
    kurl="$(bash "$ROOT/tools/keystone.sh" start | tail -1 | cut -d= -f2-)"
    api_up && alive api || die "the noauth cinder is not running (tools/cinder.sh start)"
    if ! alive keystone-api || ! curl -s -o /dev/null -m 5 "$KURL/"; then
        rm -f "$STATE/keystone-api.pid"
        port_busy "$KPORT" && die "port $KPORT on 127.0.0.1 is already in use"
        write_keystone_conf "$kurl"
        nohup "$CVENV/bin/cinder-api" --config-file "$STATE/cinder.conf" \
            --config-file "$STATE/cinder-keystone.conf" \
            >"$STATE/keystone-api.out" 2>&1 </dev/null 9>&- &
        echo $! >"$STATE/keystone-api.pid"
        local end=$(( $(date +%s) + 60 ))
        until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$KURL/types")" = 401 ]; do
            alive keystone-api || { tail -20 "$STATE/keystone-api.out" >&2; die "cinder-api (keystone) exited"; }
            [ "$(date +%s)" -lt "$end" ] || die "cinder-api (keystone) not ready after 60 s"
            sleep 0.5
        done
    fi
    register_volumev3 "$kurl"
    ensure_glance_user "$kurl"
    log "keystone api ready: $KURL"
    echo "CINDER_KEYSTONE_URL=$KURL"
}

do_stop() {
    local s
    for s in keystone-api $SERVICES; do
        stop_pid_file "$STATE/$s.pid"
    done
}

case "${1:-}" in
    url) api_up && echo "$URL"; exit ;;
esac
mkdir -p "$CACHE" "$STATE"
exec 9>"$CACHE/cinder.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    keystone-api) do_keystone_api ;;
    stop) do_stop; log "stopped" ;;
    *) die "usage: $0 start|stop|url|keystone-api" ;;
esac
