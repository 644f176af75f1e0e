#!/usr/bin/env bash
# Nova's own code (nova==34.0.0) in its own venv, for the consumer tests that drive this
# service with Nova's image path (tests/functional/consumers/): fetch_to_raw as the libvirt
# driver calls it, the snapshot upload, signature verification (cursive/castellan).
#
#   tools/nova.sh venv      build the venv once; the last stdout line is NOVA_PYTHON=<path>
#
# The venv lives in $GLANCE_CLONE_CACHE/nova-venv (default ~/.cache/glance-clone).
set -euo pipefail
CACHE="${GLANCE_CLONE_CACHE:-$HOME/.cache/glance-clone}"
NVENV="$CACHE/nova-venv"
NOVA_VERSION=34.0.0

log() { echo "[nova.sh $(date +%H:%M:%S)] $*" >&2; }
die() { echo "nova.sh: $*" >&2; exit 1; }

build_venv() {
    [ -f "$NVENV/.installed-$NOVA_VERSION" ] && return 0
    log "building $NVENV (nova==$NOVA_VERSION; takes minutes the first time)"
    [ -x "$NVENV/bin/python" ] || python3 -m venv "$NVENV" >&2 || die "python3 -m venv failed"
    "$NVENV/bin/pip" install -q --disable-pip-version-check "nova==$NOVA_VERSION" >&2 \
        || die "pip could not install nova==$NOVA_VERSION into $NVENV"
    command -v qemu-img >/dev/null || die "qemu-img is missing (tools/ensure-services.sh installs it)"
    touch "$NVENV/.installed-$NOVA_VERSION"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/nova.lock"
flock 9
case "${1:-}" in
    venv) build_venv; echo "NOVA_PYTHON=$NVENV/bin/python" ;;
    *) die "usage: $0 venv" ;;
esac
