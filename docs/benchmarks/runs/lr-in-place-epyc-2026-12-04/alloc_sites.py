# alloc_sites.py ALLOC_TXT: heap allocation by site from `jfr print --stack-depth 40 --events jdk.ObjectAllocationSample REC.jfr`
# (JFR's sampled weights): by class, then the arrays ND4J creates (INDArray, shape buffer, deallocator) by the
# innermost Lockstep frame and the outermost DL4J frames under it.
import re, sys, collections
ev = open(sys.argv[1]).read().split('jdk.ObjectAllocationSample')
cls = collections.Counter(); site = collections.Counter(); total = nd = 0
for e in ev[1:]:
    w = re.search(r'weight = ([\d.]+) (\w+)', e); c = re.search(r'objectClass = (\S+)', e)
    if not w or not c: continue
    v = float(w.group(1)) * {'bytes': 1, 'kB': 1e3, 'MB': 1e6, 'GB': 1e9}.get(w.group(2), 1)
    total += v; cls[c.group(1)] += v
    fr = re.findall(r'^\s+([\w.$<>]+\.[\w$<>]+)\(', e, re.M)
    if not any('BaseNDArray.<init>' in f or 'createShapeInfo' in f or 'pickObject' in f for f in fr): continue
    nd += v
    own = [f for f in fr if f.startswith('io.lockstep')]
    dl = [f for f in fr if f.startswith(('org.deeplearning4j', 'org.nd4j.linalg.learning'))]
    site[(own[0] if own else '-') + ' | ' + ' <- '.join(dl[:2])] += v
print(f'sampled allocation {total/1e9:.2f} GB; of it for ND4J arrays {nd/1e9:.2f} GB')
print('\nby class, % of all:')
for k, v in cls.most_common(15): print(f'{100*v/total:5.1f}% {k}')
print('\nND4J arrays by site, % of the arrays\' allocation:')
for k, v in site.most_common(20): print(f'{100*v/nd:5.1f}% {k}')
