#!/usr/bin/env bash
# One command for the side-by-side benchmark: Lockstep vs DL4J's Spark training vs PyTorch DDP,
# same machine, same run, same data (full Fashion-MNIST), same architectures, fixed seeds.
#
#   integration-tests/bench/compare.sh                 # full comparison (hours on 2 cores: see README)
#   integration-tests/bench/compare.sh --quick         # smoke: every system and model, 1 epoch of 20 steps
#   integration-tests/bench/compare.sh --models lenet5 --systems "lockstep-local pytorch-ddp" --repeats 3
#
# Options: --quick | --repeats N (default 3) | --epochs-lenet5 N (5) | --epochs-resnet20 N (10)
#          --from-repeat K (default 1; K > 1 runs repeats K..N only, seed 42+K-1.., to add repeats to an --out DIR)
#          --max-steps-per-epoch K (0: full epochs) | --models "lenet5 resnet20" | --systems "..." (below)
#          --floor-steps N (30) | --no-floor | --out DIR (default bench-results/<timestamp>) | --data DIR
#          --no-install (skip apt-get and builds) | --report-only DIR (re-render a finished run)
#          --lockstep-args "..." (extra `lockstep train` options for both Lockstep systems, e.g. "--layout nhwc")
# Systems: lockstep-local        Lockstep, 2 replicas in local[2], allreduce + SyncBatchNorm
#          lockstep-standalone   Lockstep, 2 replicas on a 2-Worker standalone cluster (separate JVMs)
#          dl4j-averaging        DL4J ParameterAveragingTrainingMaster, local[2]
#          dl4j-shared-local     DL4J SharedTrainingMaster, local[2] (one JVM: 2 trainer threads, no network)
#          dl4j-shared-netns     DL4J SharedTrainingMaster, 2 executors with their own addresses (network
#                                namespaces + veth; needs root), exchange verified per executor and on the wire
#          pytorch-ddp           PyTorch 1.13 DistributedDataParallel, gloo, 2 processes
# Output: DIR/report.md (tables + ratios against lockstep-local, ready for docs/benchmarks/README.md),
#         DIR/*.png, DIR/results.json, DIR/runs/<model>/<system>/run<k>/ (every log and JSON).
set -euo pipefail
invocation="$0 $*"   # before option parsing shifts the arguments away
bench="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(cd "$bench/../.." && pwd)"
py=/usr/bin/python3   # Debian's interpreter: python3-torch lives there, not in a pyenv/venv python

quick=0; repeats=3; from_repeat=1; epochs_lenet5=5; epochs_resnet20=10; max_steps=0; floor_steps=30; floor=1; install=1
models="lenet5 resnet20"
systems="lockstep-local lockstep-standalone dl4j-averaging dl4j-shared-local dl4j-shared-netns pytorch-ddp"
data=/usr/share/datasets/fashion-mnist
out=""; report_only=""; lockstep_args=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --repeats) repeats="$2"; shift ;;
    --from-repeat) from_repeat="$2"; shift ;;
    --epochs-lenet5) epochs_lenet5="$2"; shift ;;
    --epochs-resnet20) epochs_resnet20="$2"; shift ;;
    --max-steps-per-epoch) max_steps="$2"; shift ;;
    --models) models="$2"; shift ;;
    --systems) systems="$2"; shift ;;
    --floor-steps) floor_steps="$2"; shift ;;
    --no-floor) floor=0 ;;
    --out) out="$2"; shift ;;
    --data) data="$2"; shift ;;
    --no-install) install=0 ;;
    --report-only) report_only="$2"; shift ;;
    --lockstep-args) lockstep_args="$2"; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n "$report_only" ]]; then
  exec "$py" "$bench/report.py" "$report_only"
fi
if (( quick )); then
  repeats=1; epochs_lenet5=1; epochs_resnet20=1; max_steps=20; floor_steps=5
fi
out="${out:-$repo/bench-results/$(date -u +%Y%m%dT%H%M%SZ)$( (( quick )) && echo -quick)}"
mkdir -p "$out/runs"
say() { echo "[compare $(date -u +%H:%M:%S)] $*" >&2; }

