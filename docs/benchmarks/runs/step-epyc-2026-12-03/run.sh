#!/usr/bin/env bash
# Step time with the defaults against PyTorch 1.13 on the same 2 cores, alternating per model and round:
# 2 threads, batch 64, `bench step` flags as `train --layout auto --conv-kernels auto` decides them
# (resnets nhwc + dnnl, lenet5 nchw + dnnl). Usage: run.sh CHECKOUT OUT [ROUNDS]
repo=${1:?checkout of the build}; out=${2:?output dir}; rounds=${3:-3}
mkdir -p "$out"
py=/usr/bin/python3
log() { echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >> "$out/log"; }
{ grep -m1 "model name" /proc/cpuinfo; nproc; java -version 2>&1 | head -1; } > "$out/machine.txt"
step() { # model input steps warmup layout conv
  local f="$out/lockstep-$1-r$round.txt"
  log "lockstep $1 $5 $6 round $round"
  (cd "$repo" && bin/lockstep bench step --model "$1" --input "$2" --threads 2 --steps "$3" \
      --warmup-steps "$4" --layout "$5" --conv "$6") > "$f" 2>&1
  grep "step time" "$f" >> "$out/log"
}
torch() { # model input steps warmup
  local f="$out/pytorch-$1-r$round.txt"
  log "pytorch $1 round $round"
  $py "$repo/integration-tests/bench/pytorch/step_time.py" --model "$1" \
      --input "$2" --batch-size 64 --steps "$3" --warmup-steps "$4" --threads 2 > "$f" 2>&1
  grep -o '"median_ms": [0-9.]*' "$f" >> "$out/log"
}
for round in $(seq 1 "$rounds"); do
  step resnet20 1x28x28 40 8 nhwc dnnl;   torch resnet20 1x28x28 40 8
  step lenet5 1x28x28 100 20 nchw dnnl;   torch lenet5 1x28x28 100 20
  step resnet18 3x32x32 12 3 nhwc dnnl;   torch resnet18 3x32x32 12 3
done
log done
