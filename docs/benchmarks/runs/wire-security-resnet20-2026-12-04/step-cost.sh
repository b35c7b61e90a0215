#!/usr/bin/env bash
# What --wire-security costs a resnet20 training step with 2 replicas and every exchange over UDP
# (--transport udp: every gradient, BatchNorm and parameter byte travels in sealed frames, as between hosts),
# the three modes taking turns round by round so that all see the same machine.
#   DEPLOY=local (default): both replicas in one JVM (local[2]), one media driver
#   DEPLOY=standalone: one replica per executor JVM on a 2-Worker Spark standalone cluster on this machine
#                      (integration-tests/bench/lockstep-standalone.sh)
# Usage: [DEPLOY=standalone] step-cost.sh OUT_DIR [ROUNDS] [STEPS]
#        (from the repository root, after mvn -DskipTests package)
set -euo pipefail
out=${1:?output directory}; rounds=${2:-3}; steps=${3:-60}; deploy=${DEPLOY:-local}
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for mode in off auth encrypt; do
    run="$out/run-$round-$mode"
    args=(train --model resnet20 --data data/fashion-mnist-small --replicas 2 --epochs 1
          --max-steps-per-epoch "$steps" --batch-size 64 --transport udp --wire-security "$mode"
          --metrics-every 1 --no-spark-ui --out "$run")
    if [[ $deploy == standalone ]]; then
      integration-tests/bench/lockstep-standalone.sh "$out/cluster-$round-$mode" "${args[@]}" > "$run.log" 2>&1
    else
      bin/lockstep "${args[@]}" > "$run.log" 2>&1
    fi
    echo "round $round $mode done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
/usr/bin/python3 "$(dirname "$0")/step-cost.py" "$out"
