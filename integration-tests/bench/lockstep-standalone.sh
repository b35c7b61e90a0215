#!/usr/bin/env bash
# Runs `lockstep train` on a real 2-Worker Spark standalone cluster on this machine (Master and Workers are
# separate JVMs on loopback, started from driver/target/lib alone, no Spark tarball), then
# stops the daemons it started (by pid). Everything is a child of this script, so measure.py sees every JVM.
#
#   lockstep-standalone.sh WORKDIR train --model lenet5 --data DIR ... (no --master: this script sets it)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
work="${1:?work directory}"; shift
lib="$repo/driver/target/lib"
flags_file="$repo/driver/target/classes/lockstep-jvm.flags"
submit_jar="$(ls "$repo"/driver/target/lockstep-driver-*-submit.jar 2>/dev/null | head -1 || true)"
[[ -d "$lib" && -f "$flags_file" && -n "$submit_jar" ]] || { echo "lockstep-standalone.sh: Lockstep is not built; run (cd $repo && mvn -B -DskipTests package)" >&2; exit 2; }
flags="$(cat "$flags_file")"
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
mkdir -p "$work/spark-home/jars" "$work/spark-home/conf"
for j in "$lib"/*.jar; do ln -sf "$j" "$work/spark-home/jars/"; done
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SPARK_HOME="$work/spark-home" SPARK_SCALA_VERSION=2.13 SPARK_LOCAL_IP=127.0.0.1
pids=()
cleanup() { local p; for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log_conf="-Dlog4j2.configurationFile=$repo/conf/log4j2.properties"
# shellcheck disable=SC2086
"$java_bin" -Xmx512m $flags "$log_conf" -cp "$lib/*" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port 0 >"$work/master.log" 2>&1 &
pids+=($!)
deadline=$(( $(date +%s) + 90 ))
until bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; do
  (( $(date +%s) < deadline )) || { echo "lockstep-standalone.sh: the Master did not listen on 127.0.0.1:$port within 90 s ($work/master.log)" >&2; exit 1; }
  sleep 0.5
done
for i in 0 1; do
  mkdir -p "$work/worker$i"
  # shellcheck disable=SC2086
  "$java_bin" -Xmx512m $flags "$log_conf" -cp "$lib/*" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 \
    --memory "${LOCKSTEP_WORKER_MEMORY:-6g}" --webui-port 0 --work-dir "$work/worker$i" "spark://127.0.0.1:$port" >"$work/worker$i.log" 2>&1 &
  pids+=($!)
done
# The driver waits for both executors itself (--slot-wait-ms); no sleep here.
# Executor heap: what an executor caches (its shard of the records), not the model, whose working memory is
# off the heap. A larger ceiling only lets G1 grow the heap, and the resident memory with it, over a long run.
# shellcheck disable=SC2086
"$java_bin" ${LOCKSTEP_JAVA_OPTS:--Xmx4g} $flags "$log_conf" -cp "$lib/*" org.apache.spark.deploy.SparkSubmit \
  --master "spark://127.0.0.1:$port" --deploy-mode client --class io.lockstep.driver.Main \
  --conf "spark.executor.extraJavaOptions=$flags" --conf spark.executor.memory="${LOCKSTEP_EXECUTOR_MEMORY:-1g}" \
  --conf spark.executor.cores=1 --conf spark.cores.max=2 \
  "$submit_jar" "$@" --master "spark://127.0.0.1:$port"
