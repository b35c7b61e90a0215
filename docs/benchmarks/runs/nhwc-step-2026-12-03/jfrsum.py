#!/usr/bin/env python3
"""Summarize jdk.ExecutionSample / jdk.NativeMethodSample of thread 'main' from `jfr print --json`.
Categories by innermost matching frame; also top leaf frames and top frames within 'rest'."""
import json, sys, subprocess, collections
f = sys.argv[1]; THREAD = sys.argv[2] if len(sys.argv) > 2 else 'main'
out = subprocess.run(['jfr', 'print', '--json', '--events', 'jdk.ExecutionSample,jdk.NativeMethodSample', '--stack-depth', '64', f], capture_output=True, text=True).stdout
ev = json.loads(out)['recording']['events']
cats = [
 ('conv direct', 'DnnlConvolutionLayer'),
 ('conv helper bwd', 'MKLDNNConvHelper.backpropGradient'),
 ('conv helper fwd', 'MKLDNNConvHelper.preOutput'),
 ('conv dl4j layer', 'ConvolutionLayer.'),
 ('batchnorm', 'SyncBatchNormalizationLayer'),
 ('updater', 'updater'),
 ('pooling', 'SubsamplingLayer'),
 ('globalpool', 'GlobalPoolingLayer'),
 ('activation layer', 'ActivationLayer'),
 ('elementwise vertex', 'ElementWiseVertex'),
 ('merge vertex', 'MergeVertex'),
 ('scale vertex', 'ScaleVertex'),
 ('preprocessor', 'PreProcessor'),
 ('output layer', 'OutputLayer'),
]
counts = collections.Counter(); leaf = collections.Counter(); restleaf = collections.Counter(); catleaf = collections.defaultdict(collections.Counter)
frames_in = collections.defaultdict(collections.Counter)
n = 0
for e in ev:
    v = e['values']
    th = v.get('sampledThread') or {}
    if (th.get('javaName') or th.get('osName')) != THREAD:
        continue
    st = v.get('stackTrace')
    if not st: continue
    fr = [ (x['method']['type']['name'] + '.' + x['method']['name'], x.get('lineNumber')) for x in st['frames']]
    n += 1
    names = [a for a,_ in fr]
    c = 'rest'
    for nm in names:  # innermost first
        hit = None
        for cname, pat in cats:
            if pat in nm:
                hit = cname; break
        if hit: c = hit; break
    counts[c] += 1
    catleaf[c][names[0]] += 1
    # first frame outside nd4j/jdk internals for attribution
    for nm in names:
        if 'deeplearning4j' in nm or 'lockstep' in nm:
            frames_in[c]['%s' % nm] += 1; break
print('training-thread samples', n)
for c, k in counts.most_common():
    print('%7d %5.1f%%  %s' % (k, 100.0*k/n, c))
for c in counts:
    print('\n## %s: leaf frames' % c)
    for nm, k in catleaf[c].most_common(8): print('   %6d %s' % (k, nm))
    print('## %s: innermost dl4j/lockstep frame' % c)
    for nm, k in frames_in[c].most_common(8): print('   %6d %s' % (k, nm))
