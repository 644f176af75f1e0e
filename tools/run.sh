#!/usr/bin/env bash
# `make run`: a working Image service on 127.0.0.1 from a fresh clone, no auth.
# Writes $RUN_DIR/glance-{api,registry}.conf (SQLite DB and image files under $RUN_DIR),
# syncs the schema, starts glance-registry in the background and glance-api in the
# foreground. Ctrl-C stops both.
# Env: RUN_DIR (default .run), VENV (default .venv), GLANCE_API_PORT (9292),
#      GLANCE_REGISTRY_PORT (9191), GLANCE_DB_CONNECTION (default: SQLite file in $RUN_DIR;
#      e.g. mysql+pymysql://root@127.0.0.1:3306/glance?charset=utf8 for an existing database).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${RUN_DIR:-.run}"
VENV="${VENV:-.venv}"
API_PORT="${GLANCE_API_PORT:-9292}"
REG_PORT="${GLANCE_REGISTRY_PORT:-9191}"
mkdir -p "$RUN_DIR/images"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
BIN="$(cd "$VENV/bin" && pwd)"
DB="${GLANCE_DB_CONNECTION:-sqlite:///$RUN_DIR/glance.sqlite}"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$API_PORT" "$REG_PORT"; do
    if port_busy "$port"; then
        echo "port $port on 127.0.0.1 is already in use (set GLANCE_API_PORT /" \
             "GLANCE_REGISTRY_PORT to use others)" >&2
        exit 1
    fi
done

cat > "$RUN_DIR/glance-registry.conf" <<EOF
# Written by tools/run.sh; edit freely, it is rewritten on each \`make run\`.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $REG_PORT

[database]
connection = $DB
EOF

cat > "$RUN_DIR/glance-api.conf" <<EOF
# Written by tools/run.sh; edit freely, it is rewritten on each \`make run\`.
# No [paste_deploy] flavor: no authentication (like Glance's unauthenticated pipeline).
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $API_PORT
registry_host = 127.0.0.1
registry_port = $REG_PORT

[database]
connection = $DB

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $RUN_DIR/images
EOF

"$BIN/glance-manage" --config-file "$RUN_DIR/glance-registry.conf" db sync

REG_PID=""
API_PID=""
cleanup() {
    trap - INT TERM EXIT
    for pid in $API_PID $REG_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $API_PID $REG_PID; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

wait_ready() {  # NAME URL PID
    for _ in $(seq 1 300); do
        if ! kill -0 "$3" 2>/dev/null; then
            echo "$1 exited during start-up" >&2
            [ -f "$RUN_DIR/$1.log" ] && tail -n 30 "$RUN_DIR/$1.log" >&2
            exit 1
        fi
        if "$BIN/python" - "$2" <<'PY' 2>/dev/null
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200 else 1)
PY
        then return 0; fi
        sleep 0.2
    done
    echo "$1 did not become ready in 60 s" >&2
    exit 1
}

"$BIN/glance-registry" --config-file "$RUN_DIR/glance-registry.conf" \
    >>"$RUN_DIR/glance-registry.log" 2>&1 &
REG_PID=$!
wait_ready glance-registry "http://127.0.0.1:$REG_PORT/healthcheck" "$REG_PID"

# NOTE: the api logs to this terminal; the registry's log is in $RUN_DIR/glance-registry.log.
"$BIN/glance-api" --config-file "$RUN_DIR/glance-api.conf" &
API_PID=$!
wait_ready glance-api "http://127.0.0.1:$API_PORT/healthcheck" "$API_PID"

cat <<EOF

Glance Images API v2 (no auth) at http://127.0.0.1:$API_PORT   (registry at :$REG_PORT)
Config, database, images and logs: $RUN_DIR
Try:
  $BIN/openstack --os-auth-type none --os-endpoint http://127.0.0.1:$API_PORT image list
  $BIN/glance --os-image-url http://127.0.0.1:$API_PORT --os-auth-token x image-list
Ctrl-C stops both services.

EOF
wait "$API_PID"
