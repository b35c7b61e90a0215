#!/usr/bin/env bash
# Runs the DL4J Spark peer (benchmarks/dl4j-spark-peer) with the JVM flags it needs:
#   run-peer.sh --master local[2] --training-master averaging|shared --model lenet5 --data DIR --out DIR [...]
# Build it first:  (cd REPO && mvn -B -f benchmarks/dl4j-spark-peer/pom.xml package -DskipTests)
# Environment: PEER_JAVA_OPTS (default -Xmx6g), PEER_EXTRA_JAVA_OPTS (appended; e.g. spark.* properties).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)"
target="$repo/benchmarks/dl4j-spark-peer/target"
jar="$(ls "$target"/lockstep-bench-dl4j-spark-peer-*.jar 2>/dev/null | head -1 || true)"
if [[ -z "$jar" || ! -d "$target/lib" ]]; then
  echo "run-peer.sh: the DL4J Spark peer is not built; run: (cd $repo && mvn -B -f benchmarks/dl4j-spark-peer/pom.xml package -DskipTests)" >&2
  exit 2
fi
# The same flags as Lockstep's JVMs (Spark's --add-opens list, DL4J's OneDNN helpers switched on), plus
# Aeron's publication unblock timeout above the 30 s client liveness timeout DL4J's transport sets.
peer_jvm_flags="-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED -Dorg.eclipse.deeplearning4j.helpers.disable=false -Daeron.publication.unblock.timeout=60000000000"
export PEER_JVM_FLAGS="$peer_jvm_flags"
export PEER_CLASSPATH="$jar:$target/lib/*"
[[ "${1:-}" == "--print-env" ]] && { echo "PEER_JVM_FLAGS=$PEER_JVM_FLAGS"; echo "PEER_CLASSPATH=$PEER_CLASSPATH"; exit 0; }
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# shellcheck disable=SC2086
exec "$java_bin" ${PEER_JAVA_OPTS:--Xmx6g} $peer_jvm_flags \
  "-Dspark.executor.extraJavaOptions=$peer_jvm_flags" ${PEER_EXTRA_JAVA_OPTS:-} \
  -cp "$PEER_CLASSPATH" io.lockstep.bench.dl4jspark.DL4JSparkPeer "$@"
