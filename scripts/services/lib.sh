# Shared by scripts/services.sh and scripts/cluster.sh: fetching the cached jars, starting a
# Kafka or Cassandra JVM, waiting for its port, stopping it. Callers set `conf`, `cache`,
# `state` and `who` (the prefix of messages) before sourcing this file.

say() { echo "$who: $*" >&2; }

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

kafka_version=4.3.1
cassandra_version=5.0.6
kafka_libs="$cache/kafka-$kafka_version/libs"
cassandra_libs="$cache/cassandra-$cassandra_version/libs"

launch_kafka() { # launch_kafka NAME DIR [FORMAT ARGS]: format once, start the node of DIR/server.properties
  local name=$1 dir=$2 java; java=$(java_bin)
  shift 2
  fetch "$conf/kafka-pom.xml" "$kafka_libs"
  mkdir -p "$dir/logs"
  local opts=(-Xms${KAFKA_HEAP:-512m} -Xmx${KAFKA_HEAP:-512m} -Dkafka.logs.dir="$dir/logs"
              -Dlog4j2.configurationFile="$conf/kafka-log4j2.properties" -cp "$kafka_libs/*")
  if [ ! -f "$dir/data/meta.properties" ]; then
    "$java" "${opts[@]}" kafka.tools.StorageTool format -t "${KAFKA_CLUSTER_ID:-tidemark-test-cluster00}" \
      -c "$dir/server.properties" "$@" > "$dir/logs/format.log" 2>&1 ||
      { say "$name: storage format failed:"; cat "$dir/logs/format.log" >&2; exit 1; }
  fi
  nohup "$java" "${opts[@]}" kafka.Kafka "$dir/server.properties" > "$dir/logs/stdout.log" 2>&1 &
  echo $! > "$state/$name.pid"
}

launch_cassandra() { # launch_cassandra NAME DIR JMX_PORT: start the node of DIR/conf/cassandra.yaml
  local name=$1 dir=$2 jmx=$3 java; java=$(java_bin)
  fetch "$conf/cassandra-pom.xml" "$cassandra_libs"
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
    -Dcassandra.ring_delay_ms=1000 -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.jmx.local.port="$jmx" \
    -cp "$cassandra_libs/*" org.apache.cassandra.service.CassandraDaemon \
    > "$dir/logs/stdout.log" 2>&1 &
  echo $! > "$state/$name.pid"
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

