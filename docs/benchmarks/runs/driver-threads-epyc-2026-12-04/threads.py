# threads.py PID WAIT_S WINDOW_S: CPU per thread name (trailing digits folded) over a window, from /proc
import os, sys, time, collections
pid = sys.argv[1]; wait = float(sys.argv[2]); window = float(sys.argv[3])
def snap():
    d = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            s = open(f"/proc/{pid}/task/{t}/stat").read()
            name = s[s.index("(")+1:s.rindex(")")]
            f = s[s.rindex(")")+2:].split()
            d[t] = (name, int(f[11]) + int(f[12]))
        except Exception: pass
    return d
time.sleep(wait); a = snap(); time.sleep(window); b = snap()
agg = collections.Counter()
import re
for t,(n,c) in b.items():
    c0 = a.get(t, (n,0))[1]
    agg[re.sub(r'[0-9]+$', '#', n)] += (c - c0)
tck = os.sysconf('SC_CLK_TCK')
tot = sum(agg.values())
for n,c in agg.most_common(15):
    print(f"{n:30s} {100*c/tck/window:6.1f} % of a core")
print(f"{'total':30s} {100*tot/tck/window:6.1f}")
