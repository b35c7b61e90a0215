#!/usr/bin/env python3
"""Tabulates profile.sh output: each thread group's share of both cores' samples, and in ms of CPU per
all-reduce (share x 2 cores x the run's median ms/op).   shares.py DIR LABEL..."""
import collections
import re
import sys

GROUPS = ["media driver: network thread", "media driver: conductor", "ranks: compiled Java",
          "ranks: BoringSSL (Conscrypt)", "ranks: kernel, libc, JVM (waiting, JNI)", "idle", "other"]


def group(comm, dso):
    if comm.startswith("/dev/shm"):  # the driver's shared network thread is named after its directory
        return GROUPS[0]
    if comm.startswith("driver-conduct"):
        return GROUPS[1]
    if comm.startswith("bench-rank"):
        return GROUPS[3] if "conscrypt" in dso else GROUPS[2] if "JIT" in dso else GROUPS[4]
    return GROUPS[5] if comm == "swapper" else GROUPS[6]


def main(directory, labels):
    shares, millis = {}, {}
    for label in labels:
        counter = collections.Counter()
        for line in open(f"{directory}/perf-{label}-comm-dso.txt"):
            m = re.match(r"\s*([\d.]+)%\s+(\S.*?)\s{2,}(\S.*?)\s*$", line)
            if m:
                counter[group(m.group(2), m.group(3))] += float(m.group(1))
        shares[label] = counter
        bench = open(f"{directory}/bench-{label}.txt").read()
        millis[label] = float(re.search(r"N=4\s+46.8 MB:\s+([\d.]+) ms/op", bench).group(1))
    print("| thread group | " + " | ".join(f"{l} ({millis[l]:.0f} ms/op)" for l in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for g in GROUPS:
        print(f"| {g} | " + " | ".join(f"{shares[l][g]:.1f} %, {shares[l][g] / 100 * 2 * millis[l]:.0f} ms"
                                         for l in labels) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
