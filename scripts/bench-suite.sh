#!/usr/bin/env bash
# Runs the benchmark suite of docs/benchmarks.md: every figure three times,
# writing one JSON result per run to OUT (default ./bench-results) and a
# summary of medians to OUT/summary.txt.
#
#   scripts/bench-suite.sh [OUT] [DURATION]
#
# Pinned runs put the node on CPU 0 (taskset) and the load generator on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
dur=${2:-30s}
mkdir -p "$out"
go build -o "$out/dandan" ./cmd/dandan
bin=$out/dandan

run() { # name, then bench flags
  local name=$1; shift
  for i in 1 2 3; do
    echo "== $name run $i" >&2
    "$@" --duration "$dur" --json >"$out/$name-$i.json" 2>>"$out/$name.log"
  done
}

pinned() { # name, sync, then bench flags
  local name=$1 sync=$2; shift 2
  for i in 1 2 3; do
    local data port pid
    data=$(mktemp -d)
    port=$((18100 + RANDOM % 800))
    taskset -c 0 "$bin" serve --data "$data" --http 127.0.0.1:$port --sync "$sync" --password-hash fast \
      --send-rate 0 --auth-rate 0 --request-rate 0 --log-level warn >>"$out/$name.server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.1; done
    echo "== $name run $i (node pinned to CPU 0, bench to CPU 1)" >&2
    taskset -c 1 "$bin" bench --target http://127.0.0.1:$port --sync "$sync" "$@" --duration "$dur" --json \
      >"$out/$name-$i.json" 2>>"$out/$name.log"
    kill $pid; wait $pid 2>/dev/null || true
    rm -rf "$data"
  done
}

run 1to1 "$bin" bench --scenario 1to1
run 1to1-always "$bin" bench --scenario 1to1 --sync always
run group "$bin" bench --scenario group
pinned 1to1-pinned default --scenario 1to1
pinned 1to1-pinned-always always --scenario 1to1
pinned group-pinned default --scenario group
half=$(python3 -c "import json,statistics as s;print(int(s.median(json.load(open('$out/1to1-%d.json'%i))['acked_per_s'] for i in (1,2,3))/2))")
run 1to1-half "$bin" bench --scenario 1to1 --rate "$half"
ghalf=$(python3 -c "import json,statistics as s;print(int(s.median(json.load(open('$out/group-%d.json'%i))['acked_per_s'] for i in (1,2,3))/2))")
run group-half "$bin" bench --scenario group --rate "$ghalf"
# Half loads pinned too, at half of the pinned saturation.
phalf=$(python3 -c "import json,statistics as s;print(int(s.median(json.load(open('$out/1to1-pinned-%d.json'%i))['acked_per_s'] for i in (1,2,3))/2))")
pinned 1to1-pinned-half default --scenario 1to1 --rate "$phalf"
pghalf=$(python3 -c "import json,statistics as s;print(int(s.median(json.load(open('$out/group-pinned-%d.json'%i))['acked_per_s'] for i in (1,2,3))/2))")
pinned group-pinned-half default --scenario group --rate "$pghalf"

python3 - "$out" <<'PY' | tee "$out/summary.txt"
import json, statistics, sys, glob, os
out = sys.argv[1]
names = ["1to1", "1to1-always", "1to1-pinned", "1to1-pinned-always", "1to1-half", "1to1-pinned-half",
         "group", "group-pinned", "group-half", "group-pinned-half"]
keys = ["acked_per_s", "delivered_per_s", "ack_p99_ms", "e2e_p50_ms", "e2e_p99_ms", "e2e_store_p99_ms",
        "e2e_fanout_p99_ms", "errors", "baseline_publish_per_s", "ratio", "cpu_us_per_msg", "target_cpu_us_per_msg", "steal_pct"]
print("run".ljust(20) + "".join(k.rjust(24) for k in keys))
for n in names:
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, n + "-[0-9].json")))]
    if not runs:
        continue
    med = {k: statistics.median(r.get(k, 0) for r in runs) for k in keys}
    print(n.ljust(20) + "".join(f"{med[k]:24.3f}" if isinstance(med[k], float) else f"{med[k]:24}" for k in keys))
    print("  runs: " + "; ".join(f"{r['acked_per_s']:.0f} acked/s, {r['delivered_per_s']:.0f} delivered/s, e2e p99 {r['e2e_p99_ms']:.1f} ms, baseline {r['baseline_publish_per_s']:.0f}/s, steal {r.get('steal_pct', 0):.1f}%" for r in runs))
PY
