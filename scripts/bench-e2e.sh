#!/usr/bin/env bash
# End-to-end benchmark: the evilnet dataflow over generated tweets, file -> JSONL.
# Usage: scripts/bench-e2e.sh [TWEETS] [WORKERS] [FILES] [RUNS] [one-file]
#        (defaults: 1000000 2 2 1)
# Prints events/s and peak memory (maximum resident set size) for each run, and with more
# than one run their median and range (this machine's speed varies from run to run).
# With `one-file`, the same FILES files are read as one file, their lines interleaved (the
# same tweets, the one big file most users have).
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
workers=${2:-2}
files=${3:-2}
runs=${4:-1}
mode=${5:-files}
case "$mode" in files|one-file) ;; *) echo "unknown mode $mode (files or one-file)" >&2; exit 2;; esac
work=${BENCH_DIR:-target/bench-e2e}
mkdir -p "$work"
cargo build --release --quiet
per_file=$(( (tweets + files - 1) / files ))
for ((i = 0; i < files; i++)); do
  out="$work/tweets-$tweets-in-$files-$i.jsonl"
  [ -s "$out" ] || ./target/release/tidemark gen tweets --count "$per_file" --seed $((i + 1)) \
    --disorder-s 30 --very-late 0.001 --rate $((2000 / files)) > "$out"
done
source="$work/tweets-$tweets-in-$files-*.jsonl"
if [ "$mode" = one-file ]; then
  one="$work/tweets-$tweets-from-$files-as-one.jsonl"
  [ -s "$one" ] || paste -d '\n' "$work"/tweets-"$tweets"-in-"$files"-*.jsonl | grep -v '^$' > "$one"
  source="$one"
  files="1 (from $files)"
fi
bytes=$(cat $source | wc -c)
: > "$work/runs"
for ((run = 1; run <= runs; run++)); do
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" ./target/release/tidemark run dataflows/evilnet.toml \
    --source "file:$source" --sink "jsonl:$work/out.jsonl" -w "$workers" --quiet \
    2> "$work/stderr" || { cat "$work/stderr"; exit 1; }
  end=$(date +%s.%N)
  [ "$run" -eq 1 ] && grep -A3 '^summary' "$work/stderr"
  read_count=$(sed -n 's/^summary: read \([0-9]*\),.*/\1/p' "$work/stderr")
  echo "$start $end $read_count $(cat "$work/rss")" >> "$work/runs"
done
python3 - "$work/runs" "$bytes" "$workers" "$files" <<'PY'
import statistics, sys
path, size, workers, files = sys.argv[1:]
runs = []
for line in open(path):
    start, end, tweets, rss = line.split()
    runs.append((float(end) - float(start), int(tweets), int(rss)))
for seconds, tweets, rss in runs:
    print(f"evilnet e2e: {tweets:,} tweets ({int(size)/1e6:.0f} MB, {files} files) with -w {workers}: "
          f"{seconds:.2f} s, {tweets/seconds:,.0f} tweets/s, {int(size)/seconds/1e6:.0f} MB/s, peak RSS {rss/1024:.0f} MiB")
if len(runs) > 1:
    rates = sorted(t / s for s, t, _ in runs)
    print(f"median of {len(runs)} runs: {statistics.median(rates):,.0f} tweets/s "
          f"[{rates[0]:,.0f} - {rates[-1]:,.0f}], {statistics.median(s for s, _, _ in runs):.2f} s, "
          f"peak RSS up to {max(r for _, _, r in runs)/1024:.0f} MiB")
PY
