#!/usr/bin/env bash
# Alternating step-time A/B on a quiet machine: Lockstep NCHW (DL4J conv) vs NHWC + direct OneDNN vs PyTorch, 2 threads, batch 64.
repo=${1:?repo}; out=${2:-/tmp/ab2/out}; rounds=${3:-2}
cd "$repo"; mkdir -p $out
py=/usr/bin/python3
log() { echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >> $out/log; }
for round in $(seq 1 $rounds); do
  for spec in "resnet20 1x28x28 20" "resnet18 3x32x32 12"; do
    read -r m input steps <<<"$spec"
    for cfg in "nchw dl4j" "nhwc dnnl" "nhwc dl4j"; do
      read -r lay conv <<<"$cfg"
      log "$m $lay $conv round $round"
      bin/lockstep bench step --model $m --input $input --threads 2 --steps $steps --warmup-steps 4 --layout $lay --conv $conv > $out/lockstep-$m-$lay-$conv-r$round.txt 2>&1
      grep "step time" $out/lockstep-$m-$lay-$conv-r$round.txt >> $out/log
    done
    log "$m pytorch round $round"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py integration-tests/bench/pytorch/step_time.py --model $m --input $input --batch-size 64 --steps $steps --warmup-steps 4 --threads 2 > $out/pytorch-$m-r$round.txt 2>&1
    grep -i "step time" $out/pytorch-$m-r$round.txt >> $out/log
  done
  log "lenet5 round $round"
  bin/lockstep bench step --model lenet5 --input 1x28x28 --threads 2 --steps 30 --warmup-steps 5 > $out/lockstep-lenet5-r$round.txt 2>&1
  grep "step time" $out/lockstep-lenet5-r$round.txt >> $out/log
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py integration-tests/bench/pytorch/step_time.py --model lenet5 --input 1x28x28 --batch-size 64 --steps 30 --warmup-steps 5 --threads 2 > $out/pytorch-lenet5-r$round.txt 2>&1
  grep -i "step time" $out/pytorch-lenet5-r$round.txt >> $out/log
done
log done
