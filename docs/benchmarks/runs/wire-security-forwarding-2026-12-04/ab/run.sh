#!/bin/bash
# A/B of forwarding all-gather frames under their originator's seal: the build with it (FWD, a checkout of
# the commit that added it) against the build before (BASE, its parent), alternating, 4 pairs of runs of
# 31 interleaved off/auth rounds (46.8 MB, N = 4, UDP, MTU 65,504).
#   run.sh FWD_CHECKOUT BASE_CHECKOUT OUTDIR      (each checkout built with mvn -DskipTests package)
set -euo pipefail
fwd=$1 base=$2 out=$3
mkdir -p "$out"
for i in 1 2 3 4; do
  for label in fwd base; do
    if [ $label = fwd ]; then dir=$fwd; else dir=$base; fi
    (cd "$dir" && bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 31 --no-spark \
      --dir /dev/shm --wire-security off,auth) > "$out/$label-$i.txt" 2>&1
  done
done
