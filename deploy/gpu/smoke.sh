#!/usr/bin/env bash
# GPU smoke test for a host with NVIDIA GPUs. Build the GPU jar first: mvn -B -Pcuda -DskipTests package
# Then run: deploy/gpu/smoke.sh            (uses every GPU of the host, at most 2)
#
# Checks, each reported as PASS or FAIL:
#   1. the NVIDIA driver lists GPUs and the discovery script reports them to Spark;
#   2. the GPU's architecture is one ND4J 1.0.0-M2.1's CUDA 11.6 build has kernels for (sm_37 ... sm_86;
#      no Hopper, no PTX);
#   3. a 2-replica training run in Spark local mode, one GPU per replica (or both on one GPU when the
#      host has only one): ND4J loaded its CUDA backend, every replica bound its GPU, training steps
#      ran, and the replicas' gradient all-reduce kept them bit-identical (parameter checksum every step).
set -uo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
root="$(cd "$here/../.." && pwd)"
discovery="$here/getGpusResources.sh"
work="$(mktemp -d "${TMPDIR:-/tmp}/lockstep-gpu-smoke.XXXXXX")"
failures=0

pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }

# 1. driver and discovery
if ! json="$("$discovery" 2>"$work/discovery.err")"; then
  fail "GPU discovery: $(cat "$work/discovery.err")"
  echo "stopped: no GPU to test (logs in $work)"
  exit 1
fi
gpus=$(grep -o '"[0-9]*"' <<< "$json" | wc -l)
pass "GPU discovery: $json"

# 2. architecture
caps="$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null || true)"
if [[ -z "$caps" ]]; then
  echo "note  this nvidia-smi cannot report compute capabilities; check them against sm_37 ... sm_86 yourself"
else
  while IFS=',' read -r name cap; do
    cap="${cap// /}"
    major="${cap%%.*}"
    if [[ "$major" =~ ^[0-9]+$ ]] && (( major >= 9 )); then
      fail "GPU ${name# } has compute capability $cap: ND4J 1.0.0-M2.1 (CUDA 11.6) has no kernels for it (sm_37 ... sm_86 only)"
    else
      pass "GPU ${name# } (compute capability $cap) is supported"
    fi
  done <<< "$caps"
fi

# 3. device binding, training steps and all-reduce on the GPU(s)
if [[ ! -x "$root/bin/lockstep" || ! -d "$root/driver/target/lib" ]]; then
  fail "not built: run (cd $root && mvn -B -Pcuda -DskipTests package) first"
  exit 1
fi
if ! ls "$root/driver/target/lib/" | grep -q '^nd4j-cuda'; then
  fail "this build is not the CUDA build: run (cd $root && mvn -B -Pcuda -DskipTests package)"
  exit 1
fi
per_task=1
(( gpus >= 2 )) || per_task=0.5
LOCKSTEP_JAVA_OPTS="-Xmx6g -Dspark.driver.resource.gpu.amount=$(( gpus >= 2 ? 2 : 1 )) \
  -Dspark.driver.resource.gpu.discoveryScript=$discovery -Dspark.task.resource.gpu.amount=$per_task" \
  "$root/bin/lockstep" train --model lenet5 --data "$root/data/fashion-mnist-small" --master 'local[2]' --replicas 2 \
  --epochs 1 --max-steps-per-epoch 20 --batch-size 64 --check-every 1 --out "$work/run" >"$work/train.out" 2>"$work/train.err"
code=$?
bound=$(grep -c 'uses GPU' "$work/train.err" || true)
if (( code != 0 )); then
  fail "training run exited with $code; the reason is in the last lines of $work/train.err:"
  tail -n 15 "$work/train.err" | sed 's/^/      /'
elif (( bound != 2 )); then
  fail "training ran but $bound of 2 replicas reported a GPU binding (see $work/train.err)"
else
  pass "CUDA backend loaded, both replicas bound to a GPU: $(grep -o 'replica [0-9]* uses GPU [0-9]*' "$work/train.err" | paste -sd ';' -)"
  pass "20 training steps with the all-reduce, replicas bit-identical at every step: $(grep -o 'test accuracy [0-9.]*' "$work/train.err" | tail -n 1)"
fi

echo
if (( failures == 0 )); then
  echo "GPU smoke test passed (logs in $work)"
else
  echo "GPU smoke test: $failures check(s) failed (logs in $work)"
fi
exit $(( failures == 0 ? 0 : 1 ))
