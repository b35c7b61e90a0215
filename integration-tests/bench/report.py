#!/usr/bin/python3
"""Turns one compare.sh run directory into results.json, report.md (tables with ratios against
Lockstep local[2], ready for docs/benchmarks/README.md) and PNG plots.

  report.py RUN_DIR

Per system and model, over the repeats: median and spread (min..max) of training images/s (images
trained / summed epoch training seconds, as each system times its epochs), seconds per epoch, time to
the target test accuracy (wall clock from launch, epoch resolution, measured by measure.py), final test
accuracy, peak RSS per replica process and of all processes; for Lockstep the compute / exchange / data
wait split; for DL4J SharedTrainingMaster the exchange verdict and the bytes on the wire.
"""
import glob
import json
import os
import re
import statistics
import sys

BASELINE = "lockstep-local"
ORDER = ["lockstep-local", "lockstep-standalone", "dl4j-averaging", "dl4j-shared-local", "dl4j-shared-netns", "pytorch-ddp"]
LABELS = {
    "lockstep-local": "Lockstep, local[2], allreduce + SyncBN",
    "lockstep-standalone": "Lockstep, 2-Worker standalone, allreduce + SyncBN",
    "dl4j-averaging": "DL4J ParameterAveraging, local[2]",
    "dl4j-shared-local": "DL4J SharedTrainingMaster, local[2] (1 JVM)",
    "dl4j-shared-netns": "DL4J SharedTrainingMaster, 2 executors in netns",
    "pytorch-ddp": "PyTorch 1.13 DDP (gloo), 2 processes",
}
REPLICA_ROLES = {"executor", "pytorch-rank"}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def epoch_records(path):
    records = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    if r.get("type") == "epoch":
                        records.append(r)
    except OSError:
        pass
    return records


