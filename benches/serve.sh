#!/usr/bin/env bash
# The "Proxy" section of BENCHMARKS.md: `benches/serve.sh [SECONDS]` (default
# 10 per measurement). Builds leadfilter and a loopback upstream (the
# `serve_sink` example) in release mode, installs `wrk` if it is missing
# (apt-get), and sends the example lead (examples/landing-page-to-crm, 989
# bytes) through `leadfilter serve` (api-key check, the full example policy
# in a fresh instance per lead, forward to the upstream) and, for
# comparison, straight to the upstream, at several concurrency levels. Each
# run is bounded by wrk's duration and by `timeout`. Prints a Markdown table.
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

"$lf" compile examples/landing-page-to-crm/policy.yaml -o "$work/crm.wasm" 2>/dev/null

"$sink" >"$work/sink.addr" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/sink.addr" ] && break; sleep 0.1; done
upstream=$(head -n1 "$work/sink.addr")

cat >"$work/serve.yaml" <<YAML
listen: 127.0.0.1:0
limits: { max_concurrent_requests: 1024 }
logs: { access: 'off', audit: 'off' }
routes:
  - path: /hook
    policy: crm.wasm
    auth: { type: api-key, keys: [bench-key] }
    upstream: { url: 'http://$upstream/hook', allow_http_loopback: true }
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
echo "| concurrency | proxy req/s | proxy p50 | proxy p99 | direct req/s | direct p50 | direct p99 | proxy / direct req/s | errors |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $LEVELS; do
  p=$(measure "http://$proxy/hook" "$c")
  d=$(measure "http://$upstream/hook" "$c")
  python3 - "$c" "$p" "$d" <<'PY'
import json, sys
c, p, d = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
rate = lambda r: r["requests"] / r["seconds"]
ms = lambda us: f"{us / 1000:.2f} ms"
print(f"| {c} | {rate(p):,.0f} | {ms(p['p50_us'])} | {ms(p['p99_us'])} | {rate(d):,.0f} | {ms(d['p50_us'])} | {ms(d['p99_us'])} | {rate(p) / rate(d):.2f} | {p['errors'] + d['errors']} |")
PY
done
curl -s "http://$proxy/metrics" | grep -E '^leadfilter_requests_total' >&2 || true
