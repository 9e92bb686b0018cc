#!/usr/bin/env bash
# The production topology on loopback, without containers: a KRaft controller, two Kafka
# brokers (topics replicated twice), a Cassandra 5 node with password authentication and
# optional TLS, and Prometheus scraping the engine. What the cluster tests use.
#
#   scripts/cluster.sh up             fetch the jars (once, cached), start everything, wait
#   scripts/cluster.sh down           stop everything
#   scripts/cluster.sh status         say what runs where
#   scripts/cluster.sh env            print the addresses and test credentials as VAR=value
#   scripts/cluster.sh kill MEMBER    SIGKILL one member (a crash)
#   scripts/cluster.sh start MEMBER   start one member again on its state
# MEMBER: controller, broker-1, broker-2, cassandra, prometheus.
#
# Ports (all 127.0.0.1): controller 19093; broker-1 19092 (PLAINTEXT), 19192 (SASL_PLAINTEXT),
# 19292 (SASL_SSL); broker-2 29092, 29192, 29292; Cassandra 19042 (storage 17000, JMX 17199);
# Prometheus 19090, scraping engine metrics on 19898 and 19899. They do not clash with
# scripts/services.sh, so both can run at once.
#
# `up` makes a fresh state in $TIDEMARK_CLUSTER_DIR (default $TIDEMARK_CACHE/cluster): a test
# CA and server certificate (openssl), a random password for the Kafka user `tidemark`
# (SASL PLAIN and SCRAM-SHA-256/512), kept in `credentials` (mode 600). Cassandra starts with
# its default superuser; tests create their own roles.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
conf="$here/services"
templates="$here/cluster"
cache=${TIDEMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark}
state=${TIDEMARK_CLUSTER_DIR:-$cache/cluster}
who=cluster
# shellcheck source=services/lib.sh
. "$conf/lib.sh"

members=(controller broker-1 broker-2 cassandra prometheus)
port_of() {
  case "$1" in
    controller) echo 19093 ;; broker-1) echo 19092 ;; broker-2) echo 29092 ;;
    cassandra) echo 19042 ;; prometheus) echo 19090 ;;
    *) echo "unknown member: $1 (one of ${members[*]})" >&2; exit 2 ;;
  esac
}

credentials() { # writes $state/credentials once per fresh state
  local file="$state/credentials"
  [ -f "$file" ] && return
  (umask 077; {
    echo "KAFKA_USER=tidemark"
    echo "KAFKA_PASSWORD=$(openssl rand -hex 16)"
    echo "STOREPASS=$(openssl rand -hex 16)"
  } > "$file")
}

certificates() { # a CA and a server certificate for localhost / 127.0.0.1, once per state
  local tls="$state/tls"
  [ -f "$tls/server.p12" ] && return
  mkdir -p "$tls"
  # shellcheck disable=SC1091
  . "$state/credentials"
  (cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=Tidemark cluster test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
      -days 3650 -extfile server.ext 2>/dev/null
    openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name server \
      -out server.p12 -passout "pass:$STOREPASS")
}

fill() { # fill TEMPLATE DIR: the template with its placeholders replaced
  # shellcheck disable=SC1091
  . "$state/credentials"
  sed -e "s|@DIR@|$2|g" -e "s|@DATA@|$2|g" -e "s|@TLS@|$state/tls|g" \
      -e "s|@STOREPASS@|$STOREPASS|g" -e "s|@USER@|$KAFKA_USER|g" -e "s|@PASSWORD@|$KAFKA_PASSWORD|g" "$1"
}

