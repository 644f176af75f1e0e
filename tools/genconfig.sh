#!/usr/bin/env bash
# Generate etc/glance-api.conf.sample and etc/glance-registry.conf.sample from the code's
# options (oslo-config-generator over the namespaces in etc/oslo-config-generator/).
# Usage: tools/genconfig.sh [OUT_DIR]   (default etc/; the unit tests pass a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-etc}"
GEN="${VENV:-.venv}/bin/oslo-config-generator"
[ -x "$GEN" ] || GEN=oslo-config-generator
mkdir -p "$OUT_DIR"
for conf in etc/oslo-config-generator/*.conf; do
    name="$(basename "$conf" .conf)"
    "$GEN" --config-file "$conf" --output-file "$OUT_DIR/$name.conf.sample"
done
