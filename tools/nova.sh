#!/usr/bin/env bash
# Nova's own code (nova==34.0.0) in its own venv, for the consumer tests that drive this
# service with Nova's image path (tests/functional/consumers/), and a real Nova that boots a
# server from an image of this service.
#
#   tools/nova.sh venv      build the venv once; the last stdout line is NOVA_PYTHON=<path>
#   tools/nova.sh start     a whole Nova on this machine, started if not running: placement
#                           (openstack-placement, gunicorn), nova-api (osapi_compute WSGI app,
#                           gunicorn), nova-conductor, nova-scheduler and nova-compute with the
#                           libvirt driver on QEMU TCG (virt_type = qemu; libvirtd and virtlogd
#                           started without systemd), cell_v2 set up, Keystone users and catalog
#                           entries (compute, placement), a flavor "gc.tiny". The last stdout
#                           line is NOVA_URL=http://127.0.0.1:PORT/v2.1. Where a component
#                           cannot run on this machine, exits 3 with a line
#                           "cannot run on this machine: <the component's exact error>".
#                           Neutron (neutron==29.0.0, its own venv, the API alone: ML2 with no
#                           mechanism driver, no agents) answers Nova's port look-ups: even
#                           with networks "none", nova-api's server show reads the ports'
#                           security groups and the compute's delete lists the server's ports.
#   tools/nova.sh stop      stop what start started (the pids it recorded)
#   tools/nova.sh status    the services' pids and the compute services Nova sees
#
# Nova's [glance] api_servers is http://127.0.0.1:$GLANCE_CLONE_NOVA_IMAGE_PORT (default
# 29293): the test that boots starts its image service there (as Cinder's tests do), because
# the other tests re-point the catalog's image endpoint and Nova keeps the first one it found.
# RabbitMQ at 127.0.0.1:5672 (guest/guest, vhost /), MariaDB at 127.0.0.1:3306 (root, no
# password): databases glance_clone_nova_api, glance_clone_nova_cell0, glance_clone_nova and
# glance_clone_placement.
#
# The venv lives in $GLANCE_CLONE_CACHE/nova-venv (default ~/.cache/glance-clone), the state
# (configuration, pids, logs) in $GLANCE_CLONE_CACHE/nova, the instances (and Nova's image
# cache, instances/_base) in $NOVA_INSTANCES_PATH (default /var/tmp/glance-clone-nova/instances).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
NVENV="$CACHE/nova-venv"
QVENV="$CACHE/neutron-venv"
NEUTRON_VERSION=29.0.0
STATE="$CACHE/nova"
NOVA_VERSION=34.0.0
PLACEMENT_VERSION=16.0.0
HOST=127.0.0.1
API_PORT="${NOVA_API_PORT:-28774}"
PLACEMENT_PORT="${NOVA_PLACEMENT_PORT:-28778}"
NEUTRON_PORT="${NOVA_NEUTRON_PORT:-28696}"
IMAGE_PORT="${GLANCE_CLONE_NOVA_IMAGE_PORT:-29293}"
NOVA_URL="http://$HOST:$API_PORT/v2.1"
PLACEMENT_URL="http://$HOST:$PLACEMENT_PORT"
NEUTRON_URL="http://$HOST:$NEUTRON_PORT"
# QEMU runs as libvirt-qemu: the instances' disks must be under directories it can traverse,
# which a home directory (mode 700) is not.
INSTANCES="${NOVA_INSTANCES_PATH:-/var/tmp/glance-clone-nova/instances}"
DB="mysql+pymysql://root@$HOST:3306"
SERVICES="neutron placement api conductor scheduler compute"
# Bump when the services' configuration changes: a running Nova of another version is
# restarted by start.
CONF_VERSION=6
# The Debian packages the libvirt driver needs: libvirtd + the QEMU driver, QEMU itself,
# qemu-img, and what libvirt-python builds against.
LIBVIRT_PACKAGES="libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils libvirt-dev pkg-config"

