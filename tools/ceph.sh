#!/usr/bin/env bash
# A real single-node Ceph (Debian's packages) on 127.0.0.1 for the rbd store: 1 mon + 1 OSD
# (bluestore on a sparse file), no cephx, pool "images" rbd-initialised. Idempotent and
# flock-protected: one cluster is shared by every caller (xdist workers, benchmarks).
#
#   tools/ceph.sh start   install the packages if missing, start if not running, and make
#                         `import rados, rbd` work in $VENV (default .venv); the last stdout
#                         line is CEPH_CONF=<path of ceph.conf>
#   tools/ceph.sh stop    stop the daemons (only the pids recorded by start); data is kept
#   tools/ceph.sh purge   stop and delete the cluster data
#   tools/ceph.sh conf    print the ceph.conf path; exit 0 only if the cluster is running
#   tools/ceph.sh osds N  also run osd.1..osd.N (N <= 3; created once, bluestore on sparse
#                         files like osd.0) under a CRUSH root of their own, $CEPH_EXTRA_ROOT
#                         (glance-cluster), with a replicated rule "<root>-osd" placing copies
#                         on distinct OSDs of that root: a pool given that rule (make cluster's,
#                         size 2) lives on them only, while every other pool (rule 0, root
#                         "default") stays on osd.0. `start` restarts the extra OSDs it finds.
#   tools/ceph.sh stop-osd ID / start-osd ID   stop / start one extra OSD (never osd.0): the
#                         OSD-loss drill of benchmarks/cluster_drills.py
#   tools/ceph.sh rgw     also run radosgw (S3) on the cluster: starts the cluster first if
#                         needed (never restarts a running mon/osd), installs the Debian
#                         package radosgw if missing, makes the S3 user; prints
#                         RGW_ACCESS_KEY=, RGW_SECRET_KEY= and, last, RGW_URL=<url>
#
# State lives in $GLANCE_CLONE_CACHE/ceph (default ${XDG_CACHE_HOME:-~/.cache}/glance-clone).
# Ports: mon v2 $CEPH_MON_PORT (23310), v1 $CEPH_MON_V1_PORT (26710), daemons 26720-26799;
# chosen apart from the usual 3300/6789 so another test cluster on this host does not clash.
# radosgw (beast): 127.0.0.1:$CEPH_RGW_PORT (27580), path-style, S3 user "glance" with the
# access/secret keys $CEPH_RGW_ACCESS_KEY/$CEPH_RGW_SECRET_KEY (glance-rgw/glance-rgw-secret).
# Clients: CEPH_CONF=<conf>, user "admin" (no keyring needed: auth is "none").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-clone}"
C="$CACHE/ceph"
CONF="$C/ceph.conf"
RUN="$C/run"
LOG="$C/log"
PYLIB="$CACHE/ceph-pylib"
VENV="${VENV:-$ROOT/.venv}"
MON_V2="127.0.0.1:${CEPH_MON_PORT:-23310}"
MON_V1="127.0.0.1:${CEPH_MON_V1_PORT:-26710}"
POOL="${CEPH_RBD_POOL:-images}"
OSD_SIZE="${CEPH_OSD_SIZE:-10737418240}"
RGW_PORT="${CEPH_RGW_PORT:-27580}"
RGW_URL="http://127.0.0.1:$RGW_PORT"
RGW_ACCESS="${CEPH_RGW_ACCESS_KEY:-glance-rgw}"
RGW_SECRET="${CEPH_RGW_SECRET_KEY:-glance-rgw-secret}"
DIST=/usr/lib/python3/dist-packages
EXTRA_ROOT="${CEPH_EXTRA_ROOT:-glance-cluster}"
MAX_EXTRA_OSDS=3
export CEPH_CONF="$CONF"

