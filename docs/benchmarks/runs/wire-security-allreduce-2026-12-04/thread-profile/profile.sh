#!/bin/bash
# Profiles one wire security mode of `bench allreduce` (46.8 MB, N=4, UDP) by thread: a 30 s system-wide
# perf sample taken in the steady state (from 40 s in, after the sealing probe and warm-up).
#   profile.sh MODE LABEL ROUNDS OUTDIR    e.g. profile.sh off off1 200 /tmp/p; profile.sh auth auth1 150 /tmp/p
# Writes OUTDIR/bench-LABEL.txt and OUTDIR/perf-LABEL-comm-dso.txt; `shares.py OUTDIR LABEL...` tabulates them.
set -euo pipefail
mode=$1 label=$2 rounds=$3 out=$4
mkdir -p "$out"
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds "$rounds" --no-spark \
  --dir /dev/shm --wire-security "$mode" > "$out/bench-$label.txt" 2>&1 &
bench=$!
sleep 40
perf record -a -F 997 -o "$out/$label.data" -- sleep 30 2> "$out/$label.perf.log"
wait $bench
perf report -i "$out/$label.data" --sort comm,dso -q --stdio --percent-limit 0.05 2>/dev/null \
  | sed -E 's/-linux-x86_[0-9]+\.so \(deleted\)/.so/; s/tid [0-9]+/tid/; s/[[:space:]]*$//' > "$out/perf-$label-comm-dso.txt"
