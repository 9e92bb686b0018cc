#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then unit, property and integration
# tests: against a real Kafka broker and Cassandra node (scripts/services.sh), and the cluster
# tests against two brokers and a Cassandra node with logins and TLS (scripts/cluster.sh).
# Both are started here and stopped afterwards unless they were already running; set
# TIDEMARK_KAFKA / TIDEMARK_CASSANDRA to use your own single services instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# The page test drives a real headless Chromium, the metrics test a real Prometheus, and the
# compose test Debian's docker-compose (to validate the file; no container engine runs).
for package in chromium prometheus docker-compose; do
  if ! command -v "$package" >/dev/null; then
    apt-get install -y "$package" >/dev/null || { apt-get update && apt-get install -y "$package" >/dev/null; }
  fi
done
# TLS builds against the system's OpenSSL.
if ! dpkg -s libssl-dev >/dev/null 2>&1; then
  apt-get install -y libssl-dev >/dev/null || { apt-get update && apt-get install -y libssl-dev >/dev/null; }
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --tests --locked
# Services and the cluster this script starts, it stops again.
started=()
cleanup() { for script in "${started[@]}"; do "$script" down; done; }
trap cleanup EXIT
if [ "$(scripts/services.sh status | grep -c ': running' || true)" -lt 2 ]; then
  started+=(scripts/services.sh)
fi
scripts/services.sh up
if [ "$(scripts/cluster.sh status | grep -c ': running' || true)" -lt 5 ]; then
  started+=(scripts/cluster.sh)
  scripts/cluster.sh up
fi
cargo test --locked --no-fail-fast
