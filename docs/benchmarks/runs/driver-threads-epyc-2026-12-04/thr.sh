#!/usr/bin/env bash
# thr.sh TAG REPO: local[2] resnet20 200 steps; per-thread CPU of the JVM from 28 s to 48 s after launch (the first rounds of exec-ab.txt sampled too late: tracebacks)
tag=$1; repo=$2
( EXTRA= "$(dirname "$0")/../two-replicas-epyc-2026-12-03/ab-sa.sh" $tag $repo local > /tmp/$tag.last 2>&1 ) &
sleep 28
pid=$(pgrep -f "^[^ ]*java .*io.lockstep.driver.Main train" | head -1)
/usr/bin/python3 "$(dirname "$0")/threads.py" $pid 0 20 > /tmp/$tag.threads
wait
echo "== $tag $(cat /tmp/$tag.last)"; grep -E "aeron|driver-|/tmp|Executor task|total" /tmp/$tag.threads
