#!/bin/bash
# One `bench allreduce` run (46.8 MB, N=4, UDP, off and auth interleaved) with the media driver's network thread
# at niceness NICE (0: left alone), to see whether giving that thread the CPU whenever it wants it changes the cost.
#   run.sh NICE LABEL ROUNDS OUTDIR     (as root; alternate: run.sh 0 plain-1 21 /tmp/a; run.sh -10 prio-1 21 /tmp/a; ...)
set -euo pipefail
nice=$1 label=$2 rounds=$3 out=$4
mkdir -p "$out"
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds "$rounds" --no-spark --dir /dev/shm \
  --wire-security off,auth > "$out/bench-$label.txt" 2>&1 &
bench=$!
if [ "$nice" != 0 ]; then
  tid=
  for _ in $(seq 1 600); do   # the driver starts within a few seconds; its network thread is named after its directory
    tid=$(ps -L -o tid=,comm= -p $bench 2>/dev/null | awk '$2 ~ /^\/dev\/shm/ {print $1}' | head -1)
    [ -n "$tid" ] && break
    sleep 0.1
  done
  renice -n "$nice" -p "$tid" > "$out/renice-$label.txt"
  ps -L -o tid,ni,comm -p $bench | awk 'NR == 1 || $2 != 0' >> "$out/renice-$label.txt"
fi
wait $bench
