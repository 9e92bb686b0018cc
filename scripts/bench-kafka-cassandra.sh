#!/usr/bin/env bash
# Kafka -> Cassandra benchmark: TWEETS generated tweets are produced into a fresh topic of
# PARTITIONS partitions, then the evilnet dataflow reads the topic from the start to its end
# with WORKERS workers and upserts every result row into a fresh Cassandra keyspace.
# Usage: scripts/bench-kafka-cassandra.sh [TWEETS] [WORKERS] [PARTITIONS]
#        (defaults: 1000000 2 4; a multiple of WORKERS partitions gives each worker as many)
# Needs Kafka and Cassandra (scripts/services.sh up). Prints events/s for the engine run
# twice: sustained (the engine's own figure, from the first record read to the last) and
# over the whole wall clock (start-up and schema creation included); then the write latency
# the engine logs: from the moment a window fires (its rows reach the sink) to Cassandra
# acknowledging every row of it, p50/p99/max.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
workers=${2:-2}
partitions=${3:-4}
kafka=${TIDEMARK_KAFKA:-127.0.0.1:9092}
cassandra=${TIDEMARK_CASSANDRA:-127.0.0.1:9042}
work=${BENCH_DIR:-target/bench-kafka-cassandra}
mkdir -p "$work"
cargo build --release --quiet
file="$work/tweets-$tweets.jsonl"
[ -s "$file" ] || ./target/release/tidemark gen tweets --count "$tweets" --seed 7 \
  --disorder-s 30 --very-late 0.001 --rate 1000 > "$file"
topic="bench-kc-$$"
./target/release/tidemark produce --quiet --to "kafka://$kafka/$topic" --partitions "$partitions" \
  "file:$file" 2> "$work/produce.log" || { cat "$work/produce.log"; exit 1; }
start=$(date +%s.%N)
TIDEMARK_LOG=info,scylla=warn ./target/release/tidemark run dataflows/evilnet.toml -w "$workers" \
  --source "kafka://$kafka/$topic?start=earliest&stop=end" \
  --sink "cassandra://$cassandra/bench_kc_$$" 2> "$work/run.log" || { cat "$work/run.log"; exit 1; }
end=$(date +%s.%N)
grep -A3 '^summary' "$work/run.log"
grep -o 'progress: .*since the first record' "$work/run.log" | tail -1
grep -o 'Cassandra write latency.*over the run.*' "$work/run.log" || true
read_count=$(sed -n 's/^summary: read \([0-9]*\),.*/\1/p' "$work/run.log")
python3 -c "s = $end - $start; print(f'{$read_count} events in {s:.2f} s: {$read_count / s:,.0f} events/s with -w $workers')"
