#!/usr/bin/env bash
# ab.sh TAG REPO [STEPS]: local[2] resnet20, 2 replicas, full Fashion-MNIST, STEPS (500) steps; G1 log; per-thread CPU from 60 to 100 s after launch
# (missing when the run ended before 100 s)
tag=$1; repo=$2; steps=${3:-500}; out=${AB_OUT:-/tmp/ab}/$tag-$(date +%H%M%S); mkdir -p $out
(cd $repo && LOCKSTEP_JAVA_OPTS="-Xmx8g -Xlog:gc:file=$out/gc.log" bin/lockstep train --model resnet20 --data /usr/share/datasets/fashion-mnist --replicas 2 --epochs 1 --max-steps-per-epoch $steps --batch-size 64 --seed 42 --lr 0.05 --optimizer nesterov --lr-scaling linear --lr-decay cosine --weight-decay 0.0005 --out $out/out ${EXTRA:-} > $out/log 2>&1) &
sleep 60
pid=$(pgrep -f "^[^ ]*java .*io.lockstep.driver.Main train" | head -1)
/usr/bin/python3 "$(dirname "$0")/../driver-threads-epyc-2026-12-04/threads.py" $pid 0 40 > $out/threads.txt
wait
python3 - $out "$tag" <<'PY'
import json,statistics,sys,re
out=sys.argv[1]
rows=[json.loads(l) for l in open(out+'/out/metrics.jsonl')]
st=[r for r in rows if r.get('type')=='step'][20:]
ep=[r for r in rows if r.get('type')=='epoch'][-1]
m=lambda k: round(statistics.median(r[k] for r in st),1)
g=[float(x) for x in re.findall(r'Pause Young.* ([\d.]+)ms', open(out+'/gc.log').read())]
th={l[:30].strip(): float(l[30:].split()[0]) for l in open(out+'/threads.txt')}
print(sys.argv[2], 'epoch img/s', round(ep['images_per_second']), 'median step img/s', m('images_per_second'), 'compute', m('compute_ms'), 'sync', m('norm_sync_ms'), 'acc', ep['test_accuracy'], 'young GCs', len(g), 'pause s', round(sum(g)/1000,1), 'GC thr %', th.get('GC Thread##'), 'replicas %', th.get('Executor task l'))
PY
