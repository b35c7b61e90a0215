import json,glob,statistics as st,sys
for f in sorted(glob.glob(sys.argv[1]+'/run-*/metrics.jsonl')):
    s=[json.loads(l) for l in open(f) if '"type":"step"' in l][10:]
    print(f.split('/')[-2], "step %.1f compute %.1f norm %.1f exch %.2f" % (st.median(128000/x['images_per_second'] for x in s), st.median(x['compute_ms'] for x in s), st.median(x['norm_sync_ms'] for x in s), st.median(x['exchange_ms'] for x in s)))
