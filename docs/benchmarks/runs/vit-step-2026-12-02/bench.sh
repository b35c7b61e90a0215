#!/bin/bash
# usage: bench.sh TARGETDIR args... : `lockstep bench step` with the driver build in TARGETDIR (as bin/lockstep runs it)
T=$1; shift
export OMP_NUM_THREADS=1 MALLOC_ARENA_MAX=2
exec java -Xmx4g $(cat /work/main/driver/target/classes/lockstep-jvm.flags) -Dlog4j2.configurationFile=/work/main/conf/log4j2.properties -cp "$T/lockstep-driver-0.1.0-SNAPSHOT.jar:$T/lib/*" io.lockstep.driver.Main bench step "$@"
