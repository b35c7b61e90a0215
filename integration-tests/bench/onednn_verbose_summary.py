#!/usr/bin/env python3
"""Summarise OneDNN's execution log (DNNL_VERBOSE=1) of a run: time and calls per primitive, the
layouts each convolution pass chose, and the reorders (layout conversions) that cost the most.

    DNNL_VERBOSE=1 bin/lockstep bench step ... > run.txt
    integration-tests/bench/onednn_verbose_summary.py run.txt [--batch 64]

Reorders whose first dimension is the batch size and whose layouts are not weight layouts (those
start with a capital A: Acdb16a, ABcd16b16a) are counted as activation reorders, the others (weights,
their gradients) as weight reorders. Times are OneDNN's own per-call wall times in ms.
"""
import argparse
import collections
import sys


def parse(path):
    # oneDNN 2.x: dnnl_verbose,exec,cpu,<primitive>,<impl>,<prop>,<memory descs>,<attrs>,<aux>,<problem>,<ms>
    for line in open(path, errors="replace"):
        if not line.startswith("dnnl_verbose,exec,"):
            continue
        f = line.rstrip("\n").split(",")
        if len(f) < 11:
            continue
        try:
            ms = float(f[-1])
        except ValueError:
            continue
        yield {"primitive": f[3], "impl": f[4], "prop": f[5], "mds": f[6], "problem": f[-2], "ms": ms}


def formats(mds):
    """{'src': 'acdb', 'wei': 'Acdb16a', ...} from 'src_f32::blocked:acdb:f0 wei_f32::blocked:Acdb16a:f0 ...'."""
    out = {}
    for md in mds.split():
        name = md.split(":")[0].rsplit("_", 1)[0]  # src, wei, dst, diff_src, diff_dst, diff_wei, bia
        parts = md.split(":")
        out[name] = parts[3] if len(parts) > 3 else md
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    rows = list(parse(a.log))
    if not rows:
        sys.exit("no dnnl_verbose,exec lines in " + a.log + " (was DNNL_VERBOSE=1 set?)")
    total = sum(r["ms"] for r in rows)
    by_kind = collections.defaultdict(lambda: [0, 0.0])
    for r in rows:
        key = r["primitive"] + ("" if r["primitive"] == "reorder" else " " + r["prop"])
        by_kind[key][0] += 1
        by_kind[key][1] += r["ms"]
    print("OneDNN exec time by primitive (total %.1f ms, %d calls):" % (total, len(rows)))
    for key, (n, ms) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print("  %-44s %5d calls %10.1f ms %5.1f %%" % (key, n, ms, 100 * ms / total))

    reorders = [r for r in rows if r["primitive"] == "reorder"]
    def is_activation(r):
        # Weight layouts are blocked on the output channels first (Acdb16a, ABcd16b16a): a capital A.
        f = formats(r["mds"])
        return r["problem"].split("x")[0] == str(a.batch) and not any(v.startswith("A") for v in f.values())
    act = [r for r in reorders if is_activation(r)]
    wei = [r for r in reorders if not is_activation(r)]
    for label, group in (("activation reorders (batch %d first)" % a.batch, act), ("weight reorders", wei)):
        ms = sum(r["ms"] for r in group)
        print("%s: %d calls, %.1f ms, %.1f %% of OneDNN time" % (label, len(group), ms, 100 * ms / total))

    print("Layouts chosen by each convolution pass (src/wei/dst or diff_* for backward), calls:")
    chosen = collections.Counter()
    for r in rows:
        if r["primitive"] != "convolution":
            continue
        f = formats(r["mds"])
        desc = " ".join("%s:%s" % (k, v) for k, v in f.items() if k not in ("bia", "diff_bia"))
        chosen[(r["prop"], r["impl"], desc)] += 1
    for (prop, impl, desc), n in sorted(chosen.items(), key=lambda kv: (kv[0][0], -kv[1])):
        print("  %-22s %-26s %4d  %s" % (prop, impl, n, desc))

    print("Largest reorders (src -> dst layout, shape):")
    groups = collections.defaultdict(lambda: [0, 0.0])
    for r in reorders:
        f = formats(r["mds"])
        groups[(f.get("src", "?"), f.get("dst", "?"), r["problem"])][0] += 1
        groups[(f.get("src", "?"), f.get("dst", "?"), r["problem"])][1] += r["ms"]
    for (src, dst, shape), (n, ms) in sorted(groups.items(), key=lambda kv: -kv[1][1])[: a.top]:
        print("  %10.1f ms %5d calls  %-8s -> %-12s %s" % (ms, n, src, dst, shape))


if __name__ == "__main__":
    main()
