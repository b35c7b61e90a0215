#!/usr/bin/python3
"""Scaling efficiency on paper: synchronous data-parallel SGD with ring all-reduce.

From a measured compute time per step and a measured (or assumed) all-reduce bus bandwidth, predicts the
scaling efficiency E(N) = T_compute / T_step(N) of ResNet-50 and VGG-16 at N = 8, 64, 256 workers over
25 and 100 Gb/s networks, and sets it beside Horovod's published figures (Sergeev & Del Balso 2018:
~90% for ResNet-101 and Inception V3, 68% for VGG-16, at 512 GPUs on 25 Gb/s RoCE with NCCL).

Model (assumptions, stated in the output too):
* fp32 gradients, one all-reduce of every trainable parameter per step: bytes = 4 x params.
* Ring all-reduce (Patarasuk & Yuan 2009; what Lockstep and NCCL/Horovod implement): each rank sends
  and receives 2(N-1)/N x bytes, in 2(N-1) rounds, so
      T_allreduce(N) = 2(N-1)/N x bytes / B_bus + 2(N-1) x alpha
  with B_bus the per-link bandwidth an all-reduce achieves (bus bandwidth, as nccl-tests and
  `lockstep bench allreduce` report it) and alpha the per-round latency.
* Network: B_bus = link rate x --link-efficiency (default 0.85: protocol overhead and imperfect
  overlap of send and receive), unless --bus-bandwidth-gbps gives the measured figure directly.
* Chunking into --buckets fixed-size buckets (Horovod's tensor fusion, DDP's buckets) multiplies the
  latency term: rounds = 2(N-1) x buckets.
* Hierarchical rings (--replicas-per-host L > 1; N = H hosts x L replicas): reduce-scatter inside each
  host, H-rank rings across hosts on the 1/L shards (all L of them through the host's one NIC), then
  all-gather inside the host. Each NIC carries 2(H-1)/H x bytes (a flat ring ordered by host: 2(N-1)/N x
  bytes, nearly the same), but a bucket takes 2(H-1) network rounds instead of 2(N-1); the host adds
  2(L-1)/L x bytes over its own interconnect (--ipc-bus-gbps) and 2(L-1) rounds of --ipc-alpha-us:
      T_allreduce = 2(L-1)/L x bytes / B_ipc + 2(L-1) x buckets x alpha_ipc
                  + 2(H-1)/H x bytes / B_bus + 2(H-1) x buckets x alpha.
* --bytes-per-param 2 models bf16/fp16 on the wire (Lockstep's --wire-compression).
* No overlap: T_step = T_compute + T_allreduce.
  Overlap: the all-reduce of the gradients runs during backward. Backward is --backward-fraction
  (default 2/3) of compute, and the first bucket can start only after its gradients exist, so at best
  hidden = backward_fraction x T_compute x (1 - 1/buckets). --overlap-fraction F (measured: the share
  of the exchange that overlap removed from the step, 1 - exposed_on / exposed_off) caps it further:
  hidden = min(F x T_allreduce, the bound above); T_step = T_compute + T_allreduce - hidden.
* Compute per step is the same at every N (weak scaling: fixed per-worker batch).

Inputs, as arguments or a JSON file (--inputs FILE with the same keys): compute time per step per model
(ms), link rates (Gb/s), alpha (us). Default compute times are published single-GPU figures for a
per-GPU batch of 64 on a Pascal-class GPU in fp32 (Horovod's 2017 setting: ResNet-50 ~0.29 s/step,
VGG-16 ~0.46 s/step), used only when nothing measured is given: pass your own.

  scaling_model.py                                   # defaults, markdown table
  scaling_model.py --compute-ms resnet50=190 vgg16=420 --bus-bandwidth-gbps 9.6 --alpha-us 30
  scaling_model.py --inputs measured.json --json
  scaling_model.py --replicas-per-host 8 --overlap-fraction 0.7     # hierarchical rings, measured overlap
"""
import argparse
import json
import sys

MODELS = {  # trainable parameters, counted as torchvision does (Lockstep's `lockstep models` agrees)
    "resnet50": 25_557_032,
    "vgg16": 138_357_544,
}
HOROVOD = {
    "resnet50": "~90% (Horovod, ResNet-101 and Inception V3, 512 GPUs, 25 Gb/s RoCE)",
    "vgg16": "68% (Horovod, VGG-16, 512 GPUs, 25 Gb/s RoCE)",
}
# Used only when no measured compute time is given: Pascal-class GPU (Horovod's published setting),
# fp32, batch 64 per GPU, roughly 220 img/s for ResNet-50 and 140 img/s for VGG-16. Assumptions, not data.
DEFAULT_COMPUTE_MS = {"resnet50": 290.0, "vgg16": 460.0}


