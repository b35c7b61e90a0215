#!/usr/bin/env python3
"""Medians of an ab-step.sh output file: step-time medians and process CPU per step, before and after,
and the after/before ratio of each pair."""
import re, statistics, sys

for path in sys.argv[1:]:
    runs = {'before': [], 'after': []}
    load = []
    side = None
    for line in open(path):
        m = re.match(r'== pair (\d+) (before|after) \S+ load average: ([\d.]+)', line)
        if m:
            side = m.group(2)
            load.append(float(m.group(3)))
        m = re.match(r'step time over \d+ steps: median ([\d.]+) ms.*process CPU ([\d.]+) ms per step', line)
        if m and side:
            runs[side].append((float(m.group(1)), float(m.group(2))))
    b, a = runs['before'], runs['after']
    ratios = [y[0] / x[0] for x, y in zip(b, a)]
    print(f'{path}: {len(ratios)} pairs, 1-min load {min(load):.2f}-{max(load):.2f}')
    print(f'  step median  before {statistics.median(x[0] for x in b):6.1f} ms  after {statistics.median(x[0] for x in a):6.1f} ms')
    print(f'  CPU per step before {statistics.median(x[1] for x in b):6.1f} ms  after {statistics.median(x[1] for x in a):6.1f} ms')
    print(f'  after/before per pair: {" ".join(f"{r:.3f}" for r in ratios)}; median {statistics.median(ratios):.3f}')
