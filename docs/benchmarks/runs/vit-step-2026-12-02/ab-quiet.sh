#!/bin/bash
O=/work/runs/vitab
BASE=/tmp/vitb/driver-target-base; NEW=/work/main/driver/target
run() { local name=$1; shift; { echo "## $(date -u +%FT%TZ) load: $(uptime)"; echo "## command: $*"; "$@" 2>&1 | grep -v "Added differentiated\|^\s*$\|WARN\|INFO"; echo "## end $(date -u +%FT%TZ) load: $(uptime)"; } > $O/$name.txt; }
for i in 1 2; do
  run new-step-$i /tmp/vitb/bench.sh $NEW --model vit_small --input 1x28x28 --threads 1 --warmup-steps 3 --steps 10
  run base-step-$i /tmp/vitb/bench.sh $BASE --model vit_small --input 1x28x28 --threads 1 --warmup-steps 3 --steps 10
done
cd /work/main/integration-tests/bench/pytorch
for i in 1 2; do
  run pytorch-step-$i env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH=/tmp/vitb/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 step_time.py --model vit_small --input 1x28x28 --threads 1 --warmup-steps 3 --steps 10
done
echo done > $O/DONE
