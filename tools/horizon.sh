#!/usr/bin/env bash
# Horizon, the OpenStack dashboard (horizon==27.0.0 with Django 5.2, Django's server on
# loopback), against the Keystone of tools/keystone.sh, for the browser tests (marker horizon).
# One instance per image upload mode; both may run at once. All commands are flock-protected.
#
#   tools/horizon.sh start [MODE]    MODE legacy (default) or direct: HORIZON_IMAGES_UPLOAD_MODE.
#                                    Builds the venv once, starts Keystone if needed, starts
#                                    this mode's Horizon if not running; the last stdout line
#                                    is HORIZON_URL=http://127.0.0.1:PORT
#   tools/horizon.sh stop [MODE]     stop it
#   tools/horizon.sh url [MODE]      print the URL; exit 0 only if it is running
#   tools/horizon.sh browser         install Debian's chromium and chromium-driver if missing
#                                    (apt-get, as root); print the chromium path
#
# Horizon finds the image service in the Keystone catalog, in region $HORIZON_SERVICES_REGION
# (default RegionOne): point it at a glance-api with `tools/keystone.sh register IMAGE_URL
# [REGION]`. A running Horizon started with another Keystone or region is restarted. For `direct` uploads the browser sends the bytes to
# that api itself, which then needs `[cors] allowed_origin = <this HORIZON_URL>`.
#
# State (local_settings.py, pid, port, log) lives in $GLANCE_CLONE_CACHE/horizon/MODE/
# (MODE-$HORIZON_INSTANCE/ when that is set: another instance, e.g. one per test worker)
# (default ~/.cache/glance-clone), the venv (with the collected, pre-compressed static files)
# in $GLANCE_CLONE_CACHE/horizon-venv. Keystone: $KEYSTONE_URL, else tools/keystone.sh start.
# Port: $HORIZON_PORT, else a free port picked at first start and remembered.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
HVENV="$CACHE/horizon-venv"
HOST=127.0.0.1
MARKER=glance-clone-horizon
HORIZON_VERSION=27.0.0
# NOTE: horizon 27.0.0 asks only Django>=4.2; Django 6 is newer than the releases it was
# tested with, so pin the LTS series its gate runs.
DJANGO_SPEC="Django>=5.2,<5.3"
# django-admin with one extra first argument (the marker), dropped before Django parses argv.
RUN_DJANGO='import sys; del sys.argv[1]; from django.core.management import execute_from_command_line as run; run(sys.argv)'

log() { echo "[horizon.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "horizon.sh: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

MODE="${2:-legacy}"
case "$MODE" in legacy|direct) ;; *) die "MODE must be legacy or direct, not '$MODE'" ;; esac
# HORIZON_INSTANCE names another pair of Horizons (the tests run one per xdist worker).
STATE="$CACHE/horizon/$MODE${HORIZON_INSTANCE:+-$HORIZON_INSTANCE}"

