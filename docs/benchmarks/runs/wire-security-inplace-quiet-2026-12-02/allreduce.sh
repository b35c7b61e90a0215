#!/usr/bin/env bash
# Alternating all-reduce, 46.8 MB, N=4, UDP: build A (in-place verify) vs build B (before), twice.
A=${1:-/work/wt/wire}; B=${2:-/work/main}; out=/tmp/quiet/allreduce; mkdir -p $out
for round in 1 2 3; do
  for build in A B; do
    dir=${!build}
    echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)] round $round build $build ($dir @ $(git -C $dir rev-parse --short HEAD))" | tee -a $out/log
    (cd $dir && bin/lockstep bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 7 --no-spark --dir /dev/shm) > $out/round$round-$build.txt 2>&1
    grep -E "^udp |^one core" $out/round$round-$build.txt | tee -a $out/log
  done
done
echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)] done" | tee -a $out/log
