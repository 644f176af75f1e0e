#!/usr/bin/env bash
# `make cluster`: Glance scaled out on loopback, as operators run it (README "Scale-out
# cluster", docs/scale-out.md):
#
#   HAProxy  :9400 glance-api  -> api1 :9411, api2 :9412        (GET /healthcheck every 1 s)
#            :9401 registry    -> reg1 :9421, reg2 :9422        (GET /healthcheck every 1 s)
#            :9402 MariaDB     -> galera node1 :3321, node2/node3 :3322/:3323 as backups
#            :9403 stats page
#   a 3-node Galera cluster of its own (tools/galera.sh, state in $STATE/galera), memcached
#   :9431 (keystonemiddleware's token cache), Ceph RBD (tools/ceph.sh, pool glance-cluster,
#   size 2 on its own osd.1-osd.3: `tools/ceph.sh osds 3`) as default store with a file store
#   beside it ($STATE/images, shared by both api nodes), notifications to RabbitMQ
#   (127.0.0.1:5672), an image cache per api node, Keystone (tools/keystone.sh) with the
#   HAProxy endpoint registered in region "cluster".
#
#   tools/cluster.sh start        start what is not running (idempotent); prints the endpoint
#                                 and a table of what runs where; last stdout line is
#                                 CLUSTER_URL=http://127.0.0.1:9400
#   tools/cluster.sh stop         stop what start started here (Galera of the cluster too; the
#                                 shared Keystone and Ceph keep running). Galera's data is
#                                 scratch: the next start builds it afresh and empties the rbd
#                                 pool, the file store and the caches with it
#   tools/cluster.sh status       the table
#   tools/cluster.sh kill NAME    kill -9 one node's process group (api1 api2 reg1 reg2
#                                 haproxy memcached), or Galera node1..node3 - a node-loss
#                                 drill; start brings it back (a Galera node rejoins)
#   tools/cluster.sh reload haproxy   new HAProxy process, the old one (-sf) finishes its sessions
#   tools/cluster.sh restart NAME graceful restart of one node (SIGTERM: gunicorn lets its
#                                 workers finish requests for 30 s; HAProxy already routes
#                                 around it once its health check fails), then start it
#   tools/cluster.sh drain NAME   HAProxy sends no new request to api1 api2 reg1 reg2 (runtime
#                                 API `set server ... state drain`); returns when the node's
#                                 current sessions and queue are 0
#   tools/cluster.sh ready NAME   HAProxy sends it requests again; returns when it is UP
#   tools/cluster.sh roll NAME    drain, graceful stop (SIGTERM), start, ready: a restart
#                                 that fails no request (the rolling upgrade, docs/scale-out.md)
#
# State (configs, logs, pids, file store, caches) in $CLUSTER_STATE (default
# $GLANCE_CLONE_CACHE/cluster when GLANCE_CLONE_CACHE is set, else /var/tmp/glance-clone-cluster).
# Ports: $CLUSTER_BASE_PORT (9400) + 0..3 HAProxy, +11/12 api, +21/22 registry, +31
# memcached; Galera SQL $CLUSTER_GALERA_PORT (3321) + 0..2, group communication 4641-4643.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${CLUSTER_STATE:-${GLANCE_CLONE_CACHE:+$GLANCE_CLONE_CACHE/cluster}}"
STATE="${STATE:-/var/tmp/glance-clone-cluster}"
VENV="${VENV:-$ROOT/.venv}"
BIN="$(cd "$VENV/bin" 2>/dev/null && pwd || echo "$VENV/bin")"
BASE="${CLUSTER_BASE_PORT:-9400}"
GPORT="${CLUSTER_GALERA_PORT:-3321}"
POOL="${CLUSTER_RBD_POOL:-glance-cluster}"
REGION="${CLUSTER_REGION:-cluster}"
RABBIT="${CLUSTER_TRANSPORT_URL:-rabbit://guest:guest@127.0.0.1:5672/}"
H=127.0.0.1
API_PORT=$BASE
REG_LB=$((BASE + 1))
DB_LB=$((BASE + 2))
STATS=$((BASE + 3))
MEMCACHED=$((BASE + 31))
export GALERA_STATE="$STATE/galera" GALERA_BASE_PORT="$GPORT" GALERA_GCOMM_BASE=4640 \
    GALERA_LOCK="$STATE/galera.lock" GALERA_CLUSTER_NAME=glance_clone_cluster