def wire_bytes(run):
    def read(name):
        totals = {}
        try:
            for line in open(os.path.join(run, name)):
                m = re.match(r"(\S+) \S+ rx_bytes=(\d+) tx_bytes=(\d+)", line)
                if m:
                    totals[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        except OSError:
            return None
        return totals
    before, after = read("wire-before.txt"), read("wire-after.txt")
    if not before or not after:
        return None
    return {ns: {"rx_bytes": after[ns][0] - before[ns][0], "tx_bytes": after[ns][1] - before[ns][1]} for ns in after if ns in before}


def one_run(run, target):
    measure = load_json(os.path.join(run, "measure.json"))
    summary = load_json(os.path.join(run, "out", "summary.json"))
    epochs = epoch_records(os.path.join(run, "out", "metrics.jsonl"))
    if measure is None:
        return {"status": "skipped" if os.path.exists(os.path.join(run, "skipped.json")) else "missing"}
    r = {"status": "ok" if measure["exit_code"] == 0 and summary else f"failed (exit {measure['exit_code']})",
         "wall_seconds": measure["wall_seconds"]}
    if epochs:
        seconds = [e["seconds"] for e in epochs]
        images = sum(e["images_per_second"] * e["seconds"] for e in epochs)
        r["train_seconds"] = sum(seconds)
        r["images_per_second"] = images / sum(seconds)
        r["seconds_per_epoch"] = statistics.median(seconds)
        r["accuracy_per_epoch"] = [e["test_accuracy"] for e in epochs]
        r["final_accuracy"] = epochs[-1]["test_accuracy"]
        shares = [e for e in epochs if "compute_share" in e]
        if shares:
            r["split"] = {k: statistics.mean(e.get(k + "_share", 0.0) for e in shares)
                          for k in ("compute", "norm_sync", "exchange", "data_wait")}
    reached = next((e["elapsed_s"] for e in measure["epochs"] if e["test_accuracy"] >= target), None)
    r["time_to_target_s"] = reached
    r["accuracy_curve"] = [(e["elapsed_s"], e["test_accuracy"]) for e in measure["epochs"]]
    procs = measure["processes"]
    replicas = [p["peak_rss_mb"] for p in procs if p["role"] in REPLICA_ROLES]
    jvms = [p["peak_rss_mb"] for p in procs if p["role"] in ("driver", "jvm")]
    # Executors started by a cluster's Workers (dl4j-shared-netns) are outside the command's process tree,
    # so the sampler never sees them; the peer has each report its own VmHWM.
    trained = [e for e in (summary or {}).get("executors", []) if e.get("training_iterations")]
    reported = [e["peak_rss_mb"] for e in trained if e.get("peak_rss_mb", -1) > 0]
    outside = not replicas and len(trained) > 1
    if replicas:
        r["peak_rss_per_replica_mb"] = max(replicas)
        r["memory_layout"] = f"{len(replicas)} replica processes"
    elif outside and reported:
        r["peak_rss_per_replica_mb"] = max(reported)
        r["memory_layout"] = f"{len(reported)} executor JVMs, as each reported its own peak"
    elif outside:
        r["memory_layout"] = ("not measured: the executor JVMs ran outside the command's process tree and did not "
                              "report their own peak (a peer built before it did)")
    elif jvms:
        r["peak_rss_per_replica_mb"] = max(jvms)
        r["memory_layout"] = "one JVM holds both replicas and the driver"
    r["peak_rss_all_processes_mb"] = sum(p["peak_rss_mb"] for p in procs if p["role"] != "spark-daemon") + \
        (sum(reported) if outside else 0)
    if summary:
        if "exchange_verdict" in summary:
            r["exchange_verdict"] = summary["exchange_verdict"]
            r["executors"] = summary.get("executors")
        if "build" in summary:
            r["build"] = summary["build"]
    wire = wire_bytes(run)
    if wire:
        r["wire_bytes"] = wire
    return r


def med(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(stat, unit="", digits=0, pct=False):
    if stat is None:
        return "n/a"
    scale = 100 if pct else 1
    m = stat["median"] * scale
    text = f"{m:,.{digits}f}{unit}"
    if stat["n"] > 1:
        text += f" ({stat['min'] * scale:,.{digits}f}–{stat['max'] * scale:,.{digits}f})"
    return text


def ratio(a, b, invert=False):
    if a is None or b is None or not a["median"] or not b["median"]:
        return "n/a"
    return f"{(b['median'] / a['median']) if invert else (a['median'] / b['median']):.2f}×"


def floor_results(out):
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "floor", "*.txt"))):
        name = os.path.basename(path)
        m = re.match(r"(lockstep|pytorch)-(\w+)-run\d+\.txt", name)
        if not m:
            continue
        text = open(path).read()
        t = re.search(r"median ([0-9.]+) ms", text)
        if t:
            rows.setdefault((m.group(2), m.group(1)), []).append(float(t.group(1)))
    return {k: med(v) for k, v in rows.items()}


