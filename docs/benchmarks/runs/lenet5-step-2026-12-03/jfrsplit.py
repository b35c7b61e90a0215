import sys, re, collections
txt = open(sys.argv[1]).read()
events = re.findall(r'(jdk\.(?:Execution|NativeMethod)Sample) \{\n  startTime = \S+\n  sampledThread = "([^"]*)".*?stackTrace = \[\n(.*?)\n  \]', txt, re.S)
tot = 0; native = 0
by_dl4j = collections.Counter(); by_leaf = collections.Counter(); by_pair = collections.Counter()
for kind, thread, st in events:
    if thread != 'main': continue
    frames = [l.strip() for l in st.split('\n')]
    if not any('TrainingBatches.fit' in f for f in frames): continue
    tot += 1
    isnat = kind == 'jdk.NativeMethodSample'
    native += isnat
    leaf = re.sub(r'\(.*', '', frames[0])
    d = 'other'
    for f in frames:
        if f.startswith('org.deeplearning4j') or f.startswith('io.lockstep') or f.startswith('org.nd4j.linalg.learning'):
            d = re.sub(r'\(.*', '', f); break
    by_dl4j[d] += 1
    by_leaf[('N ' if isnat else 'J ') + leaf] += 1
    by_pair[(d, leaf)] += 1
print(f"samples in fit(): {tot}, native {native} ({100*native/max(tot,1):.1f} %), Java {tot-native}")
print("\n-- by first DL4J/ND4J-learning/Lockstep frame")
for k, v in by_dl4j.most_common(30): print(f"{v:6d} {100*v/tot:5.1f} %  {k}")
print("\n-- by leaf frame")
for k, v in by_leaf.most_common(30): print(f"{v:6d} {100*v/tot:5.1f} %  {k}")
print("\n-- by (issuer, leaf)")
for (d, l), v in by_pair.most_common(40): print(f"{v:6d} {100*v/tot:5.1f} %  {d}  <-  {l}")
