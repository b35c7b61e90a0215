#!/usr/bin/env bash
# Transfer learning with 2 synchronous replicas, on the Fashion-MNIST subset shipped in data/:
#   1. pretrain resnet20 on classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat);
#   2. fine-tune it on classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) with a new head, the backbone
#      frozen up to stage layer2 for FROZEN_EPOCHS epochs, then every layer trainable (--unfreeze-schedule);
#   3. for comparison, train the same 5-class task from scratch for as many epochs.
# Then prints accuracy per epoch and the bytes each replica sent per step in every epoch.
#
# Usage: examples/transfer-learning/run.sh [WORK_DIR]   (default out/transfer-learning)
# Environment: PER_CLASS (training images per class, default 400), PRETRAIN_EPOCHS (3),
# FROZEN_EPOCHS (2), UNFROZEN_EPOCHS (1), REPLICAS (2), BATCH (32 per replica). Needs a build
# (mvn -B -DskipTests package) and /usr/bin/python3 for the summary.
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
rm -rf "$work/a" "$work/b" "$work/pretrain" "$work/finetune" "$work/scratch" && mkdir -p "$work"
[[ -d "$work/all/test" ]] || "$lockstep" export-images --data "$root/data/fashion-mnist-small" --out "$work/all" > /dev/null
for task in a:0,1,2,3,4 b:5,6,7,8,9; do
  name="${task%%:*}"
  classes="${task#*:}"
  for class in ${classes//,/ }; do
    mkdir -p "$work/$name/train/$class" "$work/$name/test/$class"
    mapfile -t images < <(find "$work/all/train/$class" -name '*.png' | sort)
    cp "${images[@]:0:$per_class}" "$work/$name/train/$class"
    cp "$work/all/test/$class"/*.png "$work/$name/test/$class"
  done
done

"$lockstep" train "${common[@]}" --data "$work/a" --epochs "$pretrain_epochs" --out "$work/pretrain"
"$lockstep" train "${common[@]}" --data "$work/b" --epochs $((frozen_epochs + unfrozen_epochs)) --out "$work/finetune" \
    --init-from "$work/pretrain/model.zip" --replace-head 5 --freeze layer2 --unfreeze-schedule $((frozen_epochs + 1)):all
"$lockstep" train "${common[@]}" --data "$work/b" --epochs $((frozen_epochs + unfrozen_epochs)) --out "$work/scratch"

/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
for job in ("pretrain", "finetune", "scratch"):
    summary = json.load(open(f"{work}/{job}/summary.json"))
    records = [json.loads(line) for line in open(f"{work}/{job}/metrics.jsonl")]
    for epoch, accuracy in enumerate(summary["test_accuracy_per_epoch"], start=1):
        sent = sorted({r["bytes_sent_per_replica"] for r in records if r["type"] == "step" and r["epoch"] == epoch})
        print(f"{job:9s} epoch {epoch}: test accuracy {accuracy:.4f}, bytes per replica per step {sent}")
    print(f"{job:9s} {summary['images_per_second']:.0f} images/s over {summary['wall_seconds']:.0f} s")
PY
