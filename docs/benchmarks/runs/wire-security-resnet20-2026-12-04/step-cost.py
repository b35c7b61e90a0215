"""Medians per run of step time, exchange and BatchNorm sync over steps 11..end of metrics.jsonl.

Step time is the step's images (batch 64 x 2 replicas) over its images_per_second."""
import json, pathlib, statistics, sys

IMAGES_PER_STEP = 64 * 2
out = pathlib.Path(sys.argv[1])
rows = {}
for run in sorted(out.glob("run-*-*/metrics.jsonl")):
    _, rnd, mode = run.parent.name.split("-")
    steps = [json.loads(l) for l in run.open() if '"type":"step"' in l]
    walls = [1000.0 * IMAGES_PER_STEP / s["images_per_second"] for s in steps[10:]]
    pick = lambda k: statistics.median(s[k] for s in steps[10:])
    rows.setdefault(mode, []).append((int(rnd), statistics.median(walls), pick("compute_ms"),
                                      pick("exchange_ms"), pick("norm_sync_ms")))
# Wire-security modes in their usual order, then any other label an A/B gave its runs (run-ROUND-LABEL).
order = [m for m in ("off", "auth", "encrypt") if m in rows] + sorted(set(rows) - {"off", "auth", "encrypt"})
print("mode     round  step ms  compute ms  exchange ms  BatchNorm sync ms")
for mode in order:
    for rnd, wall, comp, exch, norm in sorted(rows[mode]):
        print(f"{mode:8} {rnd:5} {wall:8.1f} {comp:11.1f} {exch:12.2f} {norm:18.2f}")
if "off" in rows:
    print("\nper round, relative to off in the same round (step time):")
for rnd in sorted({r[0] for v in rows.values() for r in v}):
    base = {m: next((r for r in rows[m] if r[0] == rnd), None) for m in rows}
    if base.get("off"):
        print(f"round {rnd}: " + ", ".join(f"{m} {base[m][1] / base['off'][1]:.3f}" for m in ("auth", "encrypt") if base.get(m)))