# ---- 1. what it needs on a fresh machine -------------------------------------------------------------
if (( install )); then
  need=()
  # libopenblas0-pthread: Debian's torch links the generic libblas.so.3; without OpenBLAS behind that
  # alternative its dense layers run on the reference BLAS. ND4J ships OpenBLAS, so PyTorch gets it too.
  for pkg in python3-torch python3-torchvision python3-numpy python3-matplotlib dataset-fashion-mnist libopenblas0-pthread iproute2; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if (( ${#need[@]} )); then
    [[ $EUID -eq 0 ]] || { echo "compare.sh: missing Debian packages ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2; exit 2; }
    say "installing ${need[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
  fi
  if [[ ! -f "$repo/driver/target/classes/lockstep-jvm.flags" ]] || ! ls "$repo"/driver/target/lockstep-driver-*-submit.jar >/dev/null 2>&1; then
    say "building Lockstep (mvn -B -DskipTests package)"
    (cd "$repo" && mvn -B -ntp -DskipTests package)
  fi
  if ! ls "$repo"/benchmarks/dl4j-spark-peer/target/lockstep-bench-dl4j-spark-peer-*.jar >/dev/null 2>&1; then
    say "building the DL4J Spark peer (its own module, never part of Lockstep's build)"
    (cd "$repo" && mvn -B -ntp -f benchmarks/dl4j-spark-peer/pom.xml -DskipTests package)
  fi
fi
[[ -f "$data/train-images-idx3-ubyte.gz" || -f "$data/train-images-idx3-ubyte" ]] \
  || { echo "compare.sh: no Fashion-MNIST in $data (apt-get install dataset-fashion-mnist, or --data DIR)" >&2; exit 2; }

# ---- 2. the machine --------------------------------------------------------------------------------
"$py" - "$out/machine.json" <<'EOF'
import json, os, platform, subprocess, sys
def run(*cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e: return f"unavailable ({e})"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
json.dump({"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_mb": mem, "kernel": platform.release(),
           "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "java": run("java", "-version").splitlines()[:1] or
           run("bash", "-c", "java -version 2>&1 | head -1"), "load_average_at_start": open("/proc/loadavg").read().split()[:3],
           "os": run("bash", "-c", ". /etc/os-release; echo $PRETTY_NAME")}, open(sys.argv[1], "w"), indent=1)
EOF
java -version 2>&1 | head -1 > "$out/java-version.txt"

# ---- 3. the runs -----------------------------------------------------------------------------------
hyper() { # model -> "epochs lr weight-decay target-accuracy"
  case "$1" in
    lenet5) echo "$epochs_lenet5 0.01 0 0.90" ;;          # conf/lenet5-fashion-mnist.conf
    resnet20) echo "$epochs_resnet20 0.05 0.0005 0.91" ;; # conf/resnet20-fashion-mnist.conf
    *) echo "compare.sh: unknown model $1" >&2; exit 2 ;;
  esac
}
cat > "$out/config.json" <<EOF
{"repeats": $repeats, "quick": $quick, "max_steps_per_epoch": $max_steps, "batch_size_per_replica": 64, "replicas": 2,
 "seed_base": 42, "data": "$data", "models": "$models", "systems": "$systems", "lockstep_args": "$lockstep_args",
 "hyper": {"lenet5": "$(hyper lenet5)", "resnet20": "$(hyper resnet20)"}, "hyper_fields": "epochs lr weight_decay target_accuracy",
 "command": "$invocation"}
EOF

netns_up=0
cleanup() { (( netns_up )) && "$bench/dl4j/netns-cluster.sh" down "$out/netns" || true; }
trap cleanup EXIT

run_one() { # model system repeat
  local model="$1" system="$2" r="$3"
  read -r epochs lr wd target <<<"$(hyper "$model")"
  local seed=$(( 42 + r - 1 ))
  local dir="$out/runs/$model/$system/run$r"
  mkdir -p "$dir"
  local steps=(); (( max_steps > 0 )) && steps=(--max-steps-per-epoch "$max_steps")
  local common_l=(--model "$model" --data "$data" --epochs "$epochs" --batch-size 64 --replicas 2 --lr "$lr"
                  --optimizer nesterov --lr-scaling linear --lr-decay cosine --weight-decay "$wd" --seed "$seed" "${steps[@]}")
  local extra=(); [[ -n "$lockstep_args" ]] && read -r -a extra <<<"$lockstep_args"
  common_l+=("${extra[@]}")
  local common_p=(--model "$model" --data "$data" --epochs "$epochs" --batch-size 64 --lr "$lr" --lr-scaling linear
                  --lr-decay cosine --weight-decay "$wd" --seed "$seed" "${steps[@]}")
  local cmd
  case "$system" in
    lockstep-local) cmd=("$repo/bin/lockstep" train "${common_l[@]}" --out "$dir/out") ;;
    lockstep-standalone) cmd=("$bench/lockstep-standalone.sh" "$dir/cluster" train "${common_l[@]}" --out "$dir/out") ;;
    dl4j-averaging) cmd=("$bench/dl4j/run-peer.sh" --master 'local[2]' --training-master averaging --workers 2 "${common_p[@]}" --out "$dir/out") ;;
    dl4j-shared-local) cmd=("$bench/dl4j/run-peer.sh" --master 'local[2]' --training-master shared --workers 2 "${common_p[@]}" --out "$dir/out") ;;
    dl4j-shared-netns)
      if (( ! netns_up )); then
        if ! "$bench/dl4j/netns-cluster.sh" up "$out/netns" >"$out/netns-up.log" 2>&1; then
          say "dl4j-shared-netns: could not build the namespace cluster ($(tail -1 "$out/netns-up.log")); skipped"
          echo '{"skipped": "namespace cluster unavailable; see netns-up.log"}' > "$dir/skipped.json"; return 0
        fi
        netns_up=1
      fi
      "$bench/dl4j/netns-cluster.sh" bytes > "$dir/wire-before.txt"
      cmd=(env "PEER_EXTRA_JAVA_OPTS=-Dspark.executor.memory=4g -Dspark.executor.cores=1 -Dspark.cores.max=2"
           "$bench/dl4j/netns-cluster.sh" exec "$bench/dl4j/run-peer.sh" --master "spark://10.213.7.1:7177"
           --training-master shared --workers 2 --network-mask 10.213.7.0/24 "${common_p[@]}" --out "$dir/out") ;;
    pytorch-ddp) cmd=("$py" "$bench/pytorch/ddp_train.py" --replicas 2 "${common_p[@]}" --out "$dir/out") ;;
    *) echo "compare.sh: unknown system $system" >&2; exit 2 ;;
  esac
  say "$model / $system / run $r: ${cmd[*]}"
  printf '%q ' "${cmd[@]}" > "$dir/command.txt"
  local rc=0
  "$py" "$bench/measure.py" --out "$dir/measure.json" --log "$dir/output.log" -- "${cmd[@]}" || rc=$?
  if (( rc != 0 )); then
    say "$model / $system / run $r FAILED (exit $rc); last lines of $dir/output.log:"; tail -5 "$dir/output.log" >&2 || true
  fi
  [[ "$system" == dl4j-shared-netns ]] && "$bench/dl4j/netns-cluster.sh" bytes > "$dir/wire-after.txt"
  return 0
}

