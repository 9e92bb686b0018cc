#!/usr/bin/env bash
# Dashboard benchmark: does serving slow the engine, and how fast are API reads?
# Usage: scripts/bench-dashboard.sh [TWEETS] [WORKERS] [RUNS]   (defaults: 1000000 2 5)
#
# 1. The evilnet dataflow over generated tweets (the inputs of scripts/bench-e2e.sh), RUNS
#    times without --http and RUNS times with --http and a client reading the API every
#    second, alternating; each run is timed from start until it prints its summary (its
#    input has ended and its results are written; with --http it then keeps serving, and is
#    stopped).
# 2. On the last served run: 500 reads of one output's last 6 hours for one key
#    (`city_stats`, Toronto), timed by curl.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
workers=${2:-2}
runs=${3:-5}
work=${BENCH_DIR:-target/bench-e2e}
BENCH_DIR=$work scripts/bench-e2e.sh "$tweets" "$workers" 2 0 > /dev/null
port=18089
api="http://127.0.0.1:$port/api/outputs"
source="file:$work/tweets-$tweets-in-2-*.jsonl"
: > "$work/dashboard-runs"

# Runs once; $1 is "plain" or "served". Prints the seconds until the input ended.
run_once() {
  local mode=$1 start end pid poller=""
  local args=(run dataflows/evilnet.toml --source "$source" --sink "jsonl:$work/out.jsonl" -w "$workers" --quiet)
  [ "$mode" = served ] && args+=(--http "127.0.0.1:$port")
  start=$(date +%s.%N)
  ./target/release/tidemark "${args[@]}" 2> "$work/dashboard-stderr" &
  pid=$!
  if [ "$mode" = served ]; then
    (while sleep 1; do
       curl -s -o /dev/null "$api/city_stats/rows?last=6h&key.city=Toronto%2C%20Ontario" || true
       curl -s -o /dev/null "$api/top_cities/latest" || true
     done) &
    poller=$!
  fi
  until grep -q '^summary' "$work/dashboard-stderr"; do sleep 0.005; done
  end=$(date +%s.%N)
  if [ "$mode" = served ]; then
    kill "$poller"
    for _ in $(seq 500); do
      curl -s -o /dev/null -w '%{time_total}\n' "$api/city_stats/rows?last=6h&key.city=Toronto%2C%20Ontario"
    done > "$work/dashboard-reads"
    kill -TERM "$pid"
  fi
  wait "$pid" || true
  echo "$mode $(python3 -c "print($end - $start)")" >> "$work/dashboard-runs"
}

for ((run = 1; run <= runs; run++)); do
  run_once plain
  run_once served
done
python3 - "$work/dashboard-runs" "$work/dashboard-reads" "$tweets" "$workers" <<'PY'
import statistics, sys
runs, reads, tweets, workers = sys.argv[1:]
times = {"plain": [], "served": []}
for line in open(runs):
    mode, seconds = line.split()
    times[mode].append(float(seconds))
for mode, values in times.items():
    print(f"{mode:>6}: median {statistics.median(values):.3f} s over {len(values)} runs "
          f"[{min(values):.3f} - {max(values):.3f}], {int(tweets)/statistics.median(values):,.0f} tweets/s (-w {workers})")
ratio = statistics.median(times["served"]) / statistics.median(times["plain"])
print(f"served / plain: {ratio:.3f}")
latencies = sorted(float(x) * 1000 for x in open(reads))
print(f"API read of city_stats, last 6h, one key: median {statistics.median(latencies):.2f} ms, "
      f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms over {len(latencies)} reads (curl time_total)")
PY
