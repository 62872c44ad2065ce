#!/usr/bin/env bash
# The "Proxy" section of BENCHMARKS.md: `benches/serve.sh [SECONDS]` (default
# 10 per measurement). Builds leadfilter and a loopback upstream (the
# `serve_sink` example) in release mode, installs `wrk` if it is missing
# (apt-get), and sends the example lead (examples/landing-page-to-crm, 989
# bytes) through `leadfilter serve` (api-key check, the full example policy
# in a fresh instance per lead, then forwarded to the upstream on a direct
# route, or sealed and committed to the local store and answered 202 on a
# queued one) and, for comparison, straight to the upstream, at several
# concurrency levels. Each run is bounded by wrk's duration and by
# `timeout`. Prints a Markdown table, then waits until the queue is empty
# and compares the queued route's accepted and delivered counts.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
LEVELS=${LEVELS:-"1 4 16 64"}

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked -p leadfilter --bin leadfilter --example serve_sink >&2
target=${CARGO_TARGET_DIR:-target}
lf=$target/release/leadfilter
sink=$target/release/examples/serve_sink
export LEADFILTER_CACHE_DIR="$work/cache"
export LEADFILTER_SECRET_PEPPER=bench-pepper-value-0123456789
export LEADFILTER_SECRET_BENCH_KEY=bench-key-value-0123456789
export LEADFILTER_SECRET_QUEUE_KEY=bench-queue-key-of-thirty-two-bytes-or-more

"$lf" compile examples/landing-page-to-crm/policy.yaml -o "$work/crm.wasm" 2>/dev/null

"$sink" >"$work/sink.addr" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/sink.addr" ] && break; sleep 0.1; done
upstream=$(head -n1 "$work/sink.addr")

cat >"$work/serve.yaml" <<YAML
listen: 127.0.0.1:0
limits: { max_concurrent_requests: 1024 }
logs: { access: 'off', audit: 'off' }
store: { type: local, path: store, key: queue-key, max_bytes: 8589934592 }
routes:
  - path: /hook
    policy: crm.wasm
    auth: { type: api-key, keys: [bench-key] }
    upstream: { url: 'http://$upstream/hook', allow_http_loopback: true }
  - path: /queued
    policy: crm.wasm
    auth: { type: api-key, keys: [bench-key] }
    upstream: { url: 'http://$upstream/hook', allow_http_loopback: true }
    delivery: { mode: queued }
YAML
"$lf" serve "$work/serve.yaml" 2>"$work/serve.log" &
pids+=($!)
proxy=""
for _ in $(seq 100); do
  proxy=$(grep '"event":"listening"' "$work/serve.log" | sed 's/.*"addr":"\([^"]*\)".*/\1/' | head -n1 || true)
  [ -n "$proxy" ] && break
  sleep 0.1
done
[ -n "$proxy" ] || { cat "$work/serve.log" >&2; exit 1; }

# wrk posts the lead with the key and reports one JSON line.
python3 - "$work/post.lua" <<'PY'
import json, sys
lead = open("examples/landing-page-to-crm/lead.json").read()
open(sys.argv[1], "w").write(f"""
wrk.method = "POST"
wrk.body = {json.dumps(lead)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "bench-key-value-0123456789"
done = function(summary, latency, requests)
  local non2xx = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('{{"requests":%d,"seconds":%f,"p50_us":%d,"p99_us":%d,"errors":%d}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), non2xx))
end
""")
PY

measure() { # URL CONNECTIONS -> one JSON line
  local threads=$(( $2 < 2 ? 1 : 2 ))
  timeout $((SECONDS_PER_RUN + 30)) wrk -t"$threads" -c"$2" -d"${SECONDS_PER_RUN}s" -s "$work/post.lua" "$1" | tail -n1
}

measure "http://$proxy/hook" 4 >/dev/null # warm up
echo "| concurrency | direct route req/s | p50 | p99 | queued route req/s | p50 | p99 | upstream alone req/s | p50 | p99 | direct route / upstream | errors |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $LEVELS; do
  p=$(measure "http://$proxy/hook" "$c")
  q=$(measure "http://$proxy/queued" "$c")
  d=$(measure "http://$upstream/hook" "$c")
  python3 - "$c" "$p" "$q" "$d" <<'PY'
import json, sys
c, p, q, d = sys.argv[1], *(json.loads(a) for a in sys.argv[2:])
rate = lambda r: r["requests"] / r["seconds"]
ms = lambda us: f"{us / 1000:.2f} ms"
cells = lambda r: f"{rate(r):,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])}"
print(f"| {c} | {cells(p)} | {cells(q)} | {cells(d)} | {rate(p) / rate(d):.2f} | {p['errors'] + q['errors'] + d['errors']} |")
PY
done
# Every lead the queued route accepted (202) is delivered: wait until the
# store is empty, then compare the counts.
drain_start=$(date +%s.%N)
for _ in $(seq 600); do
  pending=$("$lf" queue "$work/serve.yaml" stats --json | python3 -c 'import json,sys; print(sum(r["pending"] for r in json.load(sys.stdin).values()))')
  [ "$pending" = 0 ] && break
  sleep 0.5
done
drained=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$drain_start" "$(date +%s.%N)")
metrics=$(curl -s "http://$proxy/metrics")
accepted=$(echo "$metrics" | grep -E '^leadfilter_requests_total\{route="/queued",status="202"\}' | awk '{print $2}')
delivered=$(echo "$metrics" | grep -E '^leadfilter_deliveries_total\{route="/queued",outcome="delivered"\}' | awk '{print $2}')
echo
echo "queued route: ${accepted:-0} accepted (202), ${delivered:-0} delivered, store empty ${drained} s after the last run (pending: $pending)"
echo "$metrics" | grep -E '^leadfilter_requests_total' >&2 || true
