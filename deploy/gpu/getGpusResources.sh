#!/usr/bin/env bash
# Spark GPU discovery script: prints this host's GPUs in the JSON Spark expects, for example
#   {"name": "gpu", "addresses": ["0", "1"]}
# Point spark.executor.resource.gpu.discoveryScript (or spark.worker.resource.gpu.discoveryScript on
# standalone Workers, spark.driver.resource.gpu.discoveryScript in local mode) at this file on every host.
#
# Addresses are CUDA device indices, which is what each Lockstep replica binds to. When the cluster
# manager already isolated GPUs for the container (CUDA_VISIBLE_DEVICES set, as YARN GPU isolation and
# NVIDIA's container runtime do), CUDA numbers the visible devices 0..k-1, so those numbers are reported.
set -euo pipefail

fail() {
  echo "getGpusResources.sh: $*" >&2
  exit 1
}

command -v nvidia-smi >/dev/null 2>&1 || fail "nvidia-smi not found on $(hostname): install the NVIDIA driver, or remove the GPU settings for this host"

if [[ -n "${CUDA_VISIBLE_DEVICES:-}" && "${CUDA_VISIBLE_DEVICES}" != "NoDevFiles" ]]; then
  IFS=',' read -r -a visible <<< "${CUDA_VISIBLE_DEVICES}"
  indices=()
  for i in "${!visible[@]}"; do
    indices+=("$i")
  done
else
  listing="$(nvidia-smi --query-gpu=index --format=csv,noheader)" || fail "nvidia-smi failed on $(hostname) (driver not loaded?)"
  mapfile -t indices < <(tr -d ' \r' <<< "$listing" | grep -E '^[0-9]+$' || true)
fi

(( ${#indices[@]} > 0 )) || fail "no GPU found on $(hostname)"

json=""
for index in "${indices[@]}"; do
  json+="${json:+, }\"$index\""
done
echo "{\"name\": \"gpu\", \"addresses\": [$json]}"
