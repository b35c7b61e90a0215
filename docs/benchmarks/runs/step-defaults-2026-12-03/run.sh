#!/usr/bin/env bash
# Step time on a quiet machine, 2 threads, batch 64, the defaults (`bench step` flags as `train` decides them:
# resnets nhwc + dnnl, lenet5 nchw + dnnl): the build before and after, alternating, then PyTorch 1.13 on the
# same cores, per model and round.
before=${1:?checkout of the build before}; after=${2:?checkout of the build after}; out=${3:?output dir}; rounds=${4:-3}
mkdir -p "$out"
py=/usr/bin/python3
log() { echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >> "$out/log"; }
step() { # build model input steps warmup layout conv
  local build=$1 m=$2 input=$3 steps=$4 warm=$5 lay=$6 conv=$7 repo f
  repo=$before; [[ $build == after ]] && repo=$after
  f="$out/lockstep-$build-$m-r$round.txt"
  log "$build $m $lay $conv round $round"
  (cd "$repo" && bin/lockstep bench step --model "$m" --input "$input" --threads 2 --steps "$steps" \
      --warmup-steps "$warm" --layout "$lay" --conv "$conv") > "$f" 2>&1
  grep "step time" "$f" >> "$out/log"
}
torch() { # model input steps warmup
  local f="$out/pytorch-$1-r$round.txt"
  log "pytorch $1 round $round"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py "$after/integration-tests/bench/pytorch/step_time.py" --model "$1" \
      --input "$2" --batch-size 64 --steps "$3" --warmup-steps "$4" --threads 2 > "$f" 2>&1
  grep -o '"median_ms": [0-9.]*' "$f" >> "$out/log"
}
for round in $(seq 1 "$rounds"); do
  for build in before after; do step $build resnet20 1x28x28 20 4 nhwc dnnl; done
  torch resnet20 1x28x28 20 4
  step after lenet5 1x28x28 100 20 nchw dnnl
  torch lenet5 1x28x28 100 20
  if [[ $round == 1 ]]; then
    for build in before after; do step $build resnet18 3x32x32 12 3 nhwc dnnl; done
    torch resnet18 3x32x32 12 3
  fi
done
log done
