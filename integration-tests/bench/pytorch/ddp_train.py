#!/usr/bin/python3
"""PyTorch DistributedDataParallel peer of `lockstep train`, on CPU with the gloo backend.

Same data (IDX files read directly, pixels scaled to [0, 1], no augmentation), same architecture
(peer_models.py, parameter counts checked against Lockstep's), same per-replica batch, optimizer
(Nesterov momentum 0.9 with DL4J's update rule, decoupled weight decay on weights only), learning
rate (linear scaling with the replica count, half-cosine decay to 0 per step), seed and step count
per epoch (each rank takes floor(train / (replicas x batch)) full batches: DistributedSampler with
drop_last, the last partial batch dropped, as Lockstep's EpochPlan does).

Writes OUT/metrics.jsonl (per step of rank 0, per epoch) and OUT/summary.json in the shape of
Lockstep's, and prints `epoch E/N ... test accuracy A ...` lines to stderr (the benchmark runner
time-stamps them). Example:

  /usr/bin/python3 ddp_train.py --model lenet5 --data /usr/share/datasets/fashion-mnist \
      --epochs 5 --batch-size 64 --replicas 2 --lr 0.01 --out /tmp/ddp-lenet5

Differences from Lockstep that cannot be removed here, stated in every summary: PyTorch 1.13 has
no SyncBatchNorm on CPU, so BatchNorm uses each replica's batch statistics (DDP broadcasts rank 0's
running statistics every step, its default); DDP overlaps its gradient all-reduce with backward.
"""
import argparse
import datetime
import json
import os
import socket
import sys
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idx_data  # noqa: E402
import peer_common  # noqa: E402
import peer_models  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lenet5", choices=["lenet5", "resnet20", "resnet18"])
    p.add_argument("--data", required=True, help="directory with the four (Fashion-)MNIST IDX files, .gz or not")
    p.add_argument("--out", required=True, help="output directory (metrics.jsonl, summary.json)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64, help="examples per replica per step")
    p.add_argument("--replicas", type=int, default=2, help="processes (ranks)")
    p.add_argument("--lr", type=float, default=0.01, help="base rate for one replica")
    p.add_argument("--lr-scaling", default="linear", choices=["linear", "none"])
    p.add_argument("--lr-decay", default="cosine", choices=["cosine", "none"])
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--update-rule", default="dl4j", choices=["dl4j", "torch"],
                   help="dl4j: Lockstep's exact Nesterov/weight-decay arithmetic; torch: torch.optim.SGD(nesterov=True)")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads per rank (0: cores / replicas)")
    p.add_argument("--max-steps-per-epoch", type=int, default=0, help="cap on steps per epoch (smoke tests; 0: none)")
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--timeout-s", type=float, default=300, help="deadline of every collective (gloo)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "replicas", "eval_batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0 or args.weight_decay < 0 or args.threads < 0 or args.max_steps_per_epoch < 0:
        p.error("--lr must be > 0; --weight-decay, --threads and --max-steps-per-epoch >= 0")
    return args


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores():
    return len(os.sched_getaffinity(0))