log() { echo "[nova.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "nova.sh: $*" >&2; exit 1; }
# A component that cannot run on this machine kind: the tests skip with this line.
cannot() { echo "nova.sh: cannot run on this machine: $*" >&2; exit 3; }
alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

build_venv() {
    [ -f "$NVENV/.installed-$NOVA_VERSION" ] && return 0
    log "building $NVENV (nova==$NOVA_VERSION; takes minutes the first time)"
    [ -x "$NVENV/bin/python" ] || python3 -m venv "$NVENV" >&2 || die "python3 -m venv failed"
    "$NVENV/bin/pip" install -q --disable-pip-version-check "nova==$NOVA_VERSION" >&2 \
        || die "pip could not install nova==$NOVA_VERSION into $NVENV"
    command -v qemu-img >/dev/null || die "qemu-img is missing (tools/ensure-services.sh installs it)"
    touch "$NVENV/.installed-$NOVA_VERSION"
}

# What the running services need beyond Nova's image code: placement, the libvirt binding,
# the WSGI server, the MySQL driver.
build_services_venv() {
    build_venv
    [ -f "$NVENV/.installed-services-$PLACEMENT_VERSION" ] && return 0
    install_libvirt
    log "installing openstack-placement==$PLACEMENT_VERSION, libvirt-python, gunicorn into $NVENV"
    "$NVENV/bin/pip" install -q --disable-pip-version-check \
        "openstack-placement==$PLACEMENT_VERSION" libvirt-python gunicorn pymysql >&2 \
        || die "pip could not install openstack-placement==$PLACEMENT_VERSION/libvirt-python into $NVENV"
    touch "$NVENV/.installed-services-$PLACEMENT_VERSION"
}

build_neutron_venv() {
    [ -f "$QVENV/.installed-$NEUTRON_VERSION" ] && return 0
    log "building $QVENV (neutron==$NEUTRON_VERSION)"
    [ -x "$QVENV/bin/python" ] || python3 -m venv "$QVENV" >&2 || die "python3 -m venv failed"
    "$QVENV/bin/pip" install -q --disable-pip-version-check "neutron==$NEUTRON_VERSION" \
        gunicorn pymysql >&2 || die "pip could not install neutron==$NEUTRON_VERSION into $QVENV"
    touch "$QVENV/.installed-$NEUTRON_VERSION"
}

install_libvirt() {
    command -v libvirtd >/dev/null && command -v qemu-system-x86_64 >/dev/null \
        && command -v pkg-config >/dev/null && pkg-config --exists libvirt && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        || cannot "libvirtd/QEMU are not installed and this user cannot apt-get install them"
    log "installing $LIBVIRT_PACKAGES"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        --no-install-recommends $LIBVIRT_PACKAGES >&2 \
        || { apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
                -o DPkg::Lock::Timeout=600 --no-install-recommends $LIBVIRT_PACKAGES >&2; } \
        || cannot "apt-get install $LIBVIRT_PACKAGES failed"
}

# libvirtd (and virtlogd, which keeps the guests' console logs) without systemd. One libvirtd
# per machine: one already answering on qemu:///system is used as it is.
ensure_libvirtd() {
    local out
    if ! pgrep -x virtlogd >/dev/null; then
        # NOTE: 9>&- here and below: a daemon must not hold this script's flock.
        virtlogd -d >&2 9>&- || cannot "virtlogd -d failed"
    fi
    if virsh -c qemu:///system version >/dev/null 2>&1; then
        return 0
    fi
    log "starting libvirtd"
    libvirtd -d -p "$STATE/libvirtd.pid" 2>"$STATE/libvirtd.err" 9>&- \
        || cannot "libvirtd -d: $(cat "$STATE/libvirtd.err")"
    for _ in $(seq 1 60); do
        out="$(virsh -c qemu:///system version 2>&1)" && break
        sleep 0.5
    done
    virsh -c qemu:///system version >/dev/null 2>&1 || cannot "libvirtd does not answer: $out"
    # QEMU with TCG must be usable by libvirt: its domain capabilities say so.
    out="$(virsh -c qemu:///system domcapabilities --virttype qemu 2>&1)" \
        || cannot "libvirt has no QEMU (TCG) domain type: $out"
}

create_dbs() {
    "$NVENV/bin/python" - <<'PY' || die "cannot create Nova's databases in MariaDB"
import pymysql
c = pymysql.connect(host='127.0.0.1', port=3306, user='root', password='')
for name in ('glance_clone_nova_api', 'glance_clone_nova_cell0', 'glance_clone_nova',
             'glance_clone_placement', 'glance_clone_neutron'):
    c.cursor().execute('CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8' % name)
c.close()
PY
}

# The [keystone_authtoken] and service-client sections for a service user.
auth_section() {  # section keystone user
    cat <<EOF
[$1]
auth_url = $2/v3
www_authenticate_uri = $2/v3
auth_type = password
username = $3
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

write_conf() {  # keystone URL
    local ks="$1"
    mkdir -p "$STATE/lock" "$INSTANCES" "$STATE/placement-etc" "$STATE/etc"
    chmod 755 "$INSTANCES" "$(dirname "$INSTANCES")"
    mkdir -p "$STATE/neutron-etc/plugins/ml2" "$STATE/neutron-state"
    {
        cat <<EOF
# Written by tools/nova.sh on each start.
[DEFAULT]
debug = True
use_stderr = True
core_plugin = ml2
# NOTE: the port list joins the routers' port forwardings; without these plugins their
# model is not loaded and GET /v2.0/ports fails (Port has no attribute port_forwardings).
service_plugins = router, port_forwarding
auth_strategy = keystone
state_path = $STATE/neutron-state
api_paste_config = $QVENV/etc/neutron/api-paste.ini
transport_url = rabbit://guest:guest@$HOST:5672/
notify_nova_on_port_status_changes = False
notify_nova_on_port_data_changes = False
[database]
connection = $DB/glance_clone_neutron?charset=utf8
[oslo_concurrency]
lock_path = $STATE/lock
EOF
        auth_section keystone_authtoken "$ks" nova
    } >"$STATE/neutron-etc/neutron.conf"
    cat >"$STATE/neutron-etc/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
EOF
    # NOTE: Port.port_forwardings is a backref, there only once SQLAlchemy has configured
    # the mappers; Neutron 29's API process lists ports before anything did that
    # ("type object 'Port' has no attribute 'port_forwardings'").
    printf '%s\n' 'import sys' 'sys.argv = sys.argv[:1]' \
        'from neutron.wsgi.api import application  # noqa: E402,F401' \
        'from sqlalchemy import orm  # noqa: E402' 'orm.configure_mappers()' \
        >"$STATE/neutron_api_wsgi.py"
    {
        cat <<EOF
# Written by tools/nova.sh on each start.
[DEFAULT]
debug = True
use_stderr = True
[placement_database]
connection = $DB/glance_clone_placement?charset=utf8
[api]
auth_strategy = keystone
EOF
        auth_section keystone_authtoken "$ks" placement
    } >"$STATE/placement-etc/placement.conf"
    {
        cat <<EOF
# Written by tools/nova.sh on each start.
[DEFAULT]
debug = True
host = glance-clone
my_ip = $HOST
state_path = $STATE
instances_path = $INSTANCES
transport_url = rabbit://guest:guest@$HOST:5672/
compute_driver = libvirt.LibvirtDriver
# no neutron: servers are created with --nic none (networks "none", microversion >= 2.37)
# NOTE: a loaded 2-core machine can be late with a heartbeat; the default 60 s would make
# the scheduler think the compute service down.
service_down_time = 300
# 64 MiB guests on a shared machine: no overcommit refusals from placement.
initial_ram_allocation_ratio = 4.0
initial_disk_allocation_ratio = 4.0

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = $NVENV/etc/nova/api-paste.ini

[api_database]
connection = $DB/glance_clone_nova_api?charset=utf8

[database]
connection = $DB/glance_clone_nova?charset=utf8

[oslo_concurrency]
lock_path = $STATE/lock

[glance]
# this service (the test that boots starts its api here)
api_servers = http://$HOST:$IMAGE_PORT
region_name = RegionOne

[libvirt]
virt_type = qemu
connection_uri = qemu:///system
# TCG: no host CPU passthrough
cpu_mode = none

[vnc]
enabled = False

[scheduler]
# discover_hosts is run by this script once the compute service is up
discover_hosts_in_cells_interval = -1

[compute]
# the flavor's disk is 1 GiB; this machine's free space is what it is
max_disk_devices_to_attach = 8

[nova_sys_admin]
helper_command = $NVENV/bin/privsep-helper --config-file $STATE/etc/nova.conf

[privsep_osbrick]
helper_command = $NVENV/bin/privsep-helper --config-file $STATE/etc/nova.conf

[vif_plug_linux_bridge_privileged]
helper_command = $NVENV/bin/privsep-helper --config-file $STATE/etc/nova.conf

[vif_plug_ovs_privileged]
helper_command = $NVENV/bin/privsep-helper --config-file $STATE/etc/nova.conf

EOF
        auth_section keystone_authtoken "$ks" nova
        echo
        auth_section placement "$ks" placement
        echo
        auth_section neutron "$ks" nova
        echo
        auth_section service_user "$ks" nova
        echo "send_service_user_token = True"
    } >"$STATE/etc/nova.conf"
    cp "$NVENV/etc/nova/api-paste.ini" "$STATE/etc/api-paste.ini"
    # Nova's WSGI app parses sys.argv as its own command line: give it none of gunicorn's.
    printf '%s\n' 'import sys' 'sys.argv = sys.argv[:1]' \
        'from nova.wsgi.osapi_compute import application  # noqa: E402,F401' \
        >"$STATE/nova_api_wsgi.py"
    echo "$CONF_VERSION" >"$STATE/conf-version"
}

# Keystone: users nova and placement (project service, role admin), the compute and
# placement services with their endpoints (RegionOne). Idempotent.
register() {  # keystone URL
    "$CACHE/keystone-venv/bin/python" - "$1" "$NOVA_URL" "$PLACEMENT_URL" "$NEUTRON_URL" <<'PY' >&2
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
base, nova, placement, neutron = sys.argv[1] + '/v3', sys.argv[2], sys.argv[3], sys.argv[4]
s = session.Session(auth=v3.Password(
    auth_url=base, username='admin', password='secret', project_name='admin',
    user_domain_id='default', project_domain_id='default'))
def one(kind, key, params):
    return s.get(base + '/' + kind, params=params).json()[key]
project = one('projects', 'projects', {'name': 'service'})[0]
admin = one('roles', 'roles', {'name': 'admin'})[0]
# Nova sends its own token beside the user's (X-Service-Token); Neutron's keystonemiddleware
# wants the "service" role on it, and answers 401 otherwise.
services = one('roles', 'roles', {'name': 'service'})
service = services[0] if services else s.post(base + '/roles', json={'role': {
    'name': 'service'}}).json()['role']
for name in ('nova', 'placement'):
    users = one('users', 'users', {'name': name})
    user = users[0] if users else s.post(base + '/users', json={'user': {
        'name': name, 'password': 'secret', 'domain_id': 'default'}}).json()['user']
    for role in (admin, service):
        s.put(base + '/projects/%s/users/%s/roles/%s' % (project['id'], user['id'], role['id']))
for stype, name, url in (('compute', 'nova', nova), ('placement', 'placement', placement),
                         ('network', 'neutron', neutron)):
    svcs = one('services', 'services', {'type': stype})
    svc = svcs[0] if svcs else s.post(base + '/services', json={'service': {
        'name': name, 'type': stype}}).json()['service']
    for iface in ('public', 'internal', 'admin'):
        eps = one('endpoints', 'endpoints', {'service_id': svc['id'], 'interface': iface})
        if [e['url'] for e in eps] == [url]:
            continue
        for ep in eps:
            s.delete(base + '/endpoints/' + ep['id'])
        s.post(base + '/endpoints', json={'endpoint': {
            'service_id': svc['id'], 'interface': iface, 'url': url, 'region_id': 'RegionOne'}})
PY
}

manage() { "$NVENV/bin/nova-manage" --config-file "$STATE/etc/nova.conf" "$@" \
               >>"$STATE/nova-manage.log" 2>&1; }

sync_dbs() {
    "$NVENV/bin/placement-manage" --config-file "$STATE/placement-etc/placement.conf" db sync \
        >>"$STATE/placement-manage.log" 2>&1 || die "placement-manage db sync failed (see $STATE/placement-manage.log)"
    "$QVENV/bin/neutron-db-manage" --config-file "$STATE/neutron-etc/neutron.conf" \
        --config-file "$STATE/neutron-etc/plugins/ml2/ml2_conf.ini" upgrade heads \
        >>"$STATE/neutron-db-manage.log" 2>&1 \
        || die "neutron-db-manage upgrade heads failed (see $STATE/neutron-db-manage.log)"
    manage api_db sync || die "nova-manage api_db sync failed (see $STATE/nova-manage.log)"
    manage cell_v2 map_cell0 --database_connection "$DB/glance_clone_nova_cell0?charset=utf8" \
        || die "nova-manage cell_v2 map_cell0 failed (see $STATE/nova-manage.log)"
    if ! "$NVENV/bin/nova-manage" --config-file "$STATE/etc/nova.conf" cell_v2 list_cells \
            2>/dev/null | grep ' cell1 ' >/dev/null; then
        manage cell_v2 create_cell --name cell1 --verbose \
            || die "nova-manage cell_v2 create_cell failed (see $STATE/nova-manage.log)"
    fi
    manage db sync || die "nova-manage db sync failed (see $STATE/nova-manage.log)"
}

start_service() {  # name command...
    local name="$1"; shift
    # NOTE: 9>&- so the service does not hold this script's flock; setsid so stop can end
    # the whole group (gunicorn workers, privsep helpers).
    (cd "$STATE" && exec setsid "$@" >>"$STATE/$name.log" 2>&1 </dev/null 9>&-) &
    echo $! >"$STATE/$name.pid"
}

wait_http() {  # name url expected-status seconds
    local end=$(( $(date +%s) + $4 ))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$2")" = "$3" ]; do
        alive "$1" || { tail -30 "$STATE/$1.log" >&2; die "$1 exited (log $STATE/$1.log)"; }
        [ "$(date +%s)" -lt "$end" ] || die "$1 does not answer at $2 after $4 s"
        sleep 0.5
    done
}

# Wait until the compute service is up and its resource provider is in placement, map the
# host to cell1 (discover_hosts), and make the flavor.
wait_compute() {
    local end=$(( $(date +%s) + 240 ))
    until "$NVENV/bin/python" - "$STATE/etc/nova.conf" <<'PY' 2>>"$STATE/wait.log"
import sys
from keystoneauth1 import loading, session
from oslo_config import cfg
conf = cfg.ConfigOpts()
loading.register_auth_conf_options(conf, 'placement')
loading.register_session_conf_options(conf, 'placement')
conf(['--config-file', sys.argv[1]], project='nova')
auth = loading.load_auth_from_conf_options(conf, 'placement')
s = session.Session(auth=auth)
rps = s.get('/resource_providers', endpoint_filter={'service_type': 'placement'},
            headers={'OpenStack-API-Version': 'placement 1.14'}).json()['resource_providers']
sys.exit(0 if rps else 1)
PY
    do
        alive compute || {
            # the libvirt driver's own words on why it cannot run here
            grep -E 'ERROR|CRITICAL' "$STATE/compute.log" | tail -5 >&2
            cannot "nova-compute exited: $(grep -E 'ERROR|CRITICAL' "$STATE/compute.log" | tail -1)"
        }
        [ "$(date +%s)" -lt "$end" ] || {
            grep -E 'ERROR|CRITICAL' "$STATE/compute.log" | tail -5 >&2
            die "nova-compute has no resource provider in placement after 240 s (log $STATE/compute.log)"
        }
        sleep 2
    done
    manage cell_v2 discover_hosts --verbose || die "nova-manage cell_v2 discover_hosts failed"
}

ensure_flavor() {  # keystone URL
    "$NVENV/bin/python" - "$1" <<'PY' >&2
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
s = session.Session(auth=v3.Password(
    auth_url=sys.argv[1] + '/v3', username='admin', password='secret', project_name='admin',
    user_domain_id='default', project_domain_id='default'))
ef = {'service_type': 'compute', 'interface': 'public'}
names = [f['name'] for f in s.get('/flavors', endpoint_filter=ef).json()['flavors']]
if 'gc.tiny' not in names:
    s.post('/flavors', endpoint_filter=ef, json={'flavor': {
        'name': 'gc.tiny', 'ram': 64, 'vcpus': 1, 'disk': 1, 'id': 'gc-tiny'}})
PY
}

running_all() {
    local s
    for s in $SERVICES; do alive "$s" || return 1; done
    [ "$(cat "$STATE/conf-version" 2>/dev/null)" = "$CONF_VERSION" ] \
        && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$NOVA_URL/")" = 200 ]
}

