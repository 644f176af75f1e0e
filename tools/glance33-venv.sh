#!/usr/bin/env bash
# Build (once) a scratch venv holding real Glance 33.0.0, the schema oracle for glance_db.
# Usage: tools/glance33-venv.sh [DIR]   (default ${GLANCE33_VENV:-$HOME/.cache/glance-clone/glance33})
# Prints the venv directory on success. Idempotent: a finished venv is reused as is.
set -euo pipefail
DIR="${1:-${GLANCE33_VENV:-$HOME/.cache/glance-clone/glance33}}"
STAMP="$DIR/.glance33-installed"
if [ -f "$STAMP" ] && [ -x "$DIR/bin/glance-manage" ]; then
    echo "$DIR"
    exit 0
fi
mkdir -p "$(dirname "$DIR")"
# NOTE: a lock keeps two parallel test workers from building the same venv at once.
exec 9>"$DIR.lock"
flock 9
if [ ! -f "$STAMP" ]; then
    python3 -m venv "$DIR" >&2
    "$DIR/bin/pip" install -q --disable-pip-version-check "glance==33.0.0" pymysql >&2
    touch "$STAMP"
fi
echo "$DIR"
