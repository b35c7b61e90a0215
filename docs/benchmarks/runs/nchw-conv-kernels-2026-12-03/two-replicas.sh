#!/bin/bash
# lenet5, two replicas in local[2] against PyTorch DDP, with the defaults (auto chose nchw + dnnl), two repeats
cd "$(dirname "$0")/../../../.."
for r in 1 2; do
  integration-tests/bench/compare.sh --no-install --no-floor --repeats 1 --models lenet5 \
      --systems "lockstep-local pytorch-ddp" --epochs-lenet5 1 --max-steps-per-epoch 200 --out /tmp/lenet2r/r$r
done
