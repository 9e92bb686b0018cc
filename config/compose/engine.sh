#!/bin/sh
# Starts engine process $PROCESS of $PROCESSES in the compose stack: writes the hostfile
# (engine-0:2101, engine-1:2101, ...) and runs the evilnet dataflow from Kafka to Cassandra,
# serving the dashboards and the metrics.
set -eu
hosts=/tmp/hosts
: > "$hosts"
i=0
while [ "$i" -lt "$PROCESSES" ]; do
  echo "engine-$i:2101" >> "$hosts"
  i=$((i + 1))
done
exec tidemark run dataflows/evilnet.toml \
  --source "kafka://kafka-1:9092,kafka-2:9092/tweets?start=committed" \
  --sink cassandra://cassandra:9042/evilnet \
  --http 0.0.0.0:8080 --metrics 0.0.0.0:9898 \
  -w "$WORKERS" -n "$PROCESSES" -p "$PROCESS" -h "$hosts" --quiet
