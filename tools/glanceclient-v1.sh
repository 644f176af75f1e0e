#!/usr/bin/env bash
# A scratch venv with python-glanceclient 2.17.1, the last release whose CLI speaks the
# Images API v1 (the seeds' `glance image-create --is-public True --progress`). It is kept
# apart from the project's venv, whose python-glanceclient is newer and has no v1.
#
#   tools/glanceclient-v1.sh          build once (flock-protected); print the `glance` path
#
# The venv lives in $GLANCE_CLONE_CACHE/glanceclient-v1-venv (default ~/.cache/glance-clone).
set -euo pipefail
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
VENV="$CACHE/glanceclient-v1-venv"
VERSION=2.17.1
mkdir -p "$CACHE"
exec 9>"$CACHE/glanceclient-v1.lock"
flock 9
if ! "$VENV/bin/python" -c "import glanceclient, sys
sys.exit(glanceclient.__version__ != '$VERSION')" 2>/dev/null; then
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/pip" install -q "python-glanceclient==$VERSION" >&2
fi
echo "$VENV/bin/glance"
