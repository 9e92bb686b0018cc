#!/usr/bin/env bash
# Real Apache Kafka 4 and Apache Cassandra 5 on this machine, for tests and benchmarks.
#
#   scripts/services.sh up [kafka|cassandra]     fetch (once, cached), start, wait until ready
#   scripts/services.sh down [kafka|cassandra]   stop
#   scripts/services.sh kill [kafka|cassandra]   SIGKILL (a crash, for outage tests)
#   scripts/services.sh status                   say what runs where
# Without a name, both.
#
# Jars come from Maven Central through Maven and are cached in $TIDEMARK_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/tidemark), so fresh clones do not download again.
# Kafka: single KRaft broker+controller on 127.0.0.1:9092. Cassandra: one node on
# 127.0.0.1:9042. State and logs live in $TIDEMARK_SERVICES_DIR (default $TIDEMARK_CACHE/run),
# wiped by `up` unless TIDEMARK_KEEP_STATE=1.
#
# Already running your own? Set TIDEMARK_KAFKA=host:port and/or TIDEMARK_CASSANDRA=host:port
# and this script leaves that service alone (tests read the same variables).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
conf="$here/services"
cache=${TIDEMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark}
state=${TIDEMARK_SERVICES_DIR:-$cache/run}
who=services
# shellcheck source=services/lib.sh
. "$conf/lib.sh"

start_kafka() {
  if [ -n "${TIDEMARK_KAFKA:-}" ]; then say "kafka: using $TIDEMARK_KAFKA"; return; fi
  if alive kafka && port_open 9092; then say "kafka already running"; return; fi
  if port_open 9092; then say "port 9092 is taken by something else; stop it or set TIDEMARK_KAFKA"; exit 1; fi
  local dir="$state/kafka"
  [ "${TIDEMARK_KEEP_STATE:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir"
  sed "/^log.dirs=/d" "$conf/kafka.properties" > "$dir/server.properties"
  echo "log.dirs=$dir/data" >> "$dir/server.properties"
  launch_kafka kafka "$dir"
  wait_ready kafka 9092 "$dir/logs/server.log" 120
}

start_cassandra() {
  if [ -n "${TIDEMARK_CASSANDRA:-}" ]; then say "cassandra: using $TIDEMARK_CASSANDRA"; return; fi
  if alive cassandra && port_open 9042; then say "cassandra already running"; return; fi
  for port in 9042 7000 7199; do
    if port_open "$port"; then say "port $port is taken; stop what holds it or set TIDEMARK_CASSANDRA"; exit 1; fi
  done
  local dir="$state/cassandra"
  [ "${TIDEMARK_KEEP_STATE:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir/logs" "$dir/conf"
  sed "s|@DATA@|$dir|g" "$conf/cassandra.yaml" > "$dir/conf/cassandra.yaml"
  launch_cassandra cassandra "$dir" 7199
  wait_ready cassandra 9042 "$dir/logs/system.log" 240
}

mkdir -p "$state"
which=${2:-both}
case "$which" in kafka|cassandra|both) ;; *) echo "unknown service: $which" >&2; exit 2 ;; esac
case "${1:-}" in
  up)
    if [ "$which" != cassandra ]; then start_kafka; fi
    if [ "$which" != kafka ]; then start_cassandra; fi ;;
  down)
    if [ "$which" != cassandra ]; then stop kafka; fi
    if [ "$which" != kafka ]; then stop cassandra; fi ;;
  kill)
    if [ "$which" != cassandra ]; then crash kafka; fi
    if [ "$which" != kafka ]; then crash cassandra; fi ;;
  status)
    for s in kafka:9092 cassandra:9042; do
      name=${s%%:*} port=${s##*:}
      if alive "$name" && port_open "$port"; then echo "$name: running on 127.0.0.1:$port (pid $(cat "$state/$name.pid"), logs $state/$name/logs)"
      else echo "$name: not running"; fi
    done ;;
  *) echo "usage: $0 up|down|kill|status [kafka|cassandra]" >&2; exit 2 ;;
esac
