#!/bin/bash
# A 20 s system-wide perf profile, from 40 s in, of `bench allreduce` (46.8 MB, N = 4, UDP, one mode).
#   profile.sh LABEL MODE OUTDIR
#   perf report -i OUTDIR/LABEL.data --no-children --sort comm,dso -g none   gives perf-LABEL-comm-dso.txt
set -euo pipefail
label=$1 mode=$2 out=$3
mkdir -p "$out"
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
LOCKSTEP_JAVA_OPTS="-Xmx8g -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit -XX:+PreserveFramePointer" \
  bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 150 --no-spark --dir /dev/shm \
  --wire-security "$mode" > "$out/bench-$label.txt" 2>&1 &
sleep 40
perf record -a -g -F 499 -o "$out/$label.data" -- sleep 20 2> "$out/$label.perf.log"
wait
