#!/usr/bin/env python3
"""Summarize `lockstep train --out DIR` runs from their metrics.jsonl as markdown tables.

    integration-tests/bench/run_summary.py DIR [DIR ...]

Prints, per run, one row per epoch (test accuracy, seconds, images/s, split of the step), then one row
per run: final accuracy, images/s over all epochs, and per-step medians of bytes sent per replica,
synchronized-BatchNorm communication and (threshold exchange) compression ratio.
"""
import json
import os
import statistics
import sys


def records(run):
    """The complete lines of metrics.jsonl (a run still in progress may end in a partial line)."""
    out = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def median(values):
    return statistics.median(values) if values else float("nan")


def main(runs):
    rows = []
    for run in runs:
        metrics = records(run)
        epochs = [m for m in metrics if m["type"] == "epoch"]
        steps = [m for m in metrics if m["type"] == "step"]
        print(f"\n{run}\n")
        print("| epoch | test accuracy | seconds | images/s | compute | BN sync | exchange | data wait |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for e in epochs:
            print(f"| {e['epoch']} | {e['test_accuracy']:.4f} | {e['seconds']:.0f} | {e['images_per_second']:.1f} "
                  f"| {100 * e['compute_share']:.1f} % | {100 * e.get('norm_sync_share', 0):.1f} % "
                  f"| {100 * e['exchange_share']:.1f} % | {100 * e['data_wait_share']:.1f} % |")
        images = sum(e["images_per_second"] * e["seconds"] for e in epochs)
        seconds = sum(e["seconds"] for e in epochs)
        ratios = [s["compression_ratio"] for s in steps if s.get("compression_ratio")]
        rows.append((os.path.basename(run.rstrip("/")), epochs[-1]["test_accuracy"], images / seconds,
                     sum(s["bytes_sent_per_replica"] for s in steps) / len(steps),
                     median([s["bytes_sent_per_replica"] for s in steps]),
                     median([s.get("norm_sync_ms", 0) for s in steps]),
                     median([s["compute_ms"] for s in steps]),
                     median(ratios) if ratios else None))
    print("\n| run | final test accuracy | images/s | bytes sent per replica per step (mean / median) "
          "| BN sync ms/step (median) | compute ms/step (median) | compression ratio (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, acc, ips, mean_bytes, med_bytes, bn, compute, ratio in rows:
        print(f"| {name} | {acc:.4f} | {ips:.1f} | {mean_bytes:,.0f} / {med_bytes:,.0f} | {bn:.1f} | {compute:.0f} "
              f"| {'—' if ratio is None else f'{ratio:.0f}×'} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