def rank_main(rank, args, port, launch_wall, out_dir):
    # DDP warns once that conv1's 1-channel gradient layout differs from its bucket view: harmless copy.
    warnings.filterwarnings("ignore", message=".*Grad strides do not match bucket view strides.*")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.replicas,
                            timeout=datetime.timedelta(seconds=args.timeout_s))
    train_x, train_y, test_x, test_y = idx_data.load(args.data)
    channels, height, width = train_x.shape[1:]
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = peer_models.build(args.model, channels, height, width, 10)
    trainable, expected = peer_models.check_against_lockstep(args.model, model, channels, height, width, 10)
    decayed = peer_models.decayed_parameters(model)
    ddp = DistributedDataParallel(model)  # broadcast_buffers=True: rank 0's BN running stats each step
    optimizer = peer_common.make_optimizer(args.update_rule, model, decayed, args.lr, args.weight_decay)

    sampler = DistributedSampler(range(len(train_x)), num_replicas=args.replicas, rank=rank, shuffle=True,
                                 seed=args.seed, drop_last=True)
    full_steps = len(sampler) // args.batch_size
    steps = min(full_steps, args.max_steps_per_epoch) if args.max_steps_per_epoch > 0 else full_steps
    test_idx = np.arange(rank, len(test_x), args.replicas)  # Lockstep routes test record i to replica i % N
    metrics = open(os.path.join(out_dir, "metrics.jsonl"), "w") if rank == 0 else None
    accuracy = []
    images = 0
    train_seconds = 0.0
    try:
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            order = np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))
            ddp.train()
            loss_sum = 0.0
            dist.barrier()
            epoch_start = time.perf_counter()
            for step in range(steps):
                t0 = time.perf_counter()
                idx = order[step * args.batch_size:(step + 1) * args.batch_size]
                x = torch.from_numpy(train_x[idx]).float().div_(255.0)
                y = torch.from_numpy(train_y[idx])
                t1 = time.perf_counter()
                optimizer.lr = peer_common.learning_rate(args.lr, args.lr_scaling, args.replicas, args.lr_decay,
                                                         args.epochs, steps, epoch, step)
                optimizer.zero_grad()
                loss = F.cross_entropy(ddp(x), y)
                loss.backward()  # includes DDP's bucketed all-reduce, overlapped with backward
                t2 = time.perf_counter()
                optimizer.step()
                t3 = time.perf_counter()
                value = loss.item()
                loss_sum += value
                if metrics:
                    metrics.write(json.dumps({
                        "type": "step", "epoch": epoch + 1, "step": step + 1, "loss": value,
                        "data_ms": (t1 - t0) * 1e3, "forward_backward_allreduce_ms": (t2 - t1) * 1e3,
                        "update_ms": (t3 - t2) * 1e3,
                        "images_per_second": args.batch_size * args.replicas / max(1e-9, t3 - t0)}) + "\n")
            epoch_seconds = torch.tensor([time.perf_counter() - epoch_start], dtype=torch.float64)
            dist.all_reduce(epoch_seconds, op=dist.ReduceOp.MAX)
            epoch_seconds = float(epoch_seconds)
            eval_start = time.perf_counter()
            ddp.eval()
            counts = torch.zeros(3, dtype=torch.float64)  # correct, total, loss sum
            with torch.no_grad():
                for start in range(0, len(test_idx), args.eval_batch_size):
                    idx = test_idx[start:start + args.eval_batch_size]
                    logits = model(torch.from_numpy(test_x[idx]).float().div_(255.0))
                    counts[0] += (logits.argmax(1) == torch.from_numpy(test_y[idx])).sum().item()
                    counts[1] += len(idx)
            counts[2] = loss_sum
            dist.all_reduce(counts)
            eval_seconds = time.perf_counter() - eval_start
            acc = float(counts[0] / counts[1])
            accuracy.append(acc)
            epoch_images = steps * args.batch_size * args.replicas
            images += epoch_images
            train_seconds += epoch_seconds
            if rank == 0:
                mean_loss = float(counts[2]) / (steps * args.replicas)
                metrics.write(json.dumps({
                    "type": "epoch", "epoch": epoch + 1, "steps": steps, "loss": mean_loss, "test_accuracy": acc,
                    "seconds": epoch_seconds, "images_per_second": epoch_images / epoch_seconds,
                    "evaluation_seconds": eval_seconds,
                    "elapsed_since_launch_seconds": time.time() - launch_wall}) + "\n")
                metrics.flush()
                print(f"epoch {epoch + 1}/{args.epochs}  loss {mean_loss:.4f}  test accuracy {acc:.4f}  "
                      f"{epoch_images / epoch_seconds:.0f} img/s", file=sys.stderr, flush=True)
        rss = [None] * args.replicas
        dist.all_gather_object(rss, peer_common.peak_rss_mb())
        if rank == 0:
            summary = {
                "system": "pytorch-ddp", "model": args.model, "epochs": args.epochs, "replicas": args.replicas,
                "batch_size_per_replica": args.batch_size, "steps_per_epoch": steps,
                "normalization": "batch (per-replica statistics; no SyncBatchNorm on CPU in PyTorch 1.13)",
                "trainable_parameters": trainable, "lockstep_trainable_parameters": expected,
                "test_accuracy": accuracy[-1], "test_accuracy_per_epoch": accuracy,
                "train_seconds": train_seconds, "images_trained": images,
                "images_per_second_training": images / train_seconds,
                "peak_rss_mb_per_rank": rss,
                "build": peer_common.build_info(),
                "job": vars(args),
            }
            with open(os.path.join(out_dir, "summary-rank0.json"), "w") as f:
                json.dump(summary, f, indent=2)
    finally:
        if metrics:
            metrics.close()
        dist.destroy_process_group()
    # Everything is written. Leave before this frame's locals are released: dropping the DDP model runs
    # ~Reducer -> ~ProcessGroupGloo with the GIL held, which in PyTorch 1.13 deadlocks against a gloo worker
    # thread that needs the GIL to free a tensor (seen twice on 2026-11-23: a rank spinning for minutes after
    # training had finished). An exception above still propagates and fails the job as before.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv=None):
    args = parse_args(argv)
    launch_wall = time.time()
    if args.threads == 0:
        args.threads = max(1, cores() // args.replicas)
    # Read by OpenMP and OpenBLAS when each rank's interpreter starts (spawn), before torch loads.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.makedirs(args.out, exist_ok=True)
    port = free_port()
    mp.spawn(rank_main, args=(args, port, launch_wall, args.out), nprocs=args.replicas, join=True)
    with open(os.path.join(args.out, "summary-rank0.json")) as f:
        summary = json.load(f)
    os.remove(os.path.join(args.out, "summary-rank0.json"))
    summary["wall_seconds"] = time.time() - launch_wall
    summary["images_per_second"] = summary["images_trained"] / summary["wall_seconds"]
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"test accuracy {summary['test_accuracy']:.4f} after {args.epochs} epochs, {summary['wall_seconds']:.1f} s, "
          f"{summary['images_per_second_training']:.0f} img/s training; peak RSS per rank "
          f"{', '.join(f'{r:.0f}' for r in summary['peak_rss_mb_per_rank'])} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
