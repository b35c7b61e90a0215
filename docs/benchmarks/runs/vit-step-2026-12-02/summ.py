import re,collections,sys
def load(f):
    txt=open(f).read()
    out=[]
    for e in re.split(r'\njdk\.\w+ \{', txt)[1:]:
        th=re.search(r'sampledThread = "([^"]+)"',e)
        fr=re.findall(r'^\s+([\w.$<>]+)\([^)]*\)\s+line:',e,re.M)
        out.append((th.group(1) if th else '?', fr))
    return out
for f in sys.argv[1:]:
    ev=[x for x in load(f) if x[0]=='main']
    n=len(ev); print(f, 'main-thread samples', n)
    top=collections.Counter(x[1][0] for x in ev if x[1])
    for k,v in top.most_common(12): print(f'  {100*v/n:5.1f}% {k}')
    # attribute to lockstep/DL4J layer types and op names
    cat=collections.Counter()
    for th,fr in ev:
        key='other'
        for fn in fr:
            if 'MKLDNN' in fn or 'Convolution' in fn: key='conv/OneDNN helper'; break
            if 'calculateGradients' in fn: key='SameDiff backward (incl. forward recompute)'; break
            if 'samediff.SameDiffLayer.activate' in fn: key='SameDiff forward'; break
            if 'ElementWiseVertex' in fn: key='residual vertex'; break
            if 'OutputLayer' in fn or 'LossMCXENT' in fn: key='output layer'; break
            if 'updater' in fn.lower() or 'Updater' in fn: key='updater'; break
        cat[key]+=1
    for k,v in cat.most_common(): print(f'  [{100*v/n:5.1f}%] {k}')
