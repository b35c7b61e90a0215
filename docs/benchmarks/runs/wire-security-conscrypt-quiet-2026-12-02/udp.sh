#!/bin/bash
O=/work/runs/ar
r() { local name=$1 dir=$2; shift 2; { echo "## $(date -u +%FT%TZ) $(uptime)"; echo "## $dir: bin/lockstep $*"; (cd $dir && bin/lockstep "$@"); echo "## end $(date -u +%FT%TZ) $(uptime)"; } > $O/$name.txt 2>&1; }
for i in 1 2; do
r udp-native-$i /work/wt/int6 bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 7 --no-spark --dir /dev/shm
r udp-jdk-$i /work/main bench allreduce --ranks 4 --transports udp --sizes 46.8MB --rounds 7 --no-spark --dir /dev/shm
done
echo done > $O/UDPDONE