def ring_seconds(n, nbytes, bus_bytes_per_s, alpha_s, buckets):
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bus_bytes_per_s + 2 * (n - 1) * buckets * alpha_s


def allreduce_seconds(n, nbytes, bus_bytes_per_s, alpha_s, buckets, per_host=1, ipc_bytes_per_s=None, ipc_alpha_s=0.0):
    """A flat ring of n ranks, or (per_host > 1) rings inside each host around one ring across the hosts."""
    if per_host <= 1:
        return ring_seconds(n, nbytes, bus_bytes_per_s, alpha_s, buckets)
    if n <= per_host:  # one host: no network at all
        return ring_seconds(n, nbytes, ipc_bytes_per_s, ipc_alpha_s, buckets)
    if n % per_host:
        raise SystemExit(f"--replicas-per-host {per_host} does not divide {n} workers: pick --workers that are multiples")
    hosts = n // per_host
    return (ring_seconds(per_host, nbytes, ipc_bytes_per_s, ipc_alpha_s, buckets)
            + ring_seconds(hosts, nbytes, bus_bytes_per_s, alpha_s, buckets))


def efficiency(compute_s, comm_s, overlap, backward_fraction, buckets, overlap_fraction=None):
    if overlap:
        hidden = backward_fraction * compute_s * (1 - 1 / buckets) if buckets > 1 else 0.0
        if overlap_fraction is not None:
            hidden = min(hidden, overlap_fraction * comm_s)
        step = compute_s + max(0.0, comm_s - hidden)
    else:
        step = compute_s + comm_s
    return compute_s / step


