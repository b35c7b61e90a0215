#!/usr/bin/env bash
# Transfer learning with 2 synchronous replicas, on the Fashion-MNIST subset shipped in data/:
#   1. pretrain resnet20 on classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat);
#   2. fine-tune it on classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) with a new head and the
#      backbone frozen up to stage layer2;
#   3. unfreeze: continue from step 2 with every layer trainable at a lower rate;
#   4. for comparison, train the same 5-class task from scratch for as many epochs as steps 2 and 3.
# Then prints accuracy per epoch and the bytes each replica sent per step in every phase.
#
# Usage: examples/transfer-learning/run.sh [WORK_DIR]   (default out/transfer-learning)
# Environment: PER_CLASS (training images per class, default 400), PRETRAIN_EPOCHS (3),
# FROZEN_EPOCHS (2), UNFROZEN_EPOCHS (1), REPLICAS (2), BATCH (32 per replica).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lockstep="$root/bin/lockstep"
work="${1:-out/transfer-learning}"
per_class="${PER_CLASS:-400}"
pretrain_epochs="${PRETRAIN_EPOCHS:-3}"
frozen_epochs="${FROZEN_EPOCHS:-2}"
unfrozen_epochs="${UNFROZEN_EPOCHS:-1}"
replicas="${REPLICAS:-2}"
batch="${BATCH:-32}"
common=(--model resnet20 --replicas "$replicas" --batch-size "$batch" --channels 1 --seed 7 --no-spark-ui)

# Two 5-class image folders from the shipped subset: the first PER_CLASS training images of each class, every test image.
rm -rf "$work" && mkdir -p "$work"
"$lockstep" export-images --data "$root/data/fashion-mnist-small" --out "$work/all" > /dev/null
for task in a:0,1,2,3,4 b:5,6,7,8,9; do
  name="${task%%:*}"
  classes="${task#*:}"
  for class in ${classes//,/ }; do
    mkdir -p "$work/$name/train/$class" "$work/$name/test/$class"
    find "$work/all/train/$class" -name '*.png' | sort | head -n "$per_class" | xargs cp -t "$work/$name/train/$class"
    cp "$work/all/test/$class"/*.png "$work/$name/test/$class"
  done
done

"$lockstep" train "${common[@]}" --data "$work/a" --epochs "$pretrain_epochs" --out "$work/pretrain"
"$lockstep" train "${common[@]}" --data "$work/b" --epochs "$frozen_epochs" --out "$work/frozen" \
    --init-from "$work/pretrain/model.zip" --replace-head 5 --freeze layer2
"$lockstep" train "${common[@]}" --data "$work/b" --epochs "$unfrozen_epochs" --out "$work/unfrozen" \
    --init-from "$work/frozen/model.zip" --lr 0.002 --warmup-epochs 0.5
"$lockstep" train "${common[@]}" --data "$work/b" --epochs $((frozen_epochs + unfrozen_epochs)) --out "$work/scratch"

/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
for phase in ("pretrain", "frozen", "unfrozen", "scratch"):
    summary = json.load(open(f"{work}/{phase}/summary.json"))
    steps = [json.loads(l) for l in open(f"{work}/{phase}/metrics.jsonl") if '"type":"step"' in l.replace(" ", "")]
    sent = sorted({s["bytes_sent_per_replica"] for s in steps})
    accuracy = ", ".join(f"{a:.4f}" for a in summary["test_accuracy_per_epoch"])
    print(f"{phase:9s} accuracy per epoch [{accuracy}]  bytes per replica per step {sent}  "
          f"{summary['images_per_second']:.0f} images/s")
PY
