#!/bin/bash
# Three runs at each MTU, alternating, every wire security mode, 31 interleaved rounds.
#   run.sh OUTDIR
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
for i in 1 2 3; do
  for mtu in 65504 8192; do
    echo "$(date -u +%H:%M) mtu $mtu run $i"
    bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 31 --no-spark \
      --dir /dev/shm --mtu $mtu > "$out/mtu$mtu-$i.txt" 2>&1
  done
done
