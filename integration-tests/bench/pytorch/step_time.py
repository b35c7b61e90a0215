#!/usr/bin/python3
"""Single-process training step time in PyTorch: the peer of `lockstep bench step`.

Same protocol as Lockstep's StepTimeBenchmark: synthetic inputs uniform in [0, 1), labels i % 10, the
same model definition (peer_models.py) and optimizer (Nesterov 0.9, DL4J's update rule), warm-up
steps, then the median / p10 / p90 of timed steps (forward, backward, optimizer). Prints the two
human lines Lockstep prints plus one JSON line (prefixed `RESULT `) for the benchmark runner.

  /usr/bin/python3 step_time.py --model resnet20 --input 1x28x28 --batch-size 64 --steps 30 --threads 2
"""
import argparse
import json
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common  # noqa: E402
import peer_models  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20", choices=["lenet5", "resnet20", "resnet18", "vit_small"])
    p.add_argument("--input", default="1x28x28", help="CxHxW")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    p.add_argument("--onednn", default="on", choices=["on", "off"], help="torch.backends.mkldnn for convolutions")
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.warmup_steps < 0:
        p.error("--steps and --batch-size must be >= 1, --warmup-steps >= 0")
    channels, height, width = (int(v) for v in args.input.lower().split("x"))
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.backends.mkldnn.enabled = args.onednn == "on"
    warnings.filterwarnings("ignore", message=".*Grad strides do not match.*")
    torch.manual_seed(1)
    model = peer_models.build(args.model, channels, height, width, 10)
    trainable, expected = peer_models.check_against_lockstep(args.model, model, channels, height, width, 10)
    optimizer = peer_common.make_optimizer("dl4j", model, peer_models.decayed_parameters(model), 0.01, 0.0)
    x = torch.rand(args.batch_size, channels, height, width)
    y = torch.arange(args.batch_size) % 10
    model.train()

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(args.warmup_steps):
        step()
    millis = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        millis.append((time.perf_counter() - t) * 1e3)
    millis.sort()
    median = millis[args.steps // 2]
    p10 = millis[args.steps // 10]
    p90 = millis[(args.steps * 9) // 10]
    build = peer_common.build_info()
    print(f"model {args.model}, input {channels}x{height}x{width}, batch {args.batch_size}, threads {threads}, "
          f"oneDNN {args.onednn} (torch {build['torch']}, oneDNN {build['onednn']}, BLAS {build['blas_runtime']})")
    print(f"step time over {args.steps} steps: median {median:.1f} ms, p10 {p10:.1f} ms, p90 {p90:.1f} ms; "
          f"{args.batch_size * 1000 / median:.1f} images/s")
    print("RESULT " + json.dumps({
        "system": "pytorch", "model": args.model, "input": f"{channels}x{height}x{width}", "batch_size": args.batch_size,
        "threads": threads, "steps": args.steps, "median_ms": median, "p10_ms": p10, "p90_ms": p90,
        "images_per_second": args.batch_size * 1000 / median, "trainable_parameters": trainable,
        "lockstep_trainable_parameters": expected, "build": build}))


if __name__ == "__main__":
    main()
