#!/usr/bin/env bash
# lenet5 only, longer runs (100 steps after 20 warm-up), alternating the builds before and after Lockstep's max pooling.
before=${1:?}; after=${2:?}; out=${3:?}; rounds=${4:-3}
log() { echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >> "$out/lenet5-log"; }
for round in $(seq 1 "$rounds"); do
  for conv in dl4j dnnl; do
    for build in before after; do
      repo=$before; [[ $build == after ]] && repo=$after
      log "$build lenet5 nchw $conv round $round"
      (cd "$repo" && bin/lockstep bench step --model lenet5 --input 1x28x28 --threads 2 --steps 100 --warmup-steps 20 \
          --layout nchw --conv $conv) 2>&1 | grep "step time" >> "$out/lenet5-log"
    done
  done
  log "pytorch lenet5 round $round"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$after/integration-tests/bench/pytorch/step_time.py" --model lenet5 \
      --input 1x28x28 --batch-size 64 --steps 100 --warmup-steps 20 --threads 2 2>&1 | grep -o '"median_ms": [0-9.]*' >> "$out/lenet5-log"
done
log done
