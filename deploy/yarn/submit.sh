#!/usr/bin/env bash
# Submits a Lockstep training job to YARN. Run on a gateway host (HADOOP_CONF_DIR set, spark-submit on
# PATH) after `mvn -B -DskipTests package`. Usage:
#   deploy/yarn/submit.sh client|cluster REPLICAS hdfs:///datasets/fashion-mnist hdfs:///runs/NAME [train options...]
# LOCKSTEP_THREADS cores per replica (default 1), LOCKSTEP_REPLICAS_PER_EXECUTOR replicas per executor
# (default 1). Other spark-submit settings: deploy/yarn/spark-defaults.conf. See deploy/yarn/README.md.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if (( $# < 4 )); then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
mode="$1" replicas="$2" data="$3" out="$4"
shift 4
threads="${LOCKSTEP_THREADS:-1}"
per_executor="${LOCKSTEP_REPLICAS_PER_EXECUTOR:-1}"
for n in "$replicas" "$threads" "$per_executor"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: REPLICAS, LOCKSTEP_THREADS and LOCKSTEP_REPLICAS_PER_EXECUTOR must be positive integers, got '$n'" >&2; exit 2; }
done
if (( replicas % per_executor != 0 )); then
  echo "submit.sh: $replicas replicas do not fill executors of $per_executor replicas each; make REPLICAS a multiple of LOCKSTEP_REPLICAS_PER_EXECUTOR" >&2
  exit 2
fi
jar="$root/driver/target/lockstep-driver-0.1.0-SNAPSHOT-submit.jar"
[[ -f "$jar" ]] || { echo "submit.sh: $jar is missing; run (cd $root && mvn -B -DskipTests package)" >&2; exit 2; }

# Executor cores = replicas per executor x threads per replica; one task slot per replica.
exec spark-submit --master yarn --deploy-mode "$mode" --name "lockstep-$(basename "$out")" \
  --properties-file "$here/spark-defaults.conf" \
  --conf spark.executor.instances="$(( replicas / per_executor ))" \
  --conf spark.executor.cores="$(( per_executor * threads ))" \
  --conf spark.task.cpus="$threads" \
  --class io.lockstep.driver.Main "$jar" \
  train --data "$data" --out "$out" --replicas "$replicas" "$@"
