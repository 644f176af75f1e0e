#!/usr/bin/env bash
# A real OpenStack Swift "all in one" on 127.0.0.1 for the swift and s3 store tests and the
# benchmarks. One Swift is shared by every caller (xdist workers, benchmarks); all commands
# are flock-protected and idempotent.
#
#   tools/swift.sh start   build the venv once, start if not running; the last stdout line
#                          is SWIFT_URL=http://127.0.0.1:PORT
#   tools/swift.sh keystone-proxy
#                          after start: a second proxy-server on the same rings, storage
#                          servers and memcached, with Keystone auth (tools/keystone.sh;
#                          keystonemiddleware authtoken + swift keystoneauth, operator_roles
#                          admin,member, accounts AUTH_<project id>), registered in the
#                          catalog as object-store (RegionOne, public
#                          http://127.0.0.1:KPORT/v1/AUTH_$(project_id)s); the last stdout
#                          line is SWIFT_KEYSTONE_URL=http://127.0.0.1:KPORT. The first
#                          run pip-installs keystonemiddleware into the swift venv.
#   tools/swift.sh stop    stop it and the keystone proxy (only the pids recorded in their
#                          pid files); data is kept
#   tools/swift.sh url     print the proxy URL; exit 0 only if it is running and answering
#   tools/swift.sh purge   stop and delete the objects and rings
#
# Proxy http://127.0.0.1:$SWIFT_PORT (default 28180): Swift API /v1, tempauth /auth/v1.0,
# the S3 API (s3api, path-style, region us-east-1). Account/container/object servers and
# memcached listen on the next ports (+2, +3, +4, +5), the keystone proxy on +6
# ($SWIFT_KEYSTONE_PORT, default 28186). 1-replica rings, one device.
# Middleware includes container_quotas and account_quotas, so a full store can be tested.
# Credentials (tempauth): test:tester / testing (.admin), test2:tester2 / testing2 (.admin),
# test:tester3 / testing3, admin:admin / admin (.reseller_admin).
#   S3: access key "test:tester", secret "testing".
# State lives in $GLANCE_CLONE_CACHE/swift/ (default ${XDG_CACHE_HOME:-~/.cache}/glance-clone),
# the venv in $GLANCE_CLONE_CACHE/swift-venv.
set -euo pipefail
CACHE="${GLANCE_CLONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-clone}"
STATE="$CACHE/swift"
VENV="$CACHE/swift-venv"
SWIFT_VERSION="${SWIFT_VERSION:-2.38.3}"
HOST=127.0.0.1
PROXY_PORT="${SWIFT_PORT:-28180}"
ACCT_PORT=$((PROXY_PORT + 2))
CONT_PORT=$((PROXY_PORT + 3))
OBJ_PORT=$((PROXY_PORT + 4))
MC_PORT=$((PROXY_PORT + 5))
KPROXY_PORT="${SWIFT_KEYSTONE_PORT:-$((PROXY_PORT + 6))}"
PART_POWER=8
ETC="$STATE/etc"
RUN="$STATE/run"
LOG="$STATE/log"
DEV="$STATE/data/srv/node"
SERVICES="memcached account container object proxy"

