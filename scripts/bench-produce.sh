#!/usr/bin/env bash
# Produce benchmark: TWEETS generated tweets (~550 bytes each) from a file into a fresh
# 3-partition topic on the local broker, idempotent with acks=all, RUNS times.
# Usage: scripts/bench-produce.sh [TWEETS] [RUNS]   (defaults: 1000000 3)
# Needs Kafka (scripts/services.sh up kafka, or TIDEMARK_KAFKA=host:port).
# Prints messages/s per run (wall clock of the whole command, start-up and topic creation
# included) and the median.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
runs=${2:-3}
broker=${TIDEMARK_KAFKA:-127.0.0.1:9092}
work=${BENCH_DIR:-target/bench-produce}
mkdir -p "$work"
cargo build --release --quiet
file="$work/tweets-$tweets.jsonl"
[ -s "$file" ] || ./target/release/tidemark gen tweets --count "$tweets" --seed 5 > "$file"
rates=()
for ((i = 0; i < runs; i++)); do
  topic="bench-produce-$$-$i"
  start=$(date +%s.%N)
  ./target/release/tidemark produce --quiet --to "kafka://$broker/$topic" --partitions 3 \
    "file:$file" 2> "$work/stderr" || { cat "$work/stderr"; exit 1; }
  end=$(date +%s.%N)
  grep -q "acknowledged $tweets," "$work/stderr" || { cat "$work/stderr"; exit 1; }
  rate=$(python3 -c "print(round($tweets / ($end - $start)))")
  echo "run $((i + 1)): $rate msgs/s ($(python3 -c "print(round($end - $start, 2))") s)"
  rates+=("$rate")
done
printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print "median: " a[int((NR+1)/2)] " msgs/s"}'
