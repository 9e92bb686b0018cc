#!/usr/bin/env bash
# Exact against approximate distinct counts: distinct authors per hour and per city every 10
# minutes over generated tweets whose authors are nearly all different.
# Usage: scripts/bench-approx.sh [TWEETS] [WORKERS] [RUNS]   (defaults: 2000000 2 3)
# Prints, for `distinct` and `approx_distinct`, the time, tweets/s and peak memory (maximum
# resident set size) of each run, and the hourly counts each gave.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-2000000}
workers=${2:-2}
runs=${3:-3}
work=${BENCH_DIR:-target/bench-approx}
mkdir -p "$work"
cargo build --release --quiet
input="$work/tweets-$tweets.jsonl"
# 500 tweets a second of event time from a billion possible authors: ~1.1 hours, and nearly
# every tweet by a different author.
[ -s "$input" ] || ./target/release/tidemark gen tweets --count "$tweets" --rate 500 \
  --users 1000000000 --skew 1 --seed 11 > "$input"
for kind in distinct approx_distinct; do
  for ((run = 1; run <= runs; run++)); do
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss" ./target/release/tidemark run \
      "benches/dataflows/users_$kind.toml" --source "file:$input" \
      --sink "jsonl:$work/$kind.jsonl" -w "$workers" --quiet 2> "$work/stderr" \
      || { cat "$work/stderr"; exit 1; }
    end=$(date +%s.%N)
    python3 - "$kind" "$start" "$end" "$tweets" "$(cat "$work/rss")" <<'PY'
import sys
kind, start, end, tweets, rss = sys.argv[1:]
seconds = float(end) - float(start)
print(f"{kind:>15}: {seconds:.2f} s, {int(tweets)/seconds:,.0f} tweets/s, peak RSS {int(rss)/1024:.0f} MiB")
PY
  done
  grep '"hourly_users"' "$work/$kind.jsonl" | grep '"final":true' | sed "s/^/  $kind: /"
done