log() { echo "[ceph.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "ceph.sh: $*" >&2; exit 1; }
alive() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
cephq() { timeout 20 ceph --connect-timeout 10 "$@"; }

install_packages() {  # [extra package]
    local need=()
    command -v ceph-mon >/dev/null || need+=(ceph)
    ls "$DIST"/rbd.cpython-*.so >/dev/null 2>&1 || need+=(python3-rados python3-rbd)
    [ "${1:-}" = radosgw ] && ! command -v radosgw >/dev/null && need+=(radosgw)
    [ ${#need[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        || die "Ceph packages (${need[*]}) are missing and apt-get cannot run here"
    log "installing ${need[*]} (Debian; takes a minute the first time)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    } || die "apt-get could not install ${need[*]}"
}

# Expose only Debian's two extension modules to the venv (not all of dist-packages, whose
# other packages would shadow the venv's). They are built for Debian's CPython (3.11).
link_python() {
    [ -x "$VENV/bin/python" ] || { log "no venv at $VENV; rados/rbd not linked"; return 0; }
    mkdir -p "$PYLIB"
    local m so
    for m in rados rbd; do
        so=$(ls "$DIST/$m".cpython-*.so | head -1)
        ln -sfn "$so" "$PYLIB/$(basename "$so")"
    done
    local sp
    sp=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$PYLIB" >"$sp/ceph-bindings.pth"
    "$VENV/bin/python" -c 'import rados, rbd' 2>/dev/null \
        || log "WARNING: 'import rados, rbd' fails in $VENV (Python ABI differs from Debian's?)"
}

healthy() {
    [ -f "$C/bootstrapped" ] && alive mon.a && alive osd.0 || return 1
    cephq osd dump 2>/dev/null | grep -q '^osd.0 up' || return 1
    cephq osd pool ls 2>/dev/null | grep -qx "$POOL"
}

start_daemon() {  # name, command... (foreground daemons, our own pid files)
    local name=$1; shift
    # NOTE: 9>&- so the daemon does not inherit (and hold forever) the flock of this script.
    nohup "$@" >>"$LOG/$name.out" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN/$name.pid"
}

wait_for() {  # description, seconds, command...
    local what=$1 secs=$2; shift 2
    local end=$(( $(date +%s) + secs )) d
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || { log "timeout waiting for $what"; return 1; }
        for d in mon.a osd.0 rgw; do
            if [ -f "$RUN/$d.pid" ] && ! alive "$d"; then
                log "$d exited; last log lines:"
                tail -20 "$LOG/$d.out" "$LOG/$d.log" >&2 2>/dev/null || true
                return 1
            fi
        done
        sleep 0.2
    done
}

write_conf() {  # fsid
    # NOTE: written aside and renamed: test processes read it (librados aborts the whole
    # process on a half-written conf) while another worker may be starting the cluster.
    cat >"$CONF.new" <<EOF
[global]
fsid = $1
mon_host = [v2:$MON_V2,v1:$MON_V1]
public_addr = 127.0.0.1
ms_bind_port_min = 26720
ms_bind_port_max = 26799
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# NOTE: the default (5 %) stops the mon on a nearly full disk of a shared test machine.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
# faster map commits for a one-node test cluster (default 1 s)
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
run_dir = $RUN
admin_socket = $RUN/\$name.asok
log_file = $LOG/\$name.log
log_to_stderr = false
err_to_stderr = true

[client]
# NOTE: many clients (api workers, tests) run at once: no shared admin socket to fight
# over, and librados' own log only on errors.
admin_socket =
log_file =

[mon]
mon_data = $C/\$name

[osd]
osd_data = $C/\$name
osd_objectstore = bluestore
osd_memory_target = 1073741824
# bluestore on a sparse file inside osd_data, created by mkfs
bluestore_block_create = true
bluestore_block_size = $OSD_SIZE
bluestore_cache_autotune = false
bluestore_cache_size = 268435456
EOF
    local id
    for id in $(seq 1 $MAX_EXTRA_OSDS); do
        cat >>"$CONF.new" <<EOF

[osd.$id]
# an extra OSD (tools/ceph.sh osds): placed in root $EXTRA_ROOT by osds, never moved into
# root default (where it would take PGs of the suite's size-1 pools) by its own start
osd_crush_update_on_start = false
bluestore_cache_size = 67108864
# a test cluster: recover at full speed (default: 0.1 s of sleep per op on an "hdd")
osd_recovery_sleep_hdd = 0
osd_max_backfills = 8
osd_recovery_max_active = 8
EOF
    done
    rgw_section >>"$CONF.new"
    mv -f "$CONF.new" "$CONF"
}

rgw_conf() {  # added to the conf of a running cluster too (mon/osd do not re-read it)
    grep -q '^\[client.rgw.a\]' "$CONF" && return 0
    { cat "$CONF"; rgw_section; } >"$CONF.new"
    mv -f "$CONF.new" "$CONF"
}

rgw_section() {
    cat <<EOF

[client.rgw.a]
# NOTE: radosgw defaults to ms_mon_client_mode = secure, which auth "none" cannot do
# (EACCES on connect).
ms_mon_client_mode = crc
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_data = $C/rgw
rgw_dns_name = 127.0.0.1
log_file = $LOG/rgw.log
EOF
}

bootstrap() {
    local fsid osd_uuid id
    rm -rf "$C"
    mkdir -p "$C" "$RUN" "$LOG"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    monmaptool --create --fsid "$fsid" --addv a "[v2:$MON_V2,v1:$MON_V1]" "$C/monmap" >/dev/null
    ceph-mon --mkfs -i a --monmap "$C/monmap" >>"$LOG/mon.a.out" 2>&1 \
        || die "ceph-mon --mkfs failed: $(tail -5 "$LOG/mon.a.out")"
    start_daemon mon.a ceph-mon -f -i a
    wait_for "mon" 30 cephq mon stat || die "mon did not start"
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(cephq osd new "$osd_uuid")
    [ "$id" = 0 ] || die "unexpected osd id $id"
    mkdir -p "$C/osd.0"
    ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$LOG/osd.0.out" 2>&1 \
        || die "ceph-osd --mkfs failed: $(tail -5 "$LOG/osd.0.out")"
    start_daemon osd.0 ceph-osd -f -i 0
    wait_for "osd.0 up" 60 sh -c 'ceph --connect-timeout 5 osd dump | grep -q "^osd.0 up"' \
        || die "osd.0 did not come up"
    cephq osd pool create "$POOL" 8 8 >/dev/null 2>&1
    cephq osd pool set "$POOL" size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
    timeout 60 rbd pool init "$POOL" || die "rbd pool init $POOL failed"
    touch "$C/bootstrapped"
    log "new cluster $fsid, pool $POOL"
}

do_start() {
    install_packages
    link_python
    if healthy; then
        echo "CEPH_CONF=$CONF"
        return 0
    fi
    # NOTE: on a loaded machine (radosgw creating its pools, two test workers) a health
    # query can time out while both daemons run: wait for them rather than restarting a
    # cluster other processes are using.
    if [ -f "$C/bootstrapped" ] && alive mon.a && alive osd.0 && wait_for "cluster" 90 healthy
    then
        echo "CEPH_CONF=$CONF"
        return 0
    fi
    do_stop
    if [ -f "$C/bootstrapped" ]; then
        # Keep the configuration in step with this script (same cluster, same fsid).
        write_conf "$(sed -n 's/^fsid = //p' "$CONF")"
        start_daemon mon.a ceph-mon -f -i a
        if wait_for "mon" 30 cephq mon stat; then
            start_daemon osd.0 ceph-osd -f -i 0
            wait_for "osd.0 up" 60 sh -c 'ceph --connect-timeout 5 osd dump | grep -q "^osd.0 up"' \
                || { log "existing cluster does not come up; re-creating it"; do_stop; bootstrap; }
        else
            log "existing mon does not come up; re-creating the cluster"; do_stop; bootstrap
        fi
    else
        bootstrap
    fi
    healthy || die "cluster not healthy; logs in $LOG"
    for id in $(extra_osds); do start_extra "$id"; done
    log "ready: CEPH_CONF=$CONF pool=$POOL"
    echo "CEPH_CONF=$CONF"
}

extra_osds() {  # ids of the extra OSDs created by `osds`
    local d
    for d in "$C"/osd.*; do
        [ -f "$d/extra-ready" ] && basename "$d" | sed 's/^osd\.//'
    done | sort -n
}

osd_up() { cephq osd dump 2>/dev/null | grep -q "^osd.$1 up"; }

start_extra() {  # id
    alive "osd.$1" && return 0
    # NOTE: never started without its [osd.N] section (a conf written by an older ceph.sh):
    # it would move itself into root default and take PGs of the suite's size-1 pools
    grep -q '^osd_recovery_sleep_hdd = 0' "$CONF" || write_conf "$(sed -n 's/^fsid = //p' "$CONF")"
    start_daemon "osd.$1" ceph-osd -f -i "$1"
    wait_for "osd.$1 up" 60 osd_up "$1" || die "osd.$1 did not come up; logs in $LOG"
}

do_osds() {  # N: osd.1..osd.N running in root $EXTRA_ROOT
    local n=${1:?usage: $0 osds N} id uuid got
    [ "$n" -ge 1 ] && [ "$n" -le $MAX_EXTRA_OSDS ] || die "osds: N from 1 to $MAX_EXTRA_OSDS"
    do_start >/dev/null
    # the [osd.N] sections (same cluster, same fsid), for a cluster bootstrapped before them
    grep -q '^osd_recovery_sleep_hdd = 0' "$CONF" || write_conf "$(sed -n 's/^fsid = //p' "$CONF")"
    cephq osd crush ls "$EXTRA_ROOT" >/dev/null 2>&1 \
        || cephq osd crush add-bucket "$EXTRA_ROOT" root >/dev/null
    for id in $(seq 1 "$n"); do
        if [ ! -f "$C/osd.$id/extra-ready" ]; then
            log "creating osd.$id in root $EXTRA_ROOT"
            uuid=$(cat /proc/sys/kernel/random/uuid)
            got=$(cephq osd new "$uuid")
            [ "$got" = "$id" ] || die "ceph osd new gave osd.$got, expected osd.$id"
            rm -rf "$C/osd.$id"
            mkdir -p "$C/osd.$id"
            ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" >>"$LOG/osd.$id.out" 2>&1 \
                || die "ceph-osd --mkfs of osd.$id failed: $(tail -5 "$LOG/osd.$id.out")"
            cephq osd crush add "osd.$id" 0.01 root="$EXTRA_ROOT" >/dev/null
            touch "$C/osd.$id/extra-ready"
        fi
        start_extra "$id"
    done
    cephq osd crush rule ls | grep -qx "$EXTRA_ROOT-osd" \
        || cephq osd crush rule create-replicated "$EXTRA_ROOT-osd" "$EXTRA_ROOT" osd >/dev/null
    echo "CRUSH_RULE=$EXTRA_ROOT-osd"
}

rgw_up() { alive rgw && curl -sf -o /dev/null --max-time 5 "$RGW_URL/"; }

do_rgw() {
    install_packages radosgw
    do_start >/dev/null
    if ! rgw_up; then
        stop_daemon rgw
        rgw_conf
        mkdir -p "$C/rgw"
        start_daemon rgw radosgw -f -n client.rgw.a
        # the first start creates radosgw's pools
        wait_for "radosgw on $RGW_URL" 180 curl -sf -o /dev/null --max-time 5 "$RGW_URL/" \
            || die "radosgw did not start; logs in $LOG/rgw.out, $LOG/rgw.log"
    fi
    if ! timeout 60 radosgw-admin user info --uid=glance 2>/dev/null | grep -q "\"$RGW_ACCESS\""
    then
        timeout 60 radosgw-admin user create --uid=glance --display-name=glance \
            --access-key="$RGW_ACCESS" --secret-key="$RGW_SECRET" >/dev/null \
            || die "radosgw-admin could not create the S3 user"
        log "radosgw ready: $RGW_URL"
    fi
    echo "RGW_ACCESS_KEY=$RGW_ACCESS"
    echo "RGW_SECRET_KEY=$RGW_SECRET"
    echo "RGW_URL=$RGW_URL"
}

stop_daemon() {  # name (only the pid recorded by start)
    local f="$RUN/$1.pid" pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

do_stop() {
    local d f pid
    stop_daemon rgw
    for d in $(extra_osds); do stop_daemon "osd.$d"; done
    for d in osd.0 mon.a; do
        f="$RUN/$d.pid"
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}

case "${1:-}" in
    conf) healthy && echo "$CONF"; exit ;;
esac
mkdir -p "$CACHE"
exec 9>"$CACHE/ceph.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    rgw) do_rgw ;;
    osds) do_osds "${2:-}" ;;
    stop-osd|start-osd)
        id="${2:?usage: $0 $1 ID}"
        [ "$id" != 0 ] && [ -f "$C/osd.$id/extra-ready" ] || die "osd.$id is not an extra OSD"
        if [ "$1" = stop-osd ]; then stop_daemon "osd.$id"; else start_extra "$id"; fi ;;
    stop) do_stop; log "stopped" ;;
    purge) do_stop; rm -rf "$C"; log "purged" ;;
    *) die "usage: $0 start|stop|purge|conf|rgw|osds N|stop-osd ID|start-osd ID" ;;
esac
