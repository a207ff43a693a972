#!/usr/bin/env bash
# What a change to the on-disk format costs durable appends: two builds of
# the `groupwal` binary, side by side in one run, interleaved (A B A B ...),
# `groupwal bench` at W = 1 and W = 64 with 1 KiB records, on the disk of
# DIR (not a RAM /tmp).
#
#   benches/probes/format_cost.sh OLD_BINARY NEW_BINARY DIR [ROUNDS] [SECONDS]
#
# Build the old binary from a worktree of the earlier commit, e.g.
#   git worktree add ../old <commit> && (cd ../old && CARGO_TARGET_DIR=../old-target cargo build --release -p wal-cli)
# Prints one line per run (JSON from `groupwal bench --json`, tagged), then
# per writer count the median commits/s of each build, the range, and the
# ratio new/old of the medians.
set -euo pipefail
old=$1 new=$2 dir=$3 rounds=${4:-5} secs=${5:-5}
mkdir -p "$dir"
out=$(mktemp)
for r in $(seq 1 "$rounds"); do
  for w in 1 64; do
    for which in old new; do
      bin=$old; [ "$which" = new ] && bin=$new
      "$bin" bench --writers "$w" --size 1024 --seconds "$secs" --json --dir "$dir" 2>/dev/null \
        | sed "s/^/$which $r /" | tee -a "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    which, r, js = line.split(' ', 2)
    v = json.loads(js)
    runs.setdefault((v['writers'], which), []).append(v['commits_per_sec'])
for w in sorted({k[0] for k in runs}):
    o, n = runs[(w, 'old')], runs[(w, 'new')]
    mo, mn = statistics.median(o), statistics.median(n)
    print(f"W={w}: old median {mo:,.0f} ({min(o):,.0f}-{max(o):,.0f}), new median {mn:,.0f} ({min(n):,.0f}-{max(n):,.0f}), new/old {mn/mo:.3f}")
PY