def parse_pairs(values, what):
    out = {}
    for v in values or []:
        if "=" not in v:
            raise SystemExit(f"{what}: expected NAME=VALUE, got '{v}'")
        k, x = v.split("=", 1)
        out[k] = float(x)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--inputs", help="JSON file with any of the keys below (compute_ms: {model: ms}, ...)")
    p.add_argument("--compute-ms", nargs="*", help="measured compute time per step, e.g. resnet50=190 vgg16=420")
    p.add_argument("--links-gbps", nargs="*", type=float, help="network link rates (default 25 100)")
    p.add_argument("--bus-bandwidth-gbps", type=float,
                   help="measured all-reduce bus bandwidth (Gb/s); replaces link rate x efficiency for every link")
    p.add_argument("--link-efficiency", type=float, help="bus bandwidth as a fraction of the link rate (default 0.85)")
    p.add_argument("--alpha-us", type=float, help="latency per ring round (default 25 us)")
    p.add_argument("--workers", nargs="*", type=int, help="worker counts (default 8 64 256)")
    p.add_argument("--buckets", type=int, help="fused buckets per step (default 25 MB buckets)")
    p.add_argument("--backward-fraction", type=float, help="share of compute that is backward (default 0.667)")
    p.add_argument("--overlap-fraction", type=float,
                   help="measured share of the exchange that overlap hides (1 - exposed_on/exposed_off); default: the ideal bound")
    p.add_argument("--replicas-per-host", type=int, help="L > 1: hierarchical rings, L replicas per host (default 1: flat ring)")
    p.add_argument("--ipc-bus-gbps", type=float, help="bus bandwidth inside a host, Gb/s (default 80: PCIe 3.0 x16 class)")
    p.add_argument("--ipc-alpha-us", type=float, help="latency per ring round inside a host (default 10 us)")
    p.add_argument("--bytes-per-param", type=float, help="bytes per gradient element on the wire (default 4: fp32; 2: bf16)")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = p.parse_args(argv)
    cfg = json.load(open(args.inputs)) if args.inputs else {}
    compute_ms = dict(DEFAULT_COMPUTE_MS)
    compute_ms.update(cfg.get("compute_ms", {}))
    compute_ms.update(parse_pairs(args.compute_ms, "--compute-ms"))
    measured_compute = bool(cfg.get("compute_ms")) or bool(args.compute_ms)
    links = args.links_gbps or cfg.get("links_gbps", [25, 100])
    bus_gbps = args.bus_bandwidth_gbps or cfg.get("bus_bandwidth_gbps")
    link_eff = args.link_efficiency or cfg.get("link_efficiency", 0.85)
    alpha = (args.alpha_us or cfg.get("alpha_us", 25.0)) * 1e-6
    workers = args.workers or cfg.get("workers", [8, 64, 256])
    backward = args.backward_fraction or cfg.get("backward_fraction", 2 / 3)
    overlap_fraction = args.overlap_fraction if args.overlap_fraction is not None else cfg.get("overlap_fraction")
    per_host = args.replicas_per_host or cfg.get("replicas_per_host", 1)
    ipc_bus = (args.ipc_bus_gbps or cfg.get("ipc_bus_gbps", 80.0)) * 1e9 / 8
    ipc_alpha = (args.ipc_alpha_us or cfg.get("ipc_alpha_us", 10.0)) * 1e-6
    wire_bytes = args.bytes_per_param or cfg.get("bytes_per_param", 4)
    if overlap_fraction is not None and not 0 <= overlap_fraction <= 1:
        raise SystemExit(f"--overlap-fraction: expected a share between 0 and 1, got {overlap_fraction}")
    rows = []
    for model, params in MODELS.items():
        nbytes = wire_bytes * params
        buckets = args.buckets or cfg.get("buckets") or max(1, round(nbytes / 25e6))
        compute_s = compute_ms[model] / 1e3
        for link in links:
            bus = (bus_gbps if bus_gbps else link * link_eff) * 1e9 / 8
            for n in workers:
                comm = allreduce_seconds(n, nbytes, bus, alpha, buckets, per_host, ipc_bus, ipc_alpha)
                rows.append({"model": model, "params": params, "link_gbps": link,
                             "bus_gbps": bus * 8 / 1e9, "workers": n, "compute_ms": compute_ms[model],
                             "allreduce_ms": comm * 1e3, "buckets": buckets,
                             "efficiency_no_overlap": efficiency(compute_s, comm, False, backward, buckets),
                             "efficiency_overlap": efficiency(compute_s, comm, True, backward, buckets, overlap_fraction)})
    if args.json:
        json.dump({"rows": rows, "assumptions": {"alpha_us": alpha * 1e6, "link_efficiency": link_eff,
                                                 "backward_fraction": backward, "measured_compute": measured_compute,
                                                 "bus_bandwidth_gbps": bus_gbps, "overlap_fraction": overlap_fraction,
                                                 "replicas_per_host": per_host, "ipc_bus_gbps": ipc_bus * 8 / 1e9,
                                                 "ipc_alpha_us": ipc_alpha * 1e6, "bytes_per_param": wire_bytes}},
                  sys.stdout, indent=1)
        print()
        return
    ring = (f"hierarchical rings, {per_host} replicas per host (inside a host {ipc_bus * 8 / 1e9:.0f} Gb/s, "
            f"{ipc_alpha * 1e6:.0f} us per round)" if per_host > 1 else "flat ring")
    hiding = (f"overlap hides at most {overlap_fraction:.0%} of the exchange (measured)" if overlap_fraction is not None
              else "overlap hides up to the ideal bound")
    print(f"{'fp32' if wire_bytes == 4 else str(wire_bytes) + '-byte'} gradients, {ring}; {hiding}; bus bandwidth = {'measured ' + str(bus_gbps) + ' Gb/s' if bus_gbps else f'{link_eff:.0%} of the link'}; "
          f"latency {alpha * 1e6:.0f} us per network round; backward = {backward:.0%} of compute; "
          f"compute per step {'measured' if measured_compute else 'ASSUMED (Pascal-class GPU, fp32, batch 64; pass --compute-ms)'}: "
          + ", ".join(f"{m} {compute_ms[m]:.0f} ms" for m in MODELS) + ".\n")
    print("| model | params | link | N | all-reduce ms | efficiency, no overlap | efficiency, overlap with backward | published |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params'] / 1e6:.1f}M | {r['link_gbps']:.0f} Gb/s | {r['workers']} | {r['allreduce_ms']:.1f} "
              f"| {r['efficiency_no_overlap']:.0%} | {r['efficiency_overlap']:.0%} | {HOROVOD[r['model']] if r['workers'] == 256 and r['link_gbps'] == 25 else ''} |")


if __name__ == "__main__":
    main()
