#!/usr/bin/env bash
# usage: [EXTRA="more lockstep train options"] ab-sa.sh TAG REPO MODE(local|standalone)
tag=$1; repo=$2; mode=$3; out=/tmp/absa/$tag-$mode-$(date +%H%M%S); mkdir -p /tmp/absa
args=(train --model resnet20 --data /usr/share/datasets/fashion-mnist --replicas 2 --epochs 1 --max-steps-per-epoch 200 --batch-size 64 --seed 42 --lr 0.05 --optimizer nesterov --lr-scaling linear --lr-decay cosine --weight-decay 0.0005 --out $out/out ${EXTRA:-})
if [[ $mode == standalone ]]; then "$repo/integration-tests/bench/lockstep-standalone.sh" $out/cluster "${args[@]}" > $out.log 2>&1
else (cd $repo && bin/lockstep "${args[@]}") > $out.log 2>&1; fi
python3 - $out/out "$tag $mode" <<'PY'
import json,statistics,sys
rows=[json.loads(l) for l in open(sys.argv[1]+'/metrics.jsonl')]
st=[r for r in rows if r.get('type')=='step'][20:]
ep=[r for r in rows if r.get('type')=='epoch'][-1]
m=lambda k: round(statistics.median(r[k] for r in st),1)
print(sys.argv[2], 'img/s(median step)', m('images_per_second'), 'epoch img/s', round(ep['images_per_second']), 'compute', m('compute_ms'), 'sync', m('norm_sync_ms'), 'exch', m('exchange_ms'), 'acc', ep['test_accuracy'])
PY
