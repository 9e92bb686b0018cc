#!/usr/bin/env bash
# Stock-tick benchmark: dataflows/stocks.toml over generated ticks, file -> JSONL.
# Usage: scripts/bench-stocks.sh [TICKS] [WORKERS] [RUNS]   (defaults: 5000000 2 3)
# The ticks are split into one file per worker; prints each run and the median ticks/s.
set -euo pipefail
cd "$(dirname "$0")/.."
ticks=${1:-5000000}
workers=${2:-2}
runs=${3:-3}
work=${BENCH_DIR:-target/bench-stocks}
mkdir -p "$work"
cargo build --release --quiet
per_file=$(( (ticks + workers - 1) / workers ))
for ((i = 0; i < workers; i++)); do
  out="$work/ticks-$ticks-in-$workers-$i.jsonl"
  [ -s "$out" ] || ./target/release/tidemark gen stocks --count "$per_file" --seed $((i + 1)) \
    --rate 100000 --disorder-s 1 > "$out"
done
rates=()
for ((r = 0; r < runs; r++)); do
  start=$(date +%s.%N)
  ./target/release/tidemark run dataflows/stocks.toml \
    --source "file:$work/ticks-$ticks-in-$workers-*.jsonl" --sink "jsonl:$work/out.jsonl" \
    -w "$workers" --quiet 2> "$work/stderr" || { cat "$work/stderr"; exit 1; }
  end=$(date +%s.%N)
  read_count=$(sed -n 's/^summary: read \([0-9]*\),.*/\1/p' "$work/stderr")
  rate=$(python3 -c "print(int($read_count / ($end - $start)))")
  echo "run $((r + 1)): $read_count ticks in $(python3 -c "print(f'{$end - $start:.2f}')") s: $rate ticks/s"
  rates+=("$rate")
done
printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {printf "stocks e2e (-w '"$workers"'): median %d ticks/s [%d - %d]\n", a[int((NR+1)/2)], a[1], a[NR]}'
