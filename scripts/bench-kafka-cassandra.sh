#!/usr/bin/env bash
# Kafka -> Cassandra benchmark: the evilnet dataflow catches up on a backlog of TWEETS
# generated tweets in a topic of PARTITIONS partitions, with WORKERS workers, upserting every
# result row into a fresh Cassandra keyspace. RUNS runs read the same backlog.
# Usage: scripts/bench-kafka-cassandra.sh [TWEETS] [WORKERS] [PARTITIONS] [RUNS]
#        (defaults: 1000000 2 4 3; a multiple of WORKERS partitions gives each worker as many)
# Needs Kafka and Cassandra (scripts/services.sh up).
#
# The backlog topic (bench-kc-TWEETS-PARTITIONSp) is produced once and kept, so the runs read
# a backlog the broker has finished writing, as a consumer that fell behind would (a marker
# file in the work folder records that it was produced). Each run prints events/s twice: sustained (the engine's own
# figure, from the first record read to the last) and over the whole wall clock (start-up and
# schema creation included); then the write latency the engine logs, from the moment a
# window fires (its rows reach the sink) to Cassandra acknowledging every row of it.
set -euo pipefail
cd "$(dirname "$0")/.."
tweets=${1:-1000000}
workers=${2:-2}
partitions=${3:-4}
runs=${4:-3}
kafka=${TIDEMARK_KAFKA:-127.0.0.1:9092}
cassandra=${TIDEMARK_CASSANDRA:-127.0.0.1:9042}
work=${BENCH_DIR:-target/bench-kafka-cassandra}
mkdir -p "$work"
cargo build --release --quiet
file="$work/tweets-$tweets.jsonl"
[ -s "$file" ] || ./target/release/tidemark gen tweets --count "$tweets" --seed 7 \
  --disorder-s 30 --very-late 0.001 --rate 1000 > "$file"
topic="bench-kc-$tweets-${partitions}p"
produced="$work/$topic.produced-on-$kafka"
produce_backlog() {
  ./target/release/tidemark produce --quiet --to "kafka://$kafka/$topic" --partitions "$partitions" \
    "file:$file" 2> "$work/produce.log" || { cat "$work/produce.log"; exit 1; }
  touch "$produced"
  sleep 10 # let the broker finish writing the backlog before reading it
}
# A marker from a broker whose data has since been wiped names a topic that is gone.
if [ ! -e "$produced" ] || ! ./target/release/tidemark run dataflows/evilnet.toml --quiet \
    --source "kafka://$kafka/$topic?start=latest&stop=end" --sink "jsonl:/dev/null" 2> /dev/null; then
  produce_backlog
fi
rates=()
for ((run = 1; run <= runs; run++)); do
  keyspace="bench_kc_$$_$run"
  start=$(date +%s.%N)
  TIDEMARK_LOG=${TIDEMARK_LOG:-info,scylla=warn} ./target/release/tidemark run dataflows/evilnet.toml -w "$workers" \
    --source "kafka://$kafka/$topic?start=earliest&stop=end&group=bench-kc-$$-$run" \
    --sink "cassandra://$cassandra/$keyspace" 2> "$work/run.log" || { cat "$work/run.log"; exit 1; }
  end=$(date +%s.%N)
  echo "run $run of $runs:"
  grep -A3 '^summary' "$work/run.log"
  grep -o 'progress: .*since the first record' "$work/run.log" | tail -1
  grep -o 'Cassandra write latency.*over the run.*' "$work/run.log" || true
  read_count=$(sed -n 's/^summary: read \([0-9]*\),.*/\1/p' "$work/run.log")
  if [ "$read_count" != "$tweets" ]; then
    echo "read $read_count of $tweets tweets: the backlog topic is not what this script produced;" \
      "delete $produced (and the topic) to produce it again" >&2
    exit 1
  fi
  python3 -c "s = $end - $start; print(f'{$read_count} events in {s:.2f} s: {$read_count / s:,.0f} events/s with -w $workers')"
  rates+=("$(grep -o '[0-9]* events/s since the first record' "$work/run.log" | tail -1 | cut -d' ' -f1)")
done
python3 -c "import statistics, sys; r = sorted(map(int, sys.argv[1:])); print(f'sustained over {len(r)} runs: median {statistics.median(r):,.0f} events/s (min {r[0]:,}, max {r[-1]:,})')" "${rates[@]}"
