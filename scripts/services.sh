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
kafka_version=4.3.1
cassandra_version=5.0.6
kafka_libs="$cache/kafka-$kafka_version/libs"
cassandra_libs="$cache/cassandra-$cassandra_version/libs"

say() { echo "services: $*" >&2; }

java_bin() {
  # Cassandra 5 runs on JDK 11 or 17 only; Kafka 4 needs 17+. Prefer a JDK 17.
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-17-jdk-amd64; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] &&
       "$candidate/bin/java" -version 2>&1 | grep -q 'version "17'; then
      echo "$candidate/bin/java"; return
    fi
  done
  if java -version 2>&1 | grep -q 'version "17'; then command -v java; return; fi
  say "no JDK 17 found (set JAVA_HOME)"; exit 1
}

fetch() { # fetch POM LIBS
  local pom=$1 libs=$2
  [ -f "$libs/.complete" ] && return
  say "fetching $(basename "$pom" .xml) jars into $libs (once)"
  mkdir -p "$libs" "$cache/m2"
  mvn -B -q -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$cache/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

wait_ready() { # wait_ready NAME PORT LOG TIMEOUT
  local name=$1 port=$2 log=$3 timeout=$4 waited=0
  until port_open "$port"; do
    if ! alive "$name"; then
      say "$name exited during start; last log lines ($log):"; tail -n 40 "$log" >&2 || true; exit 1
    fi
    if [ "$waited" -ge "$timeout" ]; then
      say "$name not ready after ${timeout}s; last log lines ($log):"; tail -n 40 "$log" >&2 || true; exit 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  say "$name ready on 127.0.0.1:$port after ${waited}s (log: $log)"
}

start_kafka() {
  if [ -n "${TIDEMARK_KAFKA:-}" ]; then say "kafka: using $TIDEMARK_KAFKA"; return; fi
  if alive kafka && port_open 9092; then say "kafka already running"; return; fi
  if port_open 9092; then say "port 9092 is taken by something else; stop it or set TIDEMARK_KAFKA"; exit 1; fi
  fetch "$conf/kafka-pom.xml" "$kafka_libs"
  local dir="$state/kafka" java; java=$(java_bin)
  [ "${TIDEMARK_KEEP_STATE:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir/logs"
  sed "/^log.dirs=/d" "$conf/kafka.properties" > "$dir/server.properties"
  echo "log.dirs=$dir/data" >> "$dir/server.properties"
  local opts=(-Xms512m -Xmx512m -Dkafka.logs.dir="$dir/logs"
              -Dlog4j2.configurationFile="$conf/kafka-log4j2.properties" -cp "$kafka_libs/*")
  if [ ! -f "$dir/data/meta.properties" ]; then
    "$java" "${opts[@]}" kafka.tools.StorageTool format -t tidemark-test-cluster00 \
      -c "$dir/server.properties" > "$dir/logs/format.log" 2>&1 ||
      { say "kafka storage format failed:"; cat "$dir/logs/format.log" >&2; exit 1; }
  fi
  nohup "$java" "${opts[@]}" kafka.Kafka "$dir/server.properties" > "$dir/logs/stdout.log" 2>&1 &
  echo $! > "$state/kafka.pid"
  wait_ready kafka 9092 "$dir/logs/server.log" 120
}

start_cassandra() {
  if [ -n "${TIDEMARK_CASSANDRA:-}" ]; then say "cassandra: using $TIDEMARK_CASSANDRA"; return; fi
  if alive cassandra && port_open 9042; then say "cassandra already running"; return; fi
  for port in 9042 7000 7199; do
    if port_open "$port"; then say "port $port is taken; stop what holds it or set TIDEMARK_CASSANDRA"; exit 1; fi
  done
  fetch "$conf/cassandra-pom.xml" "$cassandra_libs"
  local dir="$state/cassandra" java; java=$(java_bin)
  [ "${TIDEMARK_KEEP_STATE:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir/logs" "$dir/conf"
  sed "s|@DATA@|$dir|g" "$conf/cassandra.yaml" > "$dir/conf/cassandra.yaml"
  # JDK 17 module flags Cassandra 5 needs (its jvm17-server.options), then a small heap.
  local jpms=(-Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
    --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.math=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED --add-opens java.base/java.net=ALL-UNNAMED
    --add-opens java.base/jdk.internal.misc=ALL-UNNAMED)
  nohup "$java" "${jpms[@]}" -Xms1G -Xmx1G -Xmn200M -XX:+UseG1GC -Xss512k \
    -Dcassandra.config="file://$dir/conf/cassandra.yaml" -Dcassandra-foreground=yes \
    -Dcassandra.storagedir="$dir" -Dcassandra.logdir="$dir/logs" \
    -Dlogback.configurationFile="$conf/cassandra-logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.initial_token=0 \
    -Dcassandra.ring_delay_ms=1000 -Dcassandra.jmx.local.port=7199 \
    -cp "$cassandra_libs/*" org.apache.cassandra.service.CassandraDaemon \
    > "$dir/logs/stdout.log" 2>&1 &
  echo $! > "$state/cassandra.pid"
  wait_ready cassandra 9042 "$dir/logs/system.log" 240
}

crash() { # crash NAME: SIGKILL, no clean shutdown
  local name=$1
  alive "$name" || { rm -f "$state/$name.pid"; return; }
  kill -9 "$(cat "$state/$name.pid")" 2>/dev/null || true
  while alive "$name"; do sleep 0.1; done
  rm -f "$state/$name.pid"
  say "$name killed"
}

stop() { # stop NAME
  local name=$1 pid waited=0
  alive "$name" || { rm -f "$state/$name.pid"; return; }
  pid=$(cat "$state/$name.pid")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 30 ]; do sleep 1; waited=$((waited + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
  say "$name stopped"
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
