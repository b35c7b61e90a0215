#!/usr/bin/env bash
# samples every executor's RSS and G1 heap (committed/used) every 15 s while the run lasts
while sleep 15; do
  for p in $(pgrep -f CoarseGrainedExecutorBackend); do
    rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$p/status 2>/dev/null)
    heap=$(jcmd $p GC.heap_info 2>/dev/null | grep -m1 "garbage-first heap" | sed 's/.*total \([0-9K]*\), used \([0-9K]*\).*/committed \1 used \2/')
    echo "$(date -u +%H:%M:%S) pid $p rss ${rss}MB heap $heap"
  done
  pgrep -f "deploy.SparkSubmit" > /dev/null || break
done
