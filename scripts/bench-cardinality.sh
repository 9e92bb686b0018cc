#!/usr/bin/env bash
# Cost against key cardinality: the evilnet dataflow over the same number of generated tweets
# from 30, 5 000 and 50 000 cities, with nearly every tweet by a different author.
# Usage: scripts/bench-cardinality.sh [TWEETS] [WORKERS] [RUNS] [CITIES...]
#        (defaults: 2000000 2 1 30 5000 50000)
# The tweets are two files (two partitions) of TWEETS/2 each, over the same event time.
# Prints, per city count, each run's time, tweets/s, peak memory (maximum resident set size)
# and result rows written.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-2000000}
workers=${2:-2}
runs=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
cities=("$@")
[ ${#cities[@]} -gt 0 ] || cities=(30 5000 50000)
work=${BENCH_DIR:-target/bench-cardinality}
mkdir -p "$work"
cargo build --release --quiet
half=$((tweets / 2))
for n in "${cities[@]}"; do
  for part in 1 2; do
    input="$work/tweets-$tweets-$n-$part.jsonl"
    # Uniform over cities and over a billion possible authors: ~every tweet a new author.
    [ -s "$input" ] || ./target/release/tidemark gen tweets --count "$half" --cities "$n" \
      --users 1000000000 --skew 1 --seed "$part" > "$input"
  done
  for ((run = 1; run <= runs; run++)); do
    /usr/bin/time -f "%e %M" -o "$work/time" ./target/release/tidemark run \
      dataflows/evilnet.toml --source "file:$work/tweets-$tweets-$n-*.jsonl" \
      --sink "jsonl:$work/rows.jsonl" -w "$workers" --quiet 2> "$work/stderr" \
      || { cat "$work/stderr"; exit 1; }
    read -r seconds rss < "$work/time"
    rows=$(wc -l < "$work/rows.jsonl")
    python3 - "$n" "$seconds" "$tweets" "$rss" "$rows" <<'PY'
import sys
n, seconds, tweets, rss, rows = sys.argv[1:]
seconds = float(seconds)
print(f"{int(n):>6} cities: {seconds:.2f} s, {int(tweets)/seconds:,.0f} tweets/s, "
      f"peak RSS {int(rss)/1024:.0f} MiB, {int(rows):,} rows")
PY
  done
done
