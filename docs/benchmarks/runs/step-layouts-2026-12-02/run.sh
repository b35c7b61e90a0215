#!/usr/bin/env bash
# Alternating step-time A/B: Lockstep layouts x cache modes vs PyTorch, 2 threads, batch 64.
cd /work/main
out=/tmp/ab/out; mkdir -p $out
py=/usr/bin/python3
for round in 1 2; do
  for spec in "resnet20 1x28x28 20" "resnet18 3x32x32 12"; do
    read -r m input steps <<<"$spec"
    for cfg in "nchw none" "nhwc none" "nchw device" "nhwc device"; do
      read -r lay cm <<<"$cfg"
      echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $m $lay $cm round $round" >> $out/log
      bin/lockstep bench step --model $m --input $input --threads 2 --steps $steps --warmup-steps 4 --layout $lay --cache-mode $cm > $out/lockstep-$m-$lay-$cm-r$round.txt 2>&1
      grep "step time" $out/lockstep-$m-$lay-$cm-r$round.txt >> $out/log
    done
    echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $m pytorch round $round" >> $out/log
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py integration-tests/bench/pytorch/step_time.py --model $m --input $input --batch-size 64 --steps $steps --warmup-steps 4 --threads 2 > $out/pytorch-$m-r$round.txt 2>&1
    grep -i "step time" $out/pytorch-$m-r$round.txt >> $out/log
  done
  echo "[$(date -u +%H:%M:%S)] lenet5 round $round" >> $out/log
  bin/lockstep bench step --model lenet5 --input 1x28x28 --threads 2 --steps 30 --warmup-steps 5 > $out/lockstep-lenet5-r$round.txt 2>&1
  grep "step time" $out/lockstep-lenet5-r$round.txt >> $out/log
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py integration-tests/bench/pytorch/step_time.py --model lenet5 --input 1x28x28 --batch-size 64 --steps 30 --warmup-steps 5 --threads 2 > $out/pytorch-lenet5-r$round.txt 2>&1
  grep -i "step time" $out/pytorch-lenet5-r$round.txt >> $out/log
done
echo done >> $out/log
