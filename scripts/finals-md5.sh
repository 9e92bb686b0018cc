#!/usr/bin/env bash
# Fingerprints of the final rows of every bundled pipeline, to show that a change to the
# engine leaves results alone: run it before and after, and compare.
# Usage: scripts/finals-md5.sh [WORKERS]   (default 2)
#        TIDEMARK_BIN=path/to/tidemark scripts/finals-md5.sh   (another build, e.g. the last
#        release, instead of building this checkout)
# Each pipeline runs over its bundled data; the evilnet, sessions and top-k pipelines also
# run over generated tweets from 5 000 cities with disorder and very late tweets. Prints one
# line per run: md5 of the sorted final rows, their count, and the run.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
work=${FINALS_DIR:-target/finals-md5}
mkdir -p "$work"
bin=${TIDEMARK_BIN:-./target/release/tidemark}
[ -n "${TIDEMARK_BIN:-}" ] || cargo build --release --quiet
tweets="$work/tweets.jsonl"
[ -s "$tweets" ] || "$bin" gen tweets --count 300000 --rate 20 --cities 5000 --users 200000 \
  --disorder-s 6000 --very-late 0.01 --seed 11 > "$tweets"
runs=(
  "dataflows/evilnet.toml"
  "dataflows/hashtags.toml"
  "dataflows/sentiment.toml"
  "dataflows/sessions.toml"
  "dataflows/stocks.toml"
  "dataflows/taxi.toml"
  "dataflows/taxi_live.toml file:data/chicago_taxi/tfx_simple_data.csv"
  "dataflows/evilnet.toml file:$tweets"
  "dataflows/sessions.toml file:$tweets"
)
for run in "${runs[@]}"; do
  read -r dataflow source <<< "$run"
  args=(run "$dataflow" --sink "jsonl:$work/rows.jsonl" -w "$workers" --quiet)
  [ -z "$source" ] || args+=(--source "$source")
  "$bin" "${args[@]}" 2> "$work/stderr" || { cat "$work/stderr"; exit 1; }
  jq -c 'select(.final == true)' "$work/rows.jsonl" | LC_ALL=C sort > "$work/finals.jsonl"
  printf '%s %8d  %s %s\n' "$(md5sum < "$work/finals.jsonl" | cut -c1-32)" \
    "$(wc -l < "$work/finals.jsonl")" "$dataflow" "${source:-}"
done
