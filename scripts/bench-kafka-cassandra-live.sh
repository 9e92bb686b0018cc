#!/usr/bin/env bash
# Live Kafka -> Cassandra benchmark: the evilnet dataflow follows a topic (start=latest) and
# upserts into Cassandra while `tidemark produce` feeds it RATE tweets a second for SECONDS.
# Event time runs 60 times faster than the wall clock (an hour of tweets a minute, ending a
# minute before now), so 5-minute windows fire every 5 seconds.
# Usage: scripts/bench-kafka-cassandra-live.sh [RATE] [SECONDS] [WORKERS]
#        (defaults: 50000 60 2). Needs Kafka and Cassandra (scripts/services.sh up).
# Prints the engine's progress lines (events/s, watermark delay, lag) and the write latency it
# logs every 10 s and for the run: from a window firing (the frontier passing its end) to
# Cassandra acknowledging all its rows.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-50000}
seconds=${2:-60}
workers=${3:-2}
kafka=${TIDEMARK_KAFKA:-127.0.0.1:9092}
cassandra=${TIDEMARK_CASSANDRA:-127.0.0.1:9042}
work=${BENCH_DIR:-target/bench-kafka-cassandra-live}
mkdir -p "$work"
cargo build --release --quiet
topic="bench-live-$$"
count=$((rate * seconds))
start=$(python3 -c "import datetime as d; print((d.datetime.now(d.timezone.utc) - d.timedelta(seconds=$seconds * 60 + 60)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
./target/release/tidemark produce --quiet --to "kafka://$kafka/$topic" --partitions "$workers" - < /dev/null
TIDEMARK_LOG=info,scylla=warn ./target/release/tidemark run dataflows/evilnet.toml -w "$workers" \
  --source "kafka://$kafka/$topic?start=latest" --sink "cassandra://$cassandra/bench_live_$$" \
  2> "$work/run.log" &
engine=$!
trap 'kill $engine 2> /dev/null || true' EXIT
sleep 8
./target/release/tidemark produce --quiet --to "kafka://$kafka/$topic" --rate "$rate" \
  "gen:tweets?count=$count&seed=11&rate=$(( (rate + 59) / 60 ))&start=$start" 2> "$work/produce.log" \
  || { cat "$work/produce.log"; exit 1; }
sleep 10
kill "$engine"
wait "$engine" 2> /dev/null || true
trap - EXIT
cat "$work/produce.log"
grep '^progress' "$work/run.log" | grep -v ' 0 events/s'
grep -o 'Cassandra write latency.*' "$work/run.log" || echo "(no latency logged: the engine was stopped before it logged)"
