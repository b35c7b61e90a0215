#!/usr/bin/env bash
# Submits a Lockstep training job to YARN. Run on a gateway host (HADOOP_CONF_DIR set, spark-submit on
# PATH) after `mvn -B -DskipTests package`. Usage:
#   deploy/yarn/submit.sh client|cluster REPLICAS hdfs:///datasets/fashion-mnist hdfs:///runs/NAME [train options...]
# Executors: one per replica, LOCKSTEP_THREADS cores each (default 1). See deploy/yarn/README.md.
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
jar="$root/driver/target/lockstep-driver-0.1.0-SNAPSHOT-submit.jar"
[[ -f "$jar" ]] || { echo "submit.sh: $jar is missing; run (cd $root && mvn -B -DskipTests package)" >&2; exit 2; }

exec spark-submit --master yarn --deploy-mode "$mode" --name "lockstep-$(basename "$out")" \
  --properties-file "$here/spark-defaults.conf" \
  --conf spark.executor.instances="$replicas" \
  --conf spark.executor.cores="$threads" \
  --conf spark.task.cpus="$threads" \
  --class io.lockstep.driver.Main "$jar" \
  train --data "$data" --out "$out" --replicas "$replicas" "$@"
