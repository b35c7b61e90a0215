#!/bin/bash
# /tmp/wire-base held the previous build (4d6f219: the receiver copies each frame before verifying it), packaged
# in this worktree and copied there; /work/wt/wire is this build.
# Per-core FrameSeal cost, this build (in place) and the previous one (receiver copies), alternating.
O=/tmp/wire-runs
T=/work/wt/wire/worker/target/test-classes
s() { local name=$1 root=$2; { echo "## $(date -u +%FT%TZ) $(uptime)"; echo "## $root: SealThroughput 65384 3 1000"; nice -n 19 java -Xmx512m --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED -cp "$T:$root/driver/target/lib/*" io.lockstep.worker.comm.SealThroughput 65384 3 1000; echo "## end $(date -u +%FT%TZ) $(uptime)"; } > $O/$name.txt 2>&1; }
for i in 1 2; do
s seal-inplace-$i /work/wt/wire
s seal-copy-$i /tmp/wire-base
done
echo done > $O/SEALDONE
