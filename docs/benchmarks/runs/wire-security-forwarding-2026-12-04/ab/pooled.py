#!/usr/bin/env python3
"""Pools the per-round `auth` / `off` ratios of bench allreduce outputs by label.
   pooled.py DIR LABEL...   reads DIR/LABEL-*.txt"""
import glob, re, statistics, sys

directory, labels = sys.argv[1], sys.argv[2:]
for label in labels:
    ratios, runs = [], []
    for path in sorted(glob.glob(f"{directory}/{label}-*.txt")):
        text = open(path).read()
        match = re.search(r"\[udp auth\].*?busbw vs off ([0-9.]+) \(per round: \[([^\]]*)\]", text)
        runs.append(match.group(1))
        ratios += [float(x) for x in match.group(2).split(",")]
    ratios.sort()
    n = len(ratios)
    print(f"{label}: runs {' '.join(runs)}; all {n} rounds: median {statistics.median(ratios):.2f} "
          f"(quartiles {ratios[n // 4]:.2f}-{ratios[3 * n // 4]:.2f}), mean {statistics.mean(ratios):.3f}")