log() { echo "[cluster.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }
node_port() {  # name -> port
    case "$1" in
        api1) echo $((BASE + 11)) ;; api2) echo $((BASE + 12)) ;;
        reg1) echo $((BASE + 21)) ;; reg2) echo $((BASE + 22)) ;;
        haproxy) echo "$API_PORT" ;; memcached) echo "$MEMCACHED" ;;
        *) die "unknown node $1" ;;
    esac
}
pid_of() { cat "$STATE/$1/pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
healthy() { curl -sf -o /dev/null -m 3 "http://$H:$1/healthcheck"; }

ensure_packages() {
    local need=()
    command -v haproxy >/dev/null || need+=(haproxy)
    command -v memcached >/dev/null || need+=(memcached)
    command -v socat >/dev/null || need+=(socat)
    [ ${#need[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        || die "${need[*]} missing and apt-get cannot run here"
    log "installing ${need[*]} (Debian)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
        --no-install-recommends "${need[@]}" >&2 || die "apt-get could not install ${need[*]}"
}

authtoken() {  # the install guide's [keystone_authtoken], memcached shared by every node
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
memcached_servers = $H:$MEMCACHED
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = secret

[paste_deploy]
flavor = $1
EOF
}

write_registry_conf() {  # name
    local d="$STATE/$1"
    mkdir -p "$d"
    cat >"$d/glance-registry.conf" <<EOF
# Written by tools/cluster.sh start (rewritten on each start).
[DEFAULT]
bind_host = $H
bind_port = $(node_port "$1")
workers = 1

[database]
# HAProxy's Galera frontend: one active node, the other two backups (writes on one node).
connection = mysql+pymysql://root@$H:$DB_LB/glance?charset=utf8
# reads and UPDATE/DELETE wait for the cluster-wide commits before them (docs/scale-out.md)
mysql_wsrep_sync_wait = 3

$(authtoken keystone)
EOF
}

write_api_conf() {  # name
    local d="$STATE/$1"
    mkdir -p "$d/cache"
    cat >"$d/glance-api.conf" <<EOF
# Written by tools/cluster.sh start (rewritten on each start).
[DEFAULT]
bind_host = $H
bind_port = $(node_port "$1")
workers = 1
# metadata through HAProxy's registry frontend (either registry node)
registry_host = $H
registry_port = $REG_LB
enabled_backends = ceph:rbd, local:file
show_image_direct_url = true
# this node's image cache (flavor keystone+cachemanagement)
image_cache_dir = $d/cache
image_cache_max_size = 1073741824

[glance_store]
default_backend = ceph

[ceph]
rbd_store_ceph_conf = $CEPH_CONF
rbd_store_pool = $POOL

[local]
# one directory for both api nodes (an NFS export in a real deployment)
filesystem_store_datadir = $STATE/images

[oslo_messaging_notifications]
driver = messagingv2
transport_url = $RABBIT
topics = glance_cluster_notifications

$(authtoken keystone+cachemanagement)
EOF
}

write_scrubber_conf() {
    cat >"$STATE/glance-scrubber.conf" <<EOF
# Written by tools/cluster.sh start: the api nodes' stores, registry and auth.
$(sed -n '/^\[DEFAULT\]/,$p' "$STATE/api1/glance-api.conf" | sed '/^image_cache/d;/^bind_/d')
EOF
}

write_haproxy_cfg() {
    cat >"$STATE/haproxy/haproxy.cfg" <<EOF
# Written by tools/cluster.sh start.
global
    maxconn 4096
    stats socket $STATE/haproxy/admin.sock mode 600 level admin

defaults
    log global
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    # a connection refused by a node not yet marked down goes to another one
    retries 3
    option redispatch
    default-server inter 1s fall 2 rise 2

frontend glance_api
    mode http
    bind $H:$API_PORT
    default_backend glance_api

backend glance_api
    mode http
    balance roundrobin
    option httpchk GET /healthcheck
    http-check expect status 200
    server api1 $H:$(node_port api1) check
    server api2 $H:$(node_port api2) check

frontend glance_registry
    mode http
    bind $H:$REG_LB
    default_backend glance_registry

backend glance_registry
    mode http
    balance roundrobin
    option httpchk GET /healthcheck
    http-check expect status 200
    server reg1 $H:$(node_port reg1) check
    server reg2 $H:$(node_port reg2) check

listen galera
    # writes on one node at a time (no certification conflicts between the registries);
    # the backups take over when it fails its check
    mode tcp
    bind $H:$DB_LB
    timeout client 3600s
    timeout server 3600s
    option mysql-check user haproxy_check
    server node1 $H:$GPORT check
    server node2 $H:$((GPORT + 1)) check backup
    server node3 $H:$((GPORT + 2)) check backup

listen stats
    mode http
    bind $H:$STATS
    stats enable
    stats uri /
EOF
}

start_haproxy() {
    alive haproxy && return 0
    mkdir -p "$STATE/haproxy"
    write_haproxy_cfg
    haproxy -c -q -f "$STATE/haproxy/haproxy.cfg" || die "haproxy rejects its config"
    (exec setsid haproxy -db -f "$STATE/haproxy/haproxy.cfg" </dev/null \
        >>"$STATE/haproxy/haproxy.log" 2>&1 9>&-) &
    echo $! >"$STATE/haproxy/pid"
    for _ in $(seq 1 50); do curl -sf -o /dev/null -m 2 "http://$H:$STATS/" && return 0; sleep 0.1; done
    die "haproxy did not start: $(tail -5 "$STATE/haproxy/haproxy.log")"
}

# NOTE: nothing here consumes the notifications; a policy caps their queue (1,000 messages)
# in the shared RabbitMQ. A real deployment's consumers (e.g. Ceilometer) read them.
cap_notifications() {
    command -v rabbitmqctl >/dev/null || { log "no rabbitmqctl: notifications queue not capped"; return 0; }
    timeout 60 rabbitmqctl set_policy glance-cluster-notifications \
        '^glance_cluster_notifications\.' '{"max-length":1000}' --apply-to queues >/dev/null 2>&1 \
        || log "rabbitmqctl set_policy failed: notifications queue not capped"
}

bindings() {  # the rbd store needs Ceph's rados/rbd modules in the venv (README)
    "$BIN/python" -c 'import rados, rbd' 2>/dev/null \
        || die "'import rados, rbd' fails in $VENV: the rbd store would answer 410 (see README \"Scale-out cluster\")"
}

reload_haproxy() {  # graceful: the new process binds, then the old one (-sf) finishes its sessions
    local old new
    old="$(pid_of haproxy)"
    alive haproxy || { start_haproxy; return 0; }
    write_haproxy_cfg
    haproxy -c -q -f "$STATE/haproxy/haproxy.cfg" || die "haproxy rejects its config"
    (exec setsid haproxy -db -f "$STATE/haproxy/haproxy.cfg" -sf "$old" </dev/null \
        >>"$STATE/haproxy/haproxy.log" 2>&1 9>&-) &
    new=$!
    echo "$new" >"$STATE/haproxy/pid"
    for _ in $(seq 1 100); do
        kill -0 "$new" 2>/dev/null || die "haproxy did not reload: $(tail -5 "$STATE/haproxy/haproxy.log")"
        kill -0 "$old" 2>/dev/null || return 0
        sleep 0.1
    done
    log "the old haproxy ($old) still finishes sessions"
}

start_memcached() {
    alive memcached && return 0
    mkdir -p "$STATE/memcached"
    (exec setsid memcached -u "$(id -un)" -l $H -p "$MEMCACHED" -U 0 -m 64 </dev/null \
        >>"$STATE/memcached/memcached.log" 2>&1 9>&-) &
    echo $! >"$STATE/memcached/pid"
}

start_node() {  # name (api1 api2 reg1 reg2): its own process group, pgid = master pid
    local name=$1 port prog conf
    port="$(node_port "$name")"
    if alive "$name" && healthy "$port"; then return 0; fi
    alive "$name" && kill -KILL -- "-$(pid_of "$name")" 2>/dev/null || true
    case "$name" in
        api*) prog=glance-api; conf="$STATE/$name/glance-api.conf" ;;
        *) prog=glance-registry; conf="$STATE/$name/glance-registry.conf" ;;
    esac
    (cd "$STATE/$name" && exec setsid "$BIN/$prog" --config-file "$conf" </dev/null \
        >>"$STATE/$name/$prog.log" 2>&1 9>&-) &
    echo $! >"$STATE/$name/pid"
    for _ in $(seq 1 300); do
        healthy "$port" && return 0
        alive "$name" || die "$name exited: $(tail -n 20 "$STATE/$name/$prog.log")"
        sleep 0.2
    done
    die "$name not healthy after 60 s: $(tail -n 20 "$STATE/$name/$prog.log")"
}

galera_ready() {
    bash "$ROOT/tools/galera.sh" start >/dev/null
    # NOTE: tools/galera.sh builds the cluster afresh when all three nodes were down (after
    # `stop`): the metadata is gone, so the bytes of the images it described go too, or they
    # would be objects no image points to.
    if [ -z "$(mariadb --no-defaults -uroot -h$H -P"$GPORT" -N -B -e "SHOW DATABASES LIKE 'glance'")" ]; then
        log "new Galera cluster: emptying the rbd pool $POOL, the file store and the caches"
        timeout 60 ceph osd pool delete "$POOL" "$POOL" --yes-i-really-really-mean-it >/dev/null 2>&1 || true
        rm -rf "$STATE/images" "$STATE"/api?/cache
        mkdir -p "$STATE/images"
    fi
    mariadb --no-defaults -uroot -h$H -P"$GPORT" -e "
        CREATE DATABASE IF NOT EXISTS glance CHARACTER SET utf8;
        CREATE USER IF NOT EXISTS 'haproxy_check'@'127.0.0.1';" \
        || die "cannot prepare the glance database on Galera node 1"
}

ceph_pool() {  # the cluster's pool in the Ceph of tools/ceph.sh (started by do_start)
    # its own three OSDs (osd.1-3, CRUSH root glance-cluster; the suite's pools stay on osd.0)
    # and two copies of each object, so that one OSD can be lost (the OSD drill)
    local rule
    rule="$(VENV="$VENV" bash "$ROOT/tools/ceph.sh" osds 3 | sed -n 's/^CRUSH_RULE=//p')"
    [ -n "$rule" ] || die "tools/ceph.sh osds 3 gave no CRUSH rule"
    if ! timeout 20 ceph osd pool ls | grep -qx "$POOL"; then
        log "creating rbd pool $POOL"
        timeout 30 ceph osd pool create "$POOL" 8 8 replicated "$rule" >/dev/null
        timeout 60 rbd pool init "$POOL"
    fi
    timeout 30 ceph osd pool set "$POOL" crush_rule "$rule" >/dev/null
    timeout 30 ceph osd pool set "$POOL" size 2 >/dev/null
    timeout 30 ceph osd pool set "$POOL" min_size 1 >/dev/null
}

db_sync() {  # through HAProxy, which may not have marked node 1 up yet
    local _
    for _ in $(seq 1 10); do
        "$BIN/glance-manage" --config-file "$STATE/reg1/glance-registry.conf" db sync \
            >>"$STATE/db-sync.log" 2>&1 && return 0
        sleep 1
    done
    die "db sync failed: $(tail -n 20 "$STATE/db-sync.log")"
}

do_start() {
    ensure_packages
    [ -x "$BIN/glance-api" ] || die "no glance-api in $BIN (make install first)"
    mkdir -p "$STATE/images"
    KEYSTONE_URL="$(bash "$ROOT/tools/keystone.sh" start | tail -1 | sed 's/^KEYSTONE_URL=//')"
    CEPH_CONF="$(VENV="$VENV" bash "$ROOT/tools/ceph.sh" start | tail -1 | sed 's/^CEPH_CONF=//')"
    [ -f "$CEPH_CONF" ] || die "tools/ceph.sh start gave no ceph.conf"
    export CEPH_CONF
    galera_ready
    ceph_pool
    bindings
    cap_notifications
    start_memcached
    local n
    for n in reg1 reg2; do write_registry_conf "$n"; done
    for n in api1 api2; do write_api_conf "$n"; done
    write_scrubber_conf
    start_haproxy
    db_sync
    for n in reg1 reg2 api1 api2; do start_node "$n"; done
    # a node left drained (an interrupted roll) takes requests again
    for n in reg1 reg2 api1 api2; do hactl "set server $(backend_of "$n")/$n state ready" >/dev/null; done
    bash "$ROOT/tools/keystone.sh" register "http://$H:$API_PORT" "$REGION" \
        || die "could not register the endpoint in Keystone"
    echo "$KEYSTONE_URL" >"$STATE/keystone_url"
    do_status
    echo "KEYSTONE_URL=$KEYSTONE_URL"
    echo "CLUSTER_URL=http://$H:$API_PORT"
}

row() { printf '%-24s %-24s %-8s %s\n' "$@"; }

do_status() {
    local n p
    echo "Glance cluster: http://$H:$API_PORT (Keystone region $REGION)  state: $STATE"
    row PROCESS ADDRESS PID CONFIG
    p="$(pid_of haproxy)"; alive haproxy || p=down
    row haproxy "$H:$API_PORT-$STATS" "$p" "$STATE/haproxy/haproxy.cfg"
    for n in api1 api2 reg1 reg2; do
        p="$(pid_of "$n")"; alive "$n" || p=down
        case "$n" in api*) f=glance-api ;; *) f=glance-registry ;; esac
        row "$f ($n)" "$H:$(node_port "$n")" "$p" "$STATE/$n/$f.conf"
    done
    p="$(pid_of memcached)"; alive memcached || p=down
    row memcached "$H:$MEMCACHED" "$p" "-"
    for n in 1 2 3; do
        p="$(cat "$GALERA_STATE/node$n/mysqld.pid" 2>/dev/null || echo down)"
        kill -0 "$p" 2>/dev/null || p=down
        row "mariadbd galera node$n" "$H:$((GPORT + n - 1))" "$p" "$GALERA_STATE/node$n/my.cnf"
    done
    row "ceph (tools/ceph.sh)" "pool $POOL" "-" "${CEPH_CONF:-$(bash "$ROOT/tools/ceph.sh" conf 2>/dev/null || echo down)}"
    row "keystone (shared)" "$(bash "$ROOT/tools/keystone.sh" url 2>/dev/null || echo down)" "-" "tools/keystone.sh"
    row "rabbitmq (shared)" "$H:5672" "-" "topic glance_cluster_notifications"
}

