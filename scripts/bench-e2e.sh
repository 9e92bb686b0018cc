#!/usr/bin/env bash
# End-to-end benchmark: the evilnet dataflow over generated tweets, file -> JSONL.
# Usage: scripts/bench-e2e.sh [TWEETS] [WORKERS] [FILES]   (defaults: 1000000 2 2)
# Prints events/s and peak memory (maximum resident set size) for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
workers=${2:-2}
files=${3:-2}
work=${BENCH_DIR:-target/bench-e2e}
mkdir -p "$work"
cargo build --release --quiet
per_file=$(( (tweets + files - 1) / files ))
for ((i = 0; i < files; i++)); do
  out="$work/tweets-$tweets-in-$files-$i.jsonl"
  [ -s "$out" ] || ./target/release/tidemark gen tweets --count "$per_file" --seed $((i + 1)) \
    --disorder-s 30 --very-late 0.001 --rate $((2000 / files)) > "$out"
done
bytes=$(cat "$work"/tweets-"$tweets"-in-"$files"-*.jsonl | wc -c)
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" ./target/release/tidemark run dataflows/evilnet.toml \
  --source "file:$work/tweets-$tweets-in-$files-*.jsonl" --sink "jsonl:$work/out.jsonl" -w "$workers" --quiet \
  2> "$work/stderr" || { cat "$work/stderr"; exit 1; }
end=$(date +%s.%N)
grep -A3 '^summary' "$work/stderr"
read_count=$(sed -n 's/^summary: read \([0-9]*\),.*/\1/p' "$work/stderr")
python3 - "$start" "$end" "$read_count" "$bytes" "$(cat "$work/rss")" "$workers" "$files" <<'PY'
import sys
start, end, tweets, size, rss, workers, files = sys.argv[1:]
seconds = float(end) - float(start)
print(f"evilnet e2e: {int(tweets):,} tweets ({int(size)/1e6:.0f} MB, {files} files) with -w {workers}: "
      f"{seconds:.2f} s, {int(tweets)/seconds:,.0f} tweets/s, {int(size)/seconds/1e6:.0f} MB/s, peak RSS {int(rss)/1024:.0f} MiB")
PY
