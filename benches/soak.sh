#!/usr/bin/env bash
# The queued-delivery soak of BENCHMARKS.md: `benches/soak.sh [SECONDS]
# [RATE]` (default 600 s at 50 leads a second). A queued route on the local
# store delivers to a loopback upstream (the `serve_sink` example) that
# answers 503 to a third of the attempts (picked by a hash); leads are
# posted at a steady rate for SECONDS, then the script waits until the
# store is empty and compares: every lead answered 202 must have reached
# the upstream (its Idempotency-Key seen with a 2xx), none twice. The
# schedule is 30 delays of 1 s, so that the drain is short (a lead fails 30
# times in a row once in 3^30). `PROFILE=debug` uses debug builds (the soak
# checks correctness, not speed). Prints one Markdown row.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
RATE=${2:-50}
PROFILE=${PROFILE:-release}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

flag=$([ "$PROFILE" = release ] && echo --release || true)
cargo build $flag --locked -p leadfilter --bin leadfilter --example serve_sink >&2
target=${CARGO_TARGET_DIR:-target}/$PROFILE
lf=$target/leadfilter
export LEADFILTER_CACHE_DIR="$work/cache"
export LEADFILTER_SECRET_PEPPER=bench-pepper-value-0123456789
export LEADFILTER_SECRET_BENCH_KEY=bench-key-value-0123456789
export LEADFILTER_SECRET_QUEUE_KEY=bench-queue-key-of-thirty-two-bytes-or-more

"$lf" compile examples/landing-page-to-crm/policy.yaml -o "$work/crm.wasm" 2>/dev/null
SINK_FAIL_EVERY=3 "$target/examples/serve_sink" >"$work/sink.addr" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/sink.addr" ] && break; sleep 0.1; done
upstream=$(head -n1 "$work/sink.addr")

cat >"$work/serve.yaml" <<YAML
listen: 127.0.0.1:0
logs: { access: 'off', audit: 'off' }
store: { type: local, path: store, key: queue-key }
routes:
  - path: /queued
    policy: crm.wasm
    auth: { type: api-key, keys: [bench-key] }
    upstream: { url: 'http://$upstream/hook', allow_http_loopback: true }
    delivery: { mode: queued, retry: [$(printf '1s, %.0s' $(seq 29))1s] }
YAML
"$lf" serve "$work/serve.yaml" 2>"$work/serve.log" &
pids+=($!)
proxy=""
for _ in $(seq 1200); do
  proxy=$(grep '"event":"listening"' "$work/serve.log" | sed 's/.*"addr":"\([^"]*\)".*/\1/' | head -n1 || true)
  [ -n "$proxy" ] && break
  sleep 0.1
done
[ -n "$proxy" ] || { cat "$work/serve.log" >&2; exit 1; }

# Post at a steady rate; count the answers.
python3 - "$proxy" "$DURATION" "$RATE" >"$work/load.json" <<'PY'
import concurrent.futures, json, sys, time, urllib.request
proxy, duration, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
lead = open("examples/landing-page-to-crm/lead.json", "rb").read()
def post(_):
    request = urllib.request.Request(f"http://{proxy}/queued", data=lead, method="POST",
        headers={"Content-Type": "application/json", "X-Api-Key": "bench-key-value-0123456789"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0
counts = {}
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    futures = []
    n = 0
    while (now := time.monotonic()) - start < duration:
        due = start + n / rate
        if due > now:
            time.sleep(due - now)
        futures.append(pool.submit(post, n))
        n += 1
    for f in futures:
        status = f.result()
        counts[status] = counts.get(status, 0) + 1
print(json.dumps({"sent": n, "statuses": counts, "seconds": time.monotonic() - start}))
PY

drain_start=$(date +%s)
pending=unknown
for _ in $(seq 1200); do
  pending=$("$lf" queue "$work/serve.yaml" stats --json | python3 -c 'import json,sys; print(sum(r["pending"] for r in json.load(sys.stdin).values()))')
  [ "$pending" = 0 ] && break
  sleep 1
done
drained=$(( $(date +%s) - drain_start ))
dead=$("$lf" queue "$work/serve.yaml" stats --json | python3 -c 'import json,sys; print(sum(r["dead"] for r in json.load(sys.stdin).values()))')
stats=$(curl -s "http://$upstream/stats")
python3 - "$(cat "$work/load.json")" "$stats" "$drained" "$pending" "$dead" "$DURATION" "$RATE" <<'PY'
import json, sys
load, sink = json.loads(sys.argv[1]), json.loads(sys.argv[2])
drained, pending, dead, duration, rate = sys.argv[3:8]
accepted = load["statuses"].get("202", 0)
ok = accepted == sink["delivered_keys"] and pending == "0" and dead == "0"
print("| seconds | leads/s | sent | accepted (202) | other answers | upstream attempts | of them 503 | delivered (distinct keys) | delivered twice | pending | dead | drained after | N accepted = N delivered |")
print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
others = {k: v for k, v in load["statuses"].items() if k != "202"} or "none"
print(f"| {duration} | {rate} | {load['sent']} | {accepted} | {others} | {sink['requests']} | {sink['failed']} | {sink['delivered_keys']} | {sink['duplicates']} | {pending} | {dead} | {drained} s | {'yes' if ok else 'NO'} |")
sys.exit(0 if ok else 1)
PY
