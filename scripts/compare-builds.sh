#!/usr/bin/env bash
# Compares two builds on the same input, run in alternation: this machine's speed drifts from
# minute to minute, so each run of build B is compared with the run of build A just before it.
# Usage: scripts/compare-builds.sh BIN_A BIN_B [PAIRS] [SOURCE] [DATAFLOW] [WORKERS]
#        (defaults: 8 pairs, the 50 000-city tweets of scripts/bench-cardinality.sh,
#        dataflows/evilnet.toml, -w 2)
# Prints, for each build, the median CPU (user + system) and peak RSS, and the medians of the
# paired ratios B / A of CPU and wall time (below 1: B is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
a=$1
b=$2
pairs=${3:-8}
source=${4:-target/bench-cardinality/tweets-2000000-50000-*.jsonl}
dataflow=${5:-dataflows/evilnet.toml}
workers=${6:-2}
for bin in "$a" "$b"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done
compgen -G "$source" > /dev/null || { echo "no input matches $source" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((i = 1; i <= pairs; i++)); do
  line=""
  for bin in "$a" "$b"; do
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$bin" run "$dataflow" \
      --source "file:$source" --sink "jsonl:$work/rows.jsonl" -w "$workers" --quiet \
      2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
    line="$line $(cat "$work/time")"
  done
  echo "$line"
  echo "pair $i of $pairs:$line" >&2
done | python3 -c '
import statistics, sys
a_cpu, b_cpu, cpu, wall, a_rss, b_rss = [], [], [], [], [], []
for line in sys.stdin:
    wa, ua, sa, ra, wb, ub, sb, rb = map(float, line.split())
    a_cpu.append(ua + sa); b_cpu.append(ub + sb)
    cpu.append((ub + sb) / (ua + sa)); wall.append(wb / wa)
    a_rss.append(ra / 1024); b_rss.append(rb / 1024)
m = statistics.median
print(f"A: CPU median {m(a_cpu):.2f} s, peak RSS median {m(a_rss):.0f} MiB (max {max(a_rss):.0f})")
print(f"B: CPU median {m(b_cpu):.2f} s, peak RSS median {m(b_rss):.0f} MiB (max {max(b_rss):.0f})")
print(f"B / A, paired: CPU median {m(cpu):.3f} [{min(cpu):.3f} - {max(cpu):.3f}], "
      f"wall median {m(wall):.3f} [{min(wall):.3f} - {max(wall):.3f}]")
'