do_start() {
    local ks
    build_services_venv
    build_neutron_venv
    if running_all && virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "NOVA_INSTANCES_PATH=$INSTANCES"
        echo "NOVA_URL=$NOVA_URL"
        return 0
    fi
    do_stop
    port_busy 3306 || bash "$ROOT/tools/ensure-services.sh" >&2 || die "MariaDB is not reachable"
    port_busy 5672 || die "RabbitMQ is not reachable on $HOST:5672"
    for p in "$API_PORT" "$PLACEMENT_PORT" "$NEUTRON_PORT"; do
        port_busy "$p" && die "port $p on $HOST is already in use"
    done
    ensure_libvirtd
    ks="$(bash "$ROOT/tools/keystone.sh" start | tail -1 | cut -d= -f2-)"
    create_dbs
    write_conf "$ks"
    register "$ks"
    sync_dbs
    log "starting neutron (API only) on $NEUTRON_URL"
    start_service neutron env OS_NEUTRON_CONFIG_DIR="$STATE/neutron-etc" \
        "$QVENV/bin/gunicorn" --bind "$HOST:$NEUTRON_PORT" --workers 1 --threads 4 \
        --worker-class gthread --timeout 120 --no-control-socket --name glance-clone-neutron \
        --pythonpath "$STATE" neutron_api_wsgi:application
    wait_http neutron "$NEUTRON_URL/" 200 180
    log "starting placement on $PLACEMENT_URL"
    start_service placement env OS_PLACEMENT_CONFIG_DIR="$STATE/placement-etc" \
        "$NVENV/bin/gunicorn" --bind "$HOST:$PLACEMENT_PORT" --workers 1 --threads 4 \
        --worker-class gthread --timeout 120 --no-control-socket --name glance-clone-placement \
        placement.wsgi.api:application
    wait_http placement "$PLACEMENT_URL/" 200 120
    log "starting nova-api on $NOVA_URL"
    start_service api env OS_NOVA_CONFIG_DIR="$STATE/etc" \
        "$NVENV/bin/gunicorn" --bind "$HOST:$API_PORT" --workers 1 --threads 4 \
        --worker-class gthread --timeout 120 --no-control-socket --name glance-clone-nova-api \
        --pythonpath "$STATE" nova_api_wsgi:application
    wait_http api "$NOVA_URL/" 200 120
    local s
    for s in conductor scheduler compute; do
        log "starting nova-$s"
        start_service "$s" "$NVENV/bin/nova-$s" --config-file "$STATE/etc/nova.conf"
    done
    wait_compute
    ensure_flavor "$ks"
    log "ready: $NOVA_URL (logs in $STATE)"
    echo "NOVA_INSTANCES_PATH=$INSTANCES"
    echo "NOVA_URL=$NOVA_URL"
}

do_stop() {
    local s f pid
    for s in $SERVICES; do
        f="$STATE/$s.pid"
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}

do_status() {
    local s
    for s in $SERVICES; do
        if alive "$s"; then echo "$s: running (pid $(cat "$STATE/$s.pid"))"; else echo "$s: stopped"; fi
    done
    virsh -c qemu:///system list --all 2>&1 || true
}

mkdir -p "$CACHE" "$STATE"
exec 9>"$CACHE/nova.lock"
flock 9
case "${1:-}" in
    venv) build_venv; echo "NOVA_PYTHON=$NVENV/bin/python" ;;
    start) do_start ;;
    stop) do_stop; log "stopped" ;;
    status) do_status ;;
    *) die "usage: $0 venv|start|stop|status" ;;
esac
