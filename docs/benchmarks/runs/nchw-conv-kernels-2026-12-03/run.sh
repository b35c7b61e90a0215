#!/bin/bash
# NCHW networks: DL4J's convolution layer vs OneDNN called directly, alternating, same minutes
cd "$(dirname "$0")/../../../.."   # the repository root, built with mvn package
for round in 1 2; do
  for spec in "simplecnn 3x64x64 30 6" "densenet_bc40 1x28x28 12 3" "vgg11_bn 3x32x32 12 3" "lenet5 1x28x28 100 20"; do
    set -- $spec
    for conv in dl4j dnnl; do
      echo "=== round $round model $1 input $2 conv $conv $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
      LOCKSTEP_JAVA_OPTS=-Xmx3g bin/lockstep bench step --model $1 --input $2 --threads 2 --steps $3 --warmup-steps $4 --layout nchw --conv $conv 2>&1 | grep -v "^\s*$" | tail -6
    done
  done
done