stop_one() {  # name: SIGTERM to the process group, SIGKILL after 35 s
    local p; p="$(pid_of "$1")"
    [ -n "$p" ] || return 0
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 350); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$p" 2>/dev/null || true
    fi
    rm -f "$STATE/$1/pid"
}

# HAProxy's runtime API on its admin socket (`stats socket` in haproxy.cfg).
hactl() { echo "$*" | socat -t 5 stdio "unix-connect:$STATE/haproxy/admin.sock"; }
backend_of() {
    case "$1" in api[12]) echo glance_api ;; reg[12]) echo glance_registry ;; *) die "cannot drain $1" ;; esac
}
server_stat() {  # name -> "queued current-sessions status" from `show stat`
    hactl "show stat" | awk -F, -v b="$(backend_of "$1")" -v s="$1" \
        '$1 == b && $2 == s { print $3, $5, $18 }'
}

do_drain() {  # name
    local b q c st _
    b="$(backend_of "$1")"
    alive haproxy || die "haproxy is not running"
    hactl "set server $b/$1 state drain" >/dev/null
    for _ in $(seq 1 1200); do
        read -r q c st <<<"$(server_stat "$1")"
        [ "${q:-1}" = 0 ] && [ "${c:-1}" = 0 ] && return 0
        sleep 0.1
    done
    die "$1 still has $c sessions and $q queued after 120 s of drain"
}