start_member() { # start_member MEMBER: on its existing state, or a fresh one
  local name=$1 port dir="$state/$1"; port=$(port_of "$name")
  if alive "$name" && port_open "$port"; then say "$name already running"; return; fi
  if port_open "$port"; then say "port $port is taken by something else"; exit 1; fi
  # shellcheck disable=SC1091
  . "$state/credentials"
  local scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_USER,password=$KAFKA_PASSWORD]"
               --add-scram "SCRAM-SHA-512=[name=$KAFKA_USER,password=$KAFKA_PASSWORD]")
  mkdir -p "$dir"
  case "$name" in
    controller)
      fill "$templates/controller.properties" "$dir" > "$dir/server.properties"
      KAFKA_HEAP=256m KAFKA_CLUSTER_ID=tidemark-cluster-test0 launch_kafka "$name" "$dir" "${scram[@]}"
      wait_ready "$name" "$port" "$dir/logs/server.log" 120 ;;
    broker-1|broker-2)
      local id=${name#broker-}
      fill "$templates/broker.properties" "$dir" |
        sed -e "s|@ID@|$id|g" -e "s|@PLAIN@|${id}9092|g" -e "s|@SASL@|${id}9192|g" -e "s|@SSL@|${id}9292|g" \
        > "$dir/server.properties"
      KAFKA_CLUSTER_ID=tidemark-cluster-test0 launch_kafka "$name" "$dir" "${scram[@]}"
      wait_ready "$name" "$port" "$dir/logs/server.log" 120 ;;
    cassandra)
      mkdir -p "$dir/logs" "$dir/conf"
      fill "$templates/cassandra.yaml" "$dir" > "$dir/conf/cassandra.yaml"
      launch_cassandra "$name" "$dir" 17199
      wait_ready "$name" "$port" "$dir/logs/system.log" 240 ;;
    prometheus)
      command -v prometheus >/dev/null || { say "prometheus is not installed (apt-get install -y prometheus)"; exit 1; }
      mkdir -p "$dir/data"
      nohup prometheus --config.file="$templates/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address=127.0.0.1:19090 > "$dir/prometheus.log" 2>&1 &
      echo $! > "$state/$name.pid"
      wait_ready "$name" "$port" "$dir/prometheus.log" 60 ;;
  esac
}

up() {
  for member in "${members[@]}"; do
    if alive "$member"; then say "already running ($member); use down first"; return; fi
  done
  rm -rf "$state"; mkdir -p "$state"
  credentials
  certificates
  for member in "${members[@]}"; do start_member "$member"; done
}

mkdir -p "$state"
case "${1:-}" in
  up) up ;;
  down) for ((i = ${#members[@]} - 1; i >= 0; i--)); do stop "${members[i]}"; done ;;
  kill) port_of "${2:?name a member}" >/dev/null; crash "$2" ;;
  start) credentials; certificates; start_member "${2:?name a member}" ;;
  status)
    for member in "${members[@]}"; do
      port=$(port_of "$member")
      if alive "$member" && port_open "$port"; then echo "$member: running on 127.0.0.1:$port (pid $(cat "$state/$member.pid"))"
      else echo "$member: not running"; fi
    done ;;
  env)
    [ -f "$state/credentials" ] || { say "no cluster state; run scripts/cluster.sh up"; exit 1; }
    # shellcheck disable=SC1091
    . "$state/credentials"
    echo "TIDEMARK_CLUSTER_KAFKA=127.0.0.1:19092,127.0.0.1:29092"
    echo "TIDEMARK_CLUSTER_KAFKA_SASL=127.0.0.1:19192,127.0.0.1:29192"
    echo "TIDEMARK_CLUSTER_KAFKA_SSL=127.0.0.1:19292,127.0.0.1:29292"
    echo "TIDEMARK_CLUSTER_KAFKA_USER=$KAFKA_USER"
    echo "TIDEMARK_CLUSTER_KAFKA_PASSWORD=$KAFKA_PASSWORD"
    echo "TIDEMARK_CLUSTER_CASSANDRA=127.0.0.1:19042"
    echo "TIDEMARK_CLUSTER_CASSANDRA_SUPERUSER=cassandra"
    echo "TIDEMARK_CLUSTER_CA=$state/tls/ca.pem"
    echo "TIDEMARK_CLUSTER_PROMETHEUS=127.0.0.1:19090"
    echo "TIDEMARK_CLUSTER_DIR=$state" ;;
  *) echo "usage: $0 up|down|status|env|kill MEMBER|start MEMBER" >&2; exit 2 ;;
esac
