#!/usr/bin/env bash
# Alternating A/B of the resnet20 training step: BEFORE = a built checkout of 5d38757 (add vertex + ReLU layer),
# AFTER = a built checkout with the fused ResidualAddRelu vertex. Usage: ab-step.sh BEFORE AFTER PAIRS OUTFILE
set -u
before=${1:?}; after=${2:?}; pairs=${3:-3}; out=${4:-/dev/stdout}
args=(bench step --model resnet20 --input 1x28x28 --threads 2 --steps 20 --warmup-steps 4 --layout nhwc --conv dnnl)
for i in $(seq 1 "$pairs"); do
  for side in before after; do
    if [[ $side == before ]]; then bin=$before/bin/lockstep; else bin=$after/bin/lockstep; fi
    { echo "== pair $i $side $(date -u +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
      "$bin" "${args[@]}" 2>&1 | grep -E "^step time|^model"; } >> "$out"
  done
done
