#!/usr/bin/env python3
"""Training-thread samples (Java and native) of a `jfr print --stack-depth 64 --events
jdk.ExecutionSample,jdk.NativeMethodSample` dump, by the innermost graph part on the stack."""
import collections, re, sys

PARTS = [('ResidualAddReluVertex', 'fused add+relu vertex'), ('vertex.impl.ElementWiseVertex', 'elementwise vertex'),
         ('ActivationLayer', 'activation layer'), ('BatchNorm', 'batchnorm'), ('Convolution', 'convolution'),
         ('Dnnl', 'convolution'), ('Subsampling', 'pooling'), ('Pooling', 'pooling'), ('ComputationGraph', 'graph')]
text = open(sys.argv[1]).read()
counts, total = collections.Counter(), 0
for event in re.split(r'\njdk\.(?:ExecutionSample|NativeMethodSample)', text)[1:]:
    thread = re.search(r'sampledThread = "([^"]*)"', event)
    if not thread or thread.group(1) != 'main':
        continue
    total += 1
    part = 'other (startup, logging, ...)'
    for cls, _ in re.findall(r'^\s+([\w.$]+)\.(\w+)\(', event, re.M):
        hit = next((name for key, name in PARTS if key in cls), None)
        if hit:
            part = hit
            break
    counts[part] += 1
print(f'{sys.argv[1]}: {total} training-thread samples')
for part, n in counts.most_common():
    print(f'  {part:32s} {n:5d}  {100 * n / total:5.1f} %')
