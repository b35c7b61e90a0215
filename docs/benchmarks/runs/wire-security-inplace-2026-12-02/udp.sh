#!/bin/bash
# /tmp/wire-base held the previous build (4d6f219: the receiver copies each frame before verifying it), packaged
# in this worktree and copied there; /work/wt/wire is this build.
# Alternates this build (frames verified where Aeron delivers them) and the previous build (receiver copies first).
O=/tmp/wire-runs
r() { local name=$1 dir=$2; shift 2; { echo "## $(date -u +%FT%TZ) $(uptime)"; echo "## $dir: nice -n 19 bin/lockstep $*"; (cd $dir && nice -n 19 bin/lockstep "$@"); echo "## end $(date -u +%FT%TZ) $(uptime)"; } > $O/$name.txt 2>&1; }
for i in 1 2; do
r udp-inplace-$i /work/wt/wire bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 7 --no-spark --dir /dev/shm
r udp-copy-$i /tmp/wire-base bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 7 --no-spark --dir /dev/shm
done
echo done > $O/UDPDONE