# running -> 0 if the pid file names a live Horizon of ours that answers on the saved port.
running() {
    local pid port
    [ -s "$STATE/horizon.pid" ] && [ -s "$STATE/port" ] || return 1
    pid="$(cat "$STATE/horizon.pid")"
    port="$(cat "$STATE/port")"
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER" || return 1
    curl -sf -o /dev/null -m 10 "http://$HOST:$port/auth/login/"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

REGION="${HORIZON_SERVICES_REGION:-RegionOne}"

# keystone_for_region URL -> URL, with localhost for 127.0.0.1 unless REGION is RegionOne.
# NOTE: after login Horizon takes its services' region from the catalog's identity endpoint
# whose URL equals OPENSTACK_KEYSTONE_URL (RegionOne's, made by keystone.sh bootstrap), and
# only when none does from DEFAULT_SERVICE_REGIONS: another spelling of the same address
# lets REGION win.
keystone_for_region() {
    if [ "$REGION" = RegionOne ]; then echo "$1"; else echo "${1/127.0.0.1/localhost}"; fi
}

# write_settings DIR KEYSTONE_URL MODE -> DIR/local/local_settings.py, which Horizon's
# settings.py imports as `local.local_settings` (DIR comes first on PYTHONPATH).
write_settings() {
    mkdir -p "$1/local"
    : > "$1/local/__init__.py"
    cat > "$1/local/local_settings.py" <<EOF
# Written by tools/horizon.sh on each start.
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = "glance-clone-horizon-test-only"
OPENSTACK_KEYSTONE_URL = "$(keystone_for_region "$2")/v3"
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = "Default"
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
# The image service comes from the catalog: interface public, this region (identity may
# be in another).
OPENSTACK_ENDPOINT_TYPE = "publicURL"
DEFAULT_SERVICE_REGIONS = {"*": "$REGION"}
HORIZON_IMAGES_UPLOAD_MODE = "$3"
# Sessions and caches in the process (Horizon's default wants memcached on :11211).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
# Static files are collected and compressed once, when the venv is built.
STATIC_ROOT = "$HVENV/static"
COMPRESS_OFFLINE = True
# NOTE: the smallest file Horizon's legacy upload keeps in memory; larger ones go to a
# temporary file first, as in production.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
EOF
}

manage() {
    local dir="$1"; shift
    (cd "$dir" && PYTHONPATH="$dir" DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
        "$HVENV/bin/python" -m django "$@")
}

build_venv() {
    [ -f "$HVENV/.installed-$HORIZON_VERSION" ] && return 0
    log "building $HVENV (horizon==$HORIZON_VERSION; takes minutes the first time)"
    [ -x "$HVENV/bin/python" ] || python3 -m venv "$HVENV" >&2 \
        || die "pip could not install horizon==$HORIZON_VERSION: python3 -m venv failed"
    "$HVENV/bin/pip" install -q --disable-pip-version-check \
        "horizon==$HORIZON_VERSION" "$DJANGO_SPEC" >&2 \
        || die "pip could not install horizon==$HORIZON_VERSION into $HVENV"
    # Static files do not depend on the mode or the Keystone URL: build them once.
    local tmp="$CACHE/horizon/build"
    write_settings "$tmp" "http://$HOST:5000" legacy
    log "collectstatic + compress"
    manage "$tmp" collectstatic --noinput -v0 >&2 || die "collectstatic failed"
    manage "$tmp" compress --force -v0 >&2 || die "compress failed"
    touch "$HVENV/.installed-$HORIZON_VERSION"
}

keystone_url() {
    if [ -n "${KEYSTONE_URL:-}" ]; then echo "$KEYSTONE_URL"; return; fi
    bash "$ROOT/tools/keystone.sh" start | tail -n 1 | sed -n 's/^KEYSTONE_URL=//p'
}

do_start() {
    local ks port pid
    ks="$(keystone_url)"
    [ -n "$ks" ] || die "no Keystone (tools/keystone.sh start failed)"
    if running && [ "$(cat "$STATE/started-with" 2>/dev/null)" = "$ks $REGION" ]; then
        echo "HORIZON_URL=http://$HOST:$(cat "$STATE/port")"
        return 0
    fi
    build_venv
    do_stop_quiet
    echo "$ks $REGION" > "$STATE/started-with"
    write_settings "$STATE" "$ks" "$MODE"
    port="${HORIZON_PORT:-}"
    if [ -z "$port" ]; then
        port="$(cat "$STATE/port" 2>/dev/null || true)"
        if [ -z "$port" ] || port_busy "$port"; then port="$(free_port)"; fi
    fi
    # NOTE: a remembered or probed port may be taken (by any socket) before Django binds it;
    # unless HORIZON_PORT fixes it, try another.
    local attempt
    for attempt in 1 2 3; do
        launch "$port" && break
        if [ -n "${HORIZON_PORT:-}" ] || [ "$attempt" = 3 ] \
                || ! tail -n 3 "$STATE/horizon.log" | grep -q "port is already in use"; then
            tail -n 30 "$STATE/horizon.log" >&2
            die "horizon did not start on port $port"
        fi
        port="$(free_port)"
    done
    running || { tail -n 30 "$STATE/horizon.log" >&2; die "horizon did not answer on port $port"; }
    echo "HORIZON_URL=http://$HOST:$port"
}

# launch PORT -> 0 once this mode's Horizon answers on PORT; 1 if it exited or never answered.
launch() {
    local port="$1" pid
    if port_busy "$port"; then
        echo "horizon.sh: port $port is already in use" >> "$STATE/horizon.log"
        return 1
    fi
    echo "$port" > "$STATE/port"
    log "starting horizon ($MODE uploads) on http://$HOST:$port (log $STATE/horizon.log)"
    # Django's own server: threaded, serves the static files (--insecure: with DEBUG off).
    # The marker rides in argv (dropped before Django parses it) so that stop never kills a
    # stranger. setsid: its own process group (pgid = pid); exec keeps the pid we record.
    (cd "$STATE" && export PYTHONPATH="$STATE" \
        DJANGO_SETTINGS_MODULE=openstack_dashboard.settings && exec setsid \
        "$HVENV/bin/python" -c "$RUN_DJANGO" "$MARKER" \
        runserver --insecure --noreload "$HOST:$port" \
        >> "$STATE/horizon.log" 2>&1 < /dev/null 9>&-) &
    pid=$!
    echo "$pid" > "$STATE/horizon.pid"
    for _ in $(seq 1 240); do
        curl -sf -o /dev/null -m 10 "http://$HOST:$port/auth/login/" && break
        kill -0 "$pid" 2>/dev/null || { rm -f "$STATE/horizon.pid"; return 1; }
        sleep 0.5
    done
    running || { do_stop_quiet; return 1; }
}

do_stop_quiet() {
    local pid
    [ -s "$STATE/horizon.pid" ] || return 0
    pid="$(cat "$STATE/horizon.pid")"
    if kill -0 "$pid" 2>/dev/null \
            && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$MARKER"; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/horizon.pid"
}

do_browser() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
            || die "chromium/chromedriver missing and cannot apt-get install them (not root)"
        log "installing chromium chromium-driver"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver \
                >/dev/null 2>&1 \
            || { apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
                 apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null 2>&1; } \
            || die "apt-get could not install chromium chromium-driver"
    fi
    command -v chromium
}

mkdir -p "$CACHE" "$STATE"
case "${1:-}" in
    url) running && echo "http://$HOST:$(cat "$STATE/port")"; exit ;;
esac
exec 9>"$CACHE/horizon.lock"
flock 9
case "${1:-}" in
    start) do_start ;;
    stop) do_stop_quiet ;;
    browser) do_browser ;;
    *) die "usage: $0 start|stop|url [legacy|direct] | browser" ;;
esac
