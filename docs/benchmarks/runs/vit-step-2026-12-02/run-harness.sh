#!/bin/bash
# usage: run-harness.sh TARGETDIR class args...
T=$1; shift; C=$1; shift
export OMP_NUM_THREADS=1 MALLOC_ARENA_MAX=2
exec java -Xmx4g $(cat /work/wt/vit/driver/target/classes/lockstep-jvm.flags) -Dlog4j2.configurationFile=/work/wt/vit/conf/log4j2.properties -cp "$T/lib/*:/tmp/vitb/harness" $C "$@"
