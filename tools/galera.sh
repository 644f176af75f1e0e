#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback (galera-4 and MariaDB from Debian's packages),
# for the tests of the metadata layer on Galera. A start that finds any node down builds the
# cluster afresh (its data is scratch): node 1 bootstraps, nodes 2 and 3 join by state
# transfer with mariabackup (Debian's mariadb-backup, installed if missing; rsync SST does not
# work as root here: its daemon switches to "nobody" and cannot write the joiner's files).
#
#   tools/galera.sh start    start the three nodes if they are not all up; the last stdout
#                            line is GALERA_NODES=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#   tools/galera.sh stop     stop them
#   tools/galera.sh kill N   kill -9 node N (a node-loss drill); start makes it rejoin
#   tools/galera.sh status   print each node's wsrep state
#
# State (configs, data, logs) in $GALERA_STATE (default /var/tmp/glance-clone-galera).
# Ports: SQL $GALERA_BASE_PORT (default 3311) + 0..2, group communication
# $GALERA_GCOMM_BASE (default 4610) + 1..3, IST that + 11..13, SST that + 21..23.
# root has no password, from 127.0.0.1 too. A second cluster (tools/cluster.sh runs its own)
# sets those, its own GALERA_LOCK and GALERA_CLUSTER_NAME.
set -euo pipefail
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
STATE="${GALERA_STATE:-/var/tmp/glance-clone-galera}"
BASE="${GALERA_BASE_PORT:-3311}"
PROVIDER="${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}"
GCOMM="${GALERA_GCOMM_BASE:-4610}"
NAME="${GALERA_CLUSTER_NAME:-glance_clone_galera}"
LOCK="${GALERA_LOCK:-$CACHE/galera.lock}"
NODES="1 2 3"

log() { echo "[galera.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "galera.sh: $*" >&2; exit 1; }
port() { echo $((BASE + $1 - 1)); }
sql() {  # node, statement
    mariadb --no-defaults -uroot -h127.0.0.1 -P"$(port "$1")" -N -B -e "$2"
}
up() { sql "$1" "SHOW STATUS LIKE 'wsrep_ready'" 2>/dev/null | grep -q ON; }
synced() {
    sql "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | grep -q Synced
}
pidof_node() { cat "$STATE/node$1/mysqld.pid" 2>/dev/null || true; }

write_conf() {
    local i="$1" d="$STATE/node$1"
    mkdir -p "$d/data" "$d/tmp"
    cat >"$d/my.cnf" <<EOF
[mysqld]
user = $(id -un)
datadir = $d/data
tmpdir = $d/tmp
socket = $d/mysqld.sock
pid-file = $d/mysqld.pid
log-error = $d/error.log
port = $(port "$i")
bind-address = 127.0.0.1
skip-name-resolve
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
innodb_flush_log_at_trx_commit = 0
innodb_buffer_pool_size = 64M
performance_schema = OFF
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = $NAME
wsrep_cluster_address = gcomm://127.0.0.1:$((GCOMM + 1)),127.0.0.1:$((GCOMM + 2)),127.0.0.1:$((GCOMM + 3))
wsrep_node_name = node$i
wsrep_node_address = 127.0.0.1:$((GCOMM + i))
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:$((GCOMM + i));ist.recv_addr=127.0.0.1:$((GCOMM + 10 + i));gcache.size=64M"
wsrep_sst_method = mariabackup
wsrep_sst_auth = root:
wsrep_sst_receive_address = 127.0.0.1:$((GCOMM + 20 + i))
EOF
}

start_node() {  # node, extra args
    local i="$1"; shift
    local d="$STATE/node$i"
    (exec setsid mariadbd --defaults-file="$d/my.cnf" "$@" </dev/null >>"$d/stdout.log" 2>&1 9>&-) &
    local end=$(( $(date +%s) + 180 ))
    until synced "$i"; do
        [ "$(date +%s)" -lt "$end" ] || { tail -n 30 "$d/error.log" >&2; die "node $i not synced after 180 s"; }
        sleep 1
    done
    log "node $i synced on 127.0.0.1:$(port "$i")"
}

do_stop() {
    local i pid
    for i in 3 2 1; do
        pid="$(pidof_node "$i")"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $NODES; do
        pid="$(pidof_node "$i")"
        [ -n "$pid" ] || continue
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$STATE/node$i/mysqld.pid"
    done
}

nodes_line() {
    echo "GALERA_NODES=127.0.0.1:$(port 1),127.0.0.1:$(port 2),127.0.0.1:$(port 3)"
}

do_start() {
    command -v mariadbd >/dev/null || die "mariadbd is not installed"
    [ -f "$PROVIDER" ] || die "the galera provider $PROVIDER is missing (Debian package galera-4)"
    if ! command -v mariabackup >/dev/null; then
        log "installing mariadb-backup (the state transfer method)"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q mariadb-backup >&2 \
            || die "apt-get could not install mariadb-backup"
    fi
    local i all=1 any=0 pid
    for i in $NODES; do
        if synced "$i"; then any=1; else all=0; fi
    done
    if [ "$all" = 1 ]; then nodes_line; return 0; fi
    if [ "$any" = 1 ]; then
        # a lost node rejoins the running cluster (IST, or SST with mariabackup)
        for i in $NODES; do
            synced "$i" && continue
            pid="$(pidof_node "$i")"
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
            rm -f "$STATE/node$i/mysqld.pid"
            log "node $i rejoins"
            start_node "$i"
        done
        nodes_line
        return 0
    fi
    do_stop
    rm -rf "$STATE"
    for i in $NODES; do write_conf "$i"; done
    log "initialising node 1"
    mariadb-install-db --defaults-file="$STATE/node1/my.cnf" --auth-root-authentication-method=normal \
        --skip-test-db >"$STATE/node1/install.log" 2>&1 || { tail -n 20 "$STATE/node1/install.log" >&2; die "mariadb-install-db failed"; }
    start_node 1 --wsrep-new-cluster
    sql 1 "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
    for i in 2 3; do start_node "$i"; done
    nodes_line
}

do_status() {
    local i
    for i in $NODES; do
        echo "node $i 127.0.0.1:$(port "$i") $(sql "$i" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2 || echo down)"
    done
}

mkdir -p "$CACHE"
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
case "${1:-}" in
    start) flock 9; do_start ;;
    stop) flock 9; do_stop ;;
    status) do_status ;;
    kill)
        [ -n "${2:-}" ] || die "usage: $0 kill N"
        pid="$(pidof_node "$2")"
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true ;;
    *) die "usage: $0 start|stop|status|kill N" ;;
esac
