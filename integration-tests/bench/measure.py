#!/usr/bin/python3
"""Runs one benchmark command and measures it from the outside, the same way for every system:

* wall-clock time from launch to every `epoch E/N ... test accuracy A` line the command prints
  (Lockstep, the DL4J peer and the PyTorch peer all print one per epoch): time-to-accuracy includes
  JVM/interpreter start, Spark start-up, data loading and evaluation, as a user waits for them;
* the peak resident memory (VmHWM) of every process in the command's process tree, sampled every
  0.5 s and classified by role (driver, executor, pytorch-rank, spark-daemon).

  measure.py --out RUN/measure.json --log RUN/output.log -- COMMAND ARGS...

Exit status: the command's. Nothing is killed but the command's own process group on a timeout.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

EPOCH_LINE = re.compile(r"\bepoch (\d+)/(\d+)\b.*?test accuracy ([0-9.]+)")


def role_of(cmdline):
    if "CoarseGrainedExecutorBackend" in cmdline:
        return "executor"
    if "deploy.master.Master" in cmdline or "deploy.worker.Worker" in cmdline:
        return "spark-daemon"
    if "multiprocessing.spawn" in cmdline or "spawn_main" in cmdline:
        return "pytorch-rank"
    if "resource_tracker" in cmdline:
        return "helper"
    if "io.lockstep.driver.Main" in cmdline or "DL4JSparkPeer" in cmdline or "SparkSubmit" in cmdline:
        return "driver"
    if "ddp_train.py" in cmdline:
        return "pytorch-launcher"
    if "java" in cmdline.split("\0")[0]:
        return "jvm"
    return "other"


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except OSError:
        return None
    return (hwm / 1024.0 if hwm is not None else None), cmdline


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout-s", type=float, default=6 * 3600)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command after --")
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            text=True, errors="replace", bufsize=1)
    peaks = {}
    done = threading.Event()

    def sampler():
        while not done.is_set():
            for pid in descendants(proc.pid):
                s = sample(pid)
                if s and s[0] is not None:
                    old = peaks.get(pid)
                    peaks[pid] = {"pid": pid, "role": role_of(s[1]), "peak_rss_mb": max(s[0], old["peak_rss_mb"] if old else 0),
                                  "command": s[1].replace("\0", " ")[:300]}
            done.wait(0.5)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    epochs = []
    with open(args.log, "w") as log:
        for line in proc.stdout:
            log.write(line)
            m = EPOCH_LINE.search(line)
            if m:
                epochs.append({"epoch": int(m.group(1)), "of": int(m.group(2)), "test_accuracy": float(m.group(3)),
                               "elapsed_s": time.monotonic() - start})
            if time.monotonic() - start > args.timeout_s:
                os.killpg(proc.pid, signal.SIGTERM)
                log.write(f"measure.py: timeout after {args.timeout_s} s, process group {proc.pid} terminated\n")
                break
    code = proc.wait()
    done.set()
    thread.join()
    result = {"command": command, "exit_code": code, "wall_seconds": time.monotonic() - start, "epochs": epochs,
              "processes": sorted(peaks.values(), key=lambda r: r["pid"])}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    sys.exit(code)


if __name__ == "__main__":
    main()
