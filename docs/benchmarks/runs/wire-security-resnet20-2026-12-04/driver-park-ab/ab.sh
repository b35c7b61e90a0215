set -e
out=/tmp/drvab; mkdir -p $out
for round in 1 2; do
  for tag in main drv; do
    repo=/work/main; [ $tag = drv ] && repo=/work/wt/drv
    cd $repo
    integration-tests/bench/lockstep-standalone.sh $out/cluster-$round-$tag train --model resnet20 --data data/fashion-mnist-small --replicas 2 --epochs 1 --max-steps-per-epoch 60 --batch-size 64 --transport udp --wire-security off --metrics-every 1 --no-spark-ui --out $out/run-$round-$tag > $out/run-$round-$tag.log 2>&1
    echo "round $round $tag done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
