"""Share of the training thread's JFR samples inside fit(), by what the step was doing (first rule that matches)."""
import sys, re, collections
rules = [
    ("activation (ReLU fwd/bwd)", r"ActivationReLU\.|VectorizedReLU\.|MKLDNNConvHelper\.activate|ScalarOp.*relu"),
    ("updater (Nesterov, /batch, step, regularization)", r"updater\.|learning\.Nesterovs|stepfunctions\.|UpdaterBlock"),
    ("pooling", r"Subsampling"),
    ("convolution", r"MKLDNNConvHelper|convolution\.ConvolutionLayer"),
    ("loss + output layer", r"BaseOutputLayer|LossMCXENT"),
    ("dense (fc1)", r"layers\.BaseLayer\."),
    ("graph bookkeeping / other", r"."),
]
txt = open(sys.argv[1]).read()
events = re.findall(r'(jdk\.(?:Execution|NativeMethod)Sample) \{\n  startTime = \S+\n  sampledThread = "([^"]*)".*?stackTrace = \[\n(.*?)\n  \]', txt, re.S)
cat = collections.Counter(); javaleaf = collections.Counter(); alloc = 0; tot = 0
for kind, thread, st in events:
    if thread != 'main' or 'TrainingBatches.fit' not in st: continue
    tot += 1
    for name, pat in rules:
        if re.search(pat, st):
            cat[name] += 1
            if kind == 'jdk.ExecutionSample': javaleaf[name] += 1
            break
    if re.search(r"createUninitialized|createBuffer|\.ulike|Workspace", st.split('\n')[0] + st.split('\n')[1] if '\n' in st else st): alloc += 1
print(f"{tot} samples of the training thread inside fit()")
for name, _ in rules:
    print(f"{cat[name]:6d} {100*cat[name]/tot:5.1f} %  {name}   (of which Java, not native: {javaleaf[name]})")
print(f"samples whose top two frames allocate (workspace/array creation): {alloc} ({100*alloc/tot:.1f} %)")
print(f"Java (not in a native call) overall: {sum(javaleaf.values())} ({100*sum(javaleaf.values())/tot:.1f} %)")
