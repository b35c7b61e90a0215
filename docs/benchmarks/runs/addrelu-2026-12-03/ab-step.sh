#!/usr/bin/env bash
# Alternating A/B of the resnet20 training step: before = /work/wt/probe (5d38757, add vertex + ReLU layer),
# after = this worktree (fused ResidualAddRelu vertex). Usage: ab-step.sh PAIRS OUTFILE
set -u
pairs=${1:-3}; out=${2:-/dev/stdout}
args=(bench step --model resnet20 --input 1x28x28 --threads 2 --steps 20 --warmup-steps 4 --layout nhwc --conv dnnl)
for i in $(seq 1 "$pairs"); do
  for side in before after; do
    if [[ $side == before ]]; then bin=/work/wt/probe/bin/lockstep; else bin=/work/wt/addrelu/bin/lockstep; fi
    { echo "== pair $i $side $(date -u +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
      "$bin" "${args[@]}" 2>&1 | grep -E "^step time|^model"; } >> "$out"
  done
done