def main(out):
    config = load_json(os.path.join(out, "config.json")) or {}
    machine = load_json(os.path.join(out, "machine.json")) or {}
    results = {}
    for model_dir in sorted(glob.glob(os.path.join(out, "runs", "*"))):
        model = os.path.basename(model_dir)
        target = float(config.get("hyper", {}).get(model, "0 0 0 0.9").split()[3])
        for system_dir in sorted(glob.glob(os.path.join(model_dir, "*"))):
            system = os.path.basename(system_dir)
            runs = [one_run(r, target) for r in sorted(glob.glob(os.path.join(system_dir, "run*")))]
            results.setdefault(model, {})[system] = {
                "target_accuracy": target, "runs": runs,
                "images_per_second": med([r.get("images_per_second") for r in runs]),
                "seconds_per_epoch": med([r.get("seconds_per_epoch") for r in runs]),
                "time_to_target_s": med([r.get("time_to_target_s") for r in runs]),
                "target_reached_runs": sum(1 for r in runs if r.get("time_to_target_s") is not None),
                "final_accuracy": med([r.get("final_accuracy") for r in runs]),
                "peak_rss_per_replica_mb": med([r.get("peak_rss_per_replica_mb") for r in runs]),
                "peak_rss_all_processes_mb": med([r.get("peak_rss_all_processes_mb") for r in runs]),
                "wall_seconds": med([r.get("wall_seconds") for r in runs]),
            }
    floor = floor_results(out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"config": config, "machine": machine, "results": results,
                   "floor": {f"{k[0]}/{k[1]}": v for k, v in floor.items()}}, f, indent=1)

    lines = []
    quick = config.get("quick")
    if quick:
        lines.append("> **SMOKE RUN (--quick): 1 epoch of a few steps per system. These figures show the harness works; "
                     "they are not benchmark results.**\n")
    lines.append(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
                 f"{machine.get('memory_mb', 0) / 1024:.0f} GiB, {machine.get('os', '?')}, kernel {machine.get('kernel', '?')}; "
                 f"load average at start {' '.join(machine.get('load_average_at_start', []))}.  ")
    lines.append(f"Command: `{config.get('command', '?')}`; {config.get('repeats', '?')} repeat(s), seeds 42.., "
                 f"2 replicas x batch 64, Nesterov 0.9, linear lr scaling, cosine decay. Figures: median (min–max).\n")
    for model, systems in results.items():
        base = systems.get(BASELINE, {})
        target = next(iter(systems.values()))["target_accuracy"]
        lines.append(f"### {model}\n")
        lines.append(f"| system | images/s (training) | s/epoch | time to {target:.0%} test acc. (wall, from launch) | final test acc. "
                     f"| peak RSS per replica (MB) | images/s vs Lockstep | time-to-acc. vs Lockstep |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for system in [s for s in ORDER if s in systems] + [s for s in systems if s not in ORDER]:
            s = systems[system]
            statuses = {r["status"] for r in s["runs"]}
            name = LABELS.get(system, system)
            if statuses == {"skipped"}:
                lines.append(f"| {name} | skipped | | | | | | |")
                continue
            tta = fmt(s["time_to_target_s"], " s") if s["time_to_target_s"] else "not reached"
            if s["time_to_target_s"] and s["target_reached_runs"] < len(s["runs"]):
                tta += f" ({s['target_reached_runs']}/{len(s['runs'])} runs)"
            lines.append(f"| {name} | {fmt(s['images_per_second'])} | {fmt(s['seconds_per_epoch'], '', 1)} | {tta} "
                         f"| {fmt(s['final_accuracy'], '%', 2, pct=True)} | {fmt(s['peak_rss_per_replica_mb'])} "
                         f"| {ratio(s['images_per_second'], base.get('images_per_second')) if system != BASELINE else '1.00×'} "
                         f"| {ratio(s['time_to_target_s'], base.get('time_to_target_s')) if system != BASELINE else '1.00×'} |")
        lines.append("")
        notes = []
        for system, s in systems.items():
            for i, r in enumerate(s["runs"], 1):
                if r["status"] not in ("ok", "skipped"):
                    notes.append(f"- {LABELS.get(system, system)} run {i}: {r['status']} (see runs/{model}/{system}/run{i}/output.log)")
                if r.get("exchange_verdict"):
                    notes.append(f"- {LABELS.get(system, system)} run {i}: **{r['exchange_verdict']}**")
                if r.get("wire_bytes"):
                    wire = ", ".join(f"{ns} rx {v['rx_bytes'] / 1e6:.1f} MB / tx {v['tx_bytes'] / 1e6:.1f} MB"
                                     for ns, v in r["wire_bytes"].items())
                    notes.append(f"  - bytes on the executors' interfaces during the run (all traffic: data, broadcasts, updates): {wire}")
                if r.get("executors"):
                    for e in r["executors"]:
                        if e.get("training_iterations"):
                            notes.append(f"  - executor {e.get('executor')} ({e.get('host')}): {e['training_iterations']} iterations, "
                                         f"{e.get('updates_received_from_network')} updates received from the network, "
                                         f"lr range by epoch {e.get('learning_rate_range_by_epoch')}, conv helper {e.get('onednn_conv_helper')}")
            split = [r["split"] for r in s["runs"] if r.get("split")]
            if split:
                avg = {k: statistics.median(x[k] for x in split) for k in split[0]}
                notes.append(f"- {LABELS.get(system, system)}: step split compute {avg['compute']:.0%}, "
                             f"BatchNorm sync {avg['norm_sync']:.0%}, "
                             f"exchange {avg['exchange']:.0%}, data wait {avg['data_wait']:.0%}")
            layouts = {r.get("memory_layout") for r in s["runs"] if r.get("memory_layout")}
            if layouts:
                notes.append(f"- {LABELS.get(system, system)}: memory per replica measured as: {', '.join(sorted(layouts))}; "
                             f"all processes together {fmt(s['peak_rss_all_processes_mb'])} MB")
        if notes:
            lines.extend(notes)
            lines.append("")
    if floor:
        lines.append("### Single-replica step time (batch 64, all cores, synthetic data): the floor\n")
        lines.append("| model (input) | Lockstep (DL4J M2.1 + OneDNN) ms/step | PyTorch 1.13 ms/step | PyTorch / Lockstep |")
        lines.append("|---|---:|---:|---:|")
        for model, shape in (("resnet20", "1x28x28"), ("resnet18", "3x32x32"), ("lenet5", "1x28x28")):
            if (model, "lockstep") not in floor and (model, "pytorch") not in floor:
                continue
            l, t = floor.get((model, "lockstep")), floor.get((model, "pytorch"))
            lines.append(f"| {model} ({shape}) | {fmt(l, '', 1)} | {fmt(t, '', 1)} | {ratio(t, l)} |")
        lines.append("")
    build = None
    for path in glob.glob(os.path.join(out, "runs", "*", "pytorch-ddp", "run*", "out", "summary.json")):
        build = (load_json(path) or {}).get("build")
        if build:
            break
    if build:
        lines.append(f"PyTorch build: torch {build['torch']}, oneDNN {build['onednn']} (convolutions; enabled: "
                     f"{build['mkldnn_enabled']}), BLAS at build time `{build['blas_build']}`, at run time `{build['blas_runtime']}` "
                     f"(dense layers), CPU capability {build['cpu_capability']}, {build['parallel']}. PyTorch 1.13 has no "
                     f"SyncBatchNorm on CPU: its replicas normalize with their own batch statistics.\n")
    report = "\n".join(lines)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(report + "\n")
    plots(out, results, floor)
    print(report)


def plots(out, results, floor):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib missing (apt-get install python3-matplotlib); no plots", file=sys.stderr)
        return
    for model, systems in results.items():
        names = [s for s in ORDER if s in systems and systems[s]["images_per_second"]]
        if names:
            fig, ax = plt.subplots(figsize=(8, 3.5))
            values = [systems[s]["images_per_second"]["median"] for s in names]
            errs = [[systems[s]["images_per_second"]["median"] - systems[s]["images_per_second"]["min"] for s in names],
                    [systems[s]["images_per_second"]["max"] - systems[s]["images_per_second"]["median"] for s in names]]
            ax.barh([LABELS[s] for s in names], values, xerr=errs, color="#4878a8")
            ax.set_xlabel("training images/s (median, min–max)")
            ax.set_title(f"{model}: throughput, 2 replicas")
            ax.invert_yaxis()
            fig.tight_layout()
            fig.savefig(os.path.join(out, f"{model}-throughput.png"), dpi=110)
            plt.close(fig)
        fig, ax = plt.subplots(figsize=(7, 4))
        for s in [s for s in ORDER if s in systems]:
            curves = [r.get("accuracy_curve") for r in systems[s]["runs"] if r.get("accuracy_curve")]
            if curves:
                curve = curves[0]
                ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", label=LABELS[s])
        ax.axhline(next(iter(systems.values()))["target_accuracy"], color="grey", linestyle=":")
        ax.set_xlabel("wall-clock seconds from launch (first repeat)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{model}: test accuracy over time")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{model}-accuracy-vs-time.png"), dpi=110)
        plt.close(fig)
    if floor:
        fig, ax = plt.subplots(figsize=(6, 3))
        models = ["resnet20", "resnet18"]
        for i, system in enumerate(["lockstep", "pytorch"]):
            values = [floor.get((m, system), {"median": 0})["median"] for m in models]
            ax.bar([x + i * 0.4 for x in range(len(models))], values, width=0.4, label=system)
        ax.set_xticks([x + 0.2 for x in range(len(models))], ["resnet20 1x28x28", "resnet18 3x32x32"])
        ax.set_ylabel("ms per training step (batch 64)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "step-time-floor.png"), dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RUN_DIR")
    main(sys.argv[1])