do_ready() {  # name
    local b q c st _
    b="$(backend_of "$1")"
    hactl "set server $b/$1 state ready" >/dev/null
    for _ in $(seq 1 300); do
        read -r q c st <<<"$(server_stat "$1")"
        [ "$st" = UP ] && return 0
        sleep 0.1
    done
    die "$1 is $st in HAProxy 30 s after ready"
}

do_roll() {  # name: a graceful restart that HAProxy routes around before it begins
    local t0=$SECONDS
    do_drain "$1"
    local t1=$SECONDS
    stop_one "$1"
    local t2=$SECONDS
    KEYSTONE_URL="$(cat "$STATE/keystone_url")"
    start_node "$1"
    local t3=$SECONDS
    do_ready "$1"
    log "rolled $1: drained in $((t1 - t0)) s, stopped in $((t2 - t1)) s, started in $((t3 - t2)) s, UP after $((SECONDS - t3)) s"
}

do_stop() {
    local n
    for n in api1 api2 reg1 reg2 haproxy memcached; do stop_one "$n"; done
    bash "$ROOT/tools/galera.sh" stop
    log "stopped (state kept in $STATE)"
}

mkdir -p "$STATE"
case "${1:-}" in
    start) exec 9>"$STATE/cluster.lock"; flock 9; do_start ;;
    stop) exec 9>"$STATE/cluster.lock"; flock 9; do_stop ;;
    status) do_status ;;
    kill)
        case "${2:?usage: $0 kill NAME}" in
            node[123]) bash "$ROOT/tools/galera.sh" kill "${2#node}" ;;
            *) p="$(pid_of "$2")"; [ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null || true ;;
        esac ;;
    restart)
        n="${2:?usage: $0 restart NAME}"
        stop_one "$n"
        KEYSTONE_URL="$(cat "$STATE/keystone_url")"
        case "$n" in
            haproxy) start_haproxy ;; memcached) start_memcached ;; *) start_node "$n" ;;
        esac ;;
    drain) do_drain "${2:?usage: $0 drain NAME}" ;;
    ready) do_ready "${2:?usage: $0 ready NAME}" ;;
    roll) do_roll "${2:?usage: $0 roll NAME}" ;;
    reload)
        [ "${2:-haproxy}" = haproxy ] || die "usage: $0 reload haproxy"
        reload_haproxy ;;
    *) die "usage: $0 start|stop|status|kill NAME|restart NAME|drain NAME|ready NAME|roll NAME|reload haproxy" ;;
esac
