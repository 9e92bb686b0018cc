#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then unit, property and integration
# tests, the integration tests against a real Kafka broker and Cassandra node. The services
# are started here (scripts/services.sh) and stopped afterwards unless they were already
# running; set TIDEMARK_KAFKA / TIDEMARK_CASSANDRA to use your own instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# The page test drives a real headless Chromium, the metrics test a real Prometheus, and the
# compose test Debian's docker-compose (to validate the file; no container engine runs).
for package in chromium prometheus docker-compose; do
  if ! command -v "$package" >/dev/null; then
    apt-get install -y "$package" >/dev/null || { apt-get update && apt-get install -y "$package" >/dev/null; }
  fi
done
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --tests --locked
already_running=$(scripts/services.sh status | grep -c ': running' || true)
if [ "$already_running" -lt 2 ]; then
  trap 'scripts/services.sh down' EXIT
fi
scripts/services.sh up
cargo test --locked
