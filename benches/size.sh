#!/usr/bin/env bash
# Reproduces the "Size at the edge" tables of BENCHMARKS.md:
# `benches/size.sh [N]` (default 2000 leads). For each benchmark policy it
# compiles the component, transpiles it with jco (plain, and with binaryen's
# wasm-opt -O3 and -Oz), and prints sizes (raw, gzip, brotli) and leads/s
# through the JavaScript module in Node.js. Needs python3, Node.js 20+ and
# npm; builds leadfilter (debug: the component is the same bytes whichever
# profile compiles it) unless LEADFILTER_BIN names a binary.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -z ${LEADFILTER_BIN:-} ]]; then
  cargo build --locked -p leadfilter --bin leadfilter >&2
  target_dir=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
  LEADFILTER_BIN=$target_dir/debug/leadfilter
fi
(cd edge && npm ci --no-audit --no-fund >&2)
export LEADFILTER_SECRET_PEPPER=bench-pepper-value-0123456789
python3 benches/gen_leads.py "$N" 42 >"$work/leads.ndjson"

engine=host/engine/leadfilter-engine.wasm
echo "Engine \`$engine\`: $(wc -c <"$engine") bytes, gzip $(gzip -9c "$engine" | wc -c) bytes."
echo "Node.js $(node --version), $(nproc) cores, $(date -u +%Y-%m-%d)."
for policy in examples/landing-page-to-crm/policy.yaml benches/projection.yaml; do
  "$LEADFILTER_BIN" compile "$policy" -o "$work/policy.wasm" >&2
  echo
  echo "### \`$policy\`"
  echo
  node edge/bench/bench.js "$work/policy.wasm" "$work/leads.ndjson"
done
