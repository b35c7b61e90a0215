#!/bin/bash
# One lock session: per-layer/op profiles, then A/B/A/B step times, then the PyTorch peer.
O=$1
BASE=/tmp/vitb/driver-target-base; NEW=/work/wt/vit/driver/target
run() { local name=$1; shift; { echo "## $(date -u +%FT%TZ) load: $(uptime)"; echo "## command: $*"; "$@" 2>&1 | grep -v "Added differentiated\|^\s*$\|WARN\|INFO"; echo "## end $(date -u +%FT%TZ) load: $(uptime)"; } > $O/$name.txt; }
run new-profile /tmp/vitb/run-harness.sh $NEW VitProfile ops
run base-profile /tmp/vitb/run-harness.sh $BASE VitProfile ops
for i in 1 2; do
  run base-step-$i /tmp/vitb/bench.sh $BASE --model vit_small --input 1x28x28 --threads 1 --warmup-steps 3 --steps 10
  run new-step-$i /tmp/vitb/bench.sh $NEW --model vit_small --input 1x28x28 --threads 1 --warmup-steps 5 --steps 20
done
cd /work/wt/vit/integration-tests/bench/pytorch
for i in 1 2; do
  run pytorch-step-$i env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH=/tmp/vitb/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 step_time.py --model vit_small --input 1x28x28 --threads 1 --warmup-steps 3 --steps 10
done
echo done > $O/DONE