log() { echo "[swift.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "swift.sh: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

probe() {
    # A full round trip: auth, container PUT, object PUT/GET/DELETE.
    "$VENV/bin/python" - "$PROXY_PORT" <<'EOF'
import http.client, sys
port = int(sys.argv[1])
def req(method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, dict(r.getheaders()), data
st, h, _ = req("GET", "/auth/v1.0", {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
assert st // 100 == 2, st
tok = {"X-Auth-Token": h["X-Auth-Token"]}
base = "/" + h["X-Storage-Url"].split("/", 3)[3]
assert req("PUT", base + "/_probe", tok)[0] in (201, 202), "container put"
assert req("PUT", base + "/_probe/o", tok, b"ok")[0] == 201, "object put"
assert req("GET", base + "/_probe/o", tok)[2] == b"ok", "object get"
assert req("DELETE", base + "/_probe/o", tok)[0] == 204, "object delete"
EOF
}

running() {
    for s in $SERVICES; do alive "$RUN/$s.pid" || return 1; done
    probe >/dev/null 2>&1
}

build_venv() {
    [ -f "$VENV/.installed-$SWIFT_VERSION" ] && return 0
    log "building $VENV (swift==$SWIFT_VERSION; takes a minute the first time)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2 || die "python3 -m venv failed"
    "$VENV/bin/pip" install -q --disable-pip-version-check "swift==$SWIFT_VERSION" \
        python-swiftclient >"$LOG/pip.log" 2>&1 \
        || { tail -20 "$LOG/pip.log" >&2; die "pip could not install swift==$SWIFT_VERSION"; }
    touch "$VENV/.installed-$SWIFT_VERSION"
}

need_memcached() {
    command -v memcached >/dev/null 2>&1 && return 0
    log "installing memcached (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends memcached \
        >"$LOG/apt.log" 2>&1 || {
        apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends memcached \
            >>"$LOG/apt.log" 2>&1
    } || die "memcached is missing and could not be installed (see $LOG/apt.log)"
}

xattr_ok() {
    # Swift keeps object metadata in user xattrs.
    "$VENV/bin/python" -c "
import os, sys
p = sys.argv[1] + '/.xattr_probe'; open(p, 'w').close()
try: os.setxattr(p, 'user.swift.probe', b'x' * 2048)
finally: os.unlink(p)" "$DEV" 2>/dev/null
}

prepare_disk() {
    mkdir -p "$DEV"
    if ! mountpoint -q "$DEV" && ! xattr_ok; then
        log "no user xattrs under $DEV: using a loopback ext4 image"
        local img="$STATE/data/disk.img"
        [ -f "$img" ] || { truncate -s "${SWIFT_DISK_SIZE:-8G}" "$img"; mkfs.ext4 -q -F "$img"; }
        mount -o loop,user_xattr "$img" "$DEV" \
            || mount -t tmpfs -o size="${SWIFT_DISK_SIZE:-8G}" tmpfs "$DEV" \
            || die "cannot mount a disk with user xattrs on $DEV"
    fi
    xattr_ok || die "no user xattrs on $DEV"
    mkdir -p "$DEV/d1" "$RUN/cache"
}

common_default() {  # port
    cat <<EOF
[DEFAULT]
bind_ip = $HOST
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $ETC
devices = $DEV
mount_check = false
disable_fallocate = true
log_level = WARNING
log_name = swift
EOF
}

server_conf() {  # kind, port
    common_default "$2"
    cat <<EOF

[pipeline:main]
pipeline = healthcheck recon $1-server

[app:$1-server]
use = egg:swift#$1

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = $RUN/cache
EOF
}

# The filters both proxies share (the main one adds tempauth and s3api, the keystone one
# authtoken and keystoneauth).
common_filters() {
    cat <<EOF
[filter:cache]
use = egg:swift#memcache
memcache_servers = $HOST:$MC_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:ratelimit]
use = egg:swift#ratelimit
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
# Delete SLO (and s3api multipart) segments with the manifest, not later through the
# object-expirer (not run here), so tests can check that nothing is left behind.
allow_async_delete = false
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
EOF
}

write_configs() {
    mkdir -p "$ETC"
    cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = glance-clone-suffix
swift_hash_path_prefix = glance-clone-prefix

[storage-policy:0]
name = gold
default = yes

[swift-constraints]
max_file_size = 5368709122
EOF
    server_conf account "$ACCT_PORT" >"$ETC/account-server.conf"
    server_conf container "$CONT_PORT" >"$ETC/container-server.conf"
    server_conf object "$OBJ_PORT" >"$ETC/object-server.conf"
    { common_default "$PROXY_PORT"; cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit s3api tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

EOF
    common_filters; } >"$ETC/proxy-server.conf"
}

build_rings() {
    local rb="$VENV/bin/swift-ring-builder" spec name port rc
    for spec in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
        name=${spec%%:*}; port=${spec##*:}
        [ -f "$ETC/$name.ring.gz" ] && [ -f "$ETC/$name.port-$port" ] && continue
        rm -f "$ETC/$name.builder" "$ETC/$name.ring.gz" "$ETC/$name".port-*
        "$rb" "$ETC/$name.builder" create "$PART_POWER" 1 1 >/dev/null
        "$rb" "$ETC/$name.builder" add "r1z1-$HOST:$port/d1" 100 >/dev/null
        rc=0; "$rb" "$ETC/$name.builder" rebalance >/dev/null || rc=$?
        [ $rc -le 1 ] || die "ring rebalance failed for $name (rc=$rc)"
        touch "$ETC/$name.port-$port"
    done
}

launch() {  # name, command...
    local name=$1; shift
    # 9>&-: the servers must not inherit (and hold) the lock.
    setsid nohup "$@" >>"$LOG/$name.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN/$name.pid"
}

stop_pid() {  # pid file
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

do_stop() {
    local s
    for s in proxy-keystone proxy object container account memcached; do
        stop_pid "$RUN/$s.pid"
    done
}

# --- the Keystone-auth proxy -------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

build_keystone_venv() {
    [ -f "$VENV/.installed-keystonemiddleware" ] && return 0
    log "installing keystonemiddleware into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check keystonemiddleware \
        >"$LOG/pip-keystone.log" 2>&1 \
        || { tail -20 "$LOG/pip-keystone.log" >&2; die "pip could not install keystonemiddleware"; }
    touch "$VENV/.installed-keystonemiddleware"
}

keystone_proxy_conf() {  # keystone URL
    common_default "$KPROXY_PORT"
    cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit authtoken keystoneauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $1/v3
auth_url = $1/v3
auth_type = password
username = glance
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
delay_auth_decision = True
# Tokens cached through the proxy's memcache client (memcached on +5).
cache = swift.cache

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin,member
reseller_prefix = AUTH_

EOF
    common_filters
}

# Make the catalog's object-store public endpoint (RegionOne) the keystone proxy, then
# check a round trip as glance through the catalog (token, container and object PUT/GET).
register_and_probe() {  # keystone URL
    "$VENV/bin/python" - "$1" "http://$HOST:$KPROXY_PORT/v1/AUTH_\$(project_id)s" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
keystone, url = sys.argv[1], sys.argv[2]
def login(user, project):
    return session.Session(auth=v3.Password(
        auth_url=keystone + "/v3", username=user, password="secret", project_name=project,
        user_domain_name="Default", project_domain_name="Default"), timeout=30)
s = login("admin", "admin")
ks = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}
services = s.get("/services?type=object-store", **ks).json()["services"]
if services:
    service_id = services[0]["id"]
else:
    service_id = s.post("/services", json={"service": {
        "type": "object-store", "name": "swift", "enabled": True}}, **ks).json()["service"]["id"]
endpoints = s.get("/endpoints?service_id=%s&interface=public" % service_id,
                  **ks).json()["endpoints"]
if [(e["url"], e["region_id"]) for e in endpoints] != [(url, "RegionOne")]:
    for e in endpoints:
        s.delete("/endpoints/" + e["id"], **ks)
    s.post("/endpoints", json={"endpoint": {
        "service_id": service_id, "interface": "public", "region_id": "RegionOne",
        "url": url, "enabled": True}}, **ks)
g = login("glance", "service")
sw = {"endpoint_filter": {"service_type": "object-store", "interface": "public",
                          "region_name": "RegionOne"}}
assert g.put("/_probe", **sw).status_code in (201, 202), "container put"
assert g.put("/_probe/o", data=b"ok", **sw).status_code == 201, "object put"
assert g.get("/_probe/o", **sw).content == b"ok", "object get"
assert g.delete("/_probe/o", **sw).status_code == 204, "object delete"
PY
}

do_keystone_proxy() {
    local kurl pidf="$RUN/proxy-keystone.pid" conf="$ETC/proxy-server-keystone.conf"
    # NOTE: 9>&-: keystone.sh takes its own lock; it must not inherit this one.
    kurl="$(bash "$(dirname "$0")/keystone.sh" start 9>&- | tail -1 | cut -d= -f2-)"
    [ -n "$kurl" ] || die "tools/keystone.sh start printed no URL"
    [ -x "$VENV/bin/python" ] && running || die "swift is not running (tools/swift.sh start)"
    build_keystone_venv
    keystone_proxy_conf "$kurl" >"$conf.new"
    if alive "$pidf" && cmp -s "$conf.new" "$conf" \
            && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 \
                    "http://$HOST:$KPROXY_PORT/healthcheck")" = 200 ]; then
        rm -f "$conf.new"
    else
        stop_pid "$pidf"
        mv "$conf.new" "$conf"
        port_busy "$KPROXY_PORT" && die "port $KPROXY_PORT on $HOST is already in use"
        launch proxy-keystone "$VENV/bin/swift-proxy-server" "$conf"
        local end=$(( $(date +%s) + 60 ))
        # Ready when an anonymous request is refused (the auth middleware is loaded).
        until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 \
                   "http://$HOST:$KPROXY_PORT/v1/AUTH_probe")" = 401 ]; do
            alive "$pidf" || { tail -20 "$LOG/proxy-keystone.log" >&2; die "proxy-keystone died"; }
            [ "$(date +%s)" -lt "$end" ] \
                || { stop_pid "$pidf"; die "keystone proxy not ready after 60 s"; }
            sleep 0.2
        done
    fi
    register_and_probe "$kurl" || die "keystone proxy: catalog registration or probe failed"
    log "keystone proxy ready on http://$HOST:$KPROXY_PORT"
    echo "SWIFT_KEYSTONE_URL=http://$HOST:$KPROXY_PORT"
}

do_start() {
    mkdir -p "$STATE" "$RUN" "$LOG"
    if [ -x "$VENV/bin/python" ] && running; then
        log "already running on http://$HOST:$PROXY_PORT"
        echo "SWIFT_URL=http://$HOST:$PROXY_PORT"
        return 0
    fi
    do_stop  # leftovers of an earlier, partial start
    need_memcached
    build_venv
    prepare_disk
    write_configs
    build_rings
    launch memcached "$(command -v memcached)" -l "$HOST" -p "$MC_PORT" -U 0 -m 64 -u "$(id -un)"
    launch account "$VENV/bin/swift-account-server" "$ETC/account-server.conf"
    launch container "$VENV/bin/swift-container-server" "$ETC/container-server.conf"
    launch object "$VENV/bin/swift-object-server" "$ETC/object-server.conf"
    launch proxy "$VENV/bin/swift-proxy-server" "$ETC/proxy-server.conf"
    local s
    for _ in $(seq 1 300); do
        if probe >/dev/null 2>&1; then
            log "ready on http://$HOST:$PROXY_PORT"
            echo "SWIFT_URL=http://$HOST:$PROXY_PORT"
            return 0
        fi
        for s in $SERVICES; do
            alive "$RUN/$s.pid" || { tail -20 "$LOG/$s.log" >&2; do_stop; die "$s died; see $LOG/$s.log"; }
        done
        sleep 0.2
    done
    do_stop
    die "not ready after 60s; logs in $LOG"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/swift.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    keystone-proxy) do_keystone_proxy ;;
    stop) do_stop; log "stopped" ;;
    url) [ -x "$VENV/bin/python" ] && running && echo "http://$HOST:$PROXY_PORT" ;;
    purge)
        do_stop
        mountpoint -q "$DEV" && umount "$DEV"
        rm -rf "$STATE/data" "$ETC"
        log "purged" ;;
    *) die "usage: $0 start|keystone-proxy|stop|url|purge" ;;
esac