for r in $(seq "$from_repeat" "$repeats"); do
  for model in $models; do
    for system in $systems; do
      run_one "$model" "$system" "$r"
    done
  done
done

# ---- 4. the single-replica floor (all cores, one replica, batch 64, synthetic data) ----------------
if (( floor )); then
  threads=$(nproc)
  mkdir -p "$out/floor"
  for spec in "resnet20 1x28x28" "resnet18 3x32x32" "lenet5 1x28x28"; do
    read -r m input <<<"$spec"
    for r in $(seq 1 "$repeats"); do
      say "floor $m $input run $r"
      "$repo/bin/lockstep" bench step --model "$m" --input "$input" --batch-size 64 --steps "$floor_steps" \
        --warmup-steps 3 --threads "$threads" > "$out/floor/lockstep-$m-run$r.txt" 2>"$out/floor/lockstep-$m-run$r.err" || say "lockstep floor $m failed"
      # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines for other tools, slow the peer's OpenBLAS.
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$bench/pytorch/step_time.py" --model "$m" --input "$input" \
        --batch-size 64 --steps "$floor_steps" --warmup-steps 3 --threads "$threads" > "$out/floor/pytorch-$m-run$r.txt" 2>"$out/floor/pytorch-$m-run$r.err" || say "pytorch floor $m failed"
    done
  done
fi

# ---- 5. the report -------------------------------------------------------------------------------
"$py" "$bench/report.py" "$out"
say "report: $out/report.md"
