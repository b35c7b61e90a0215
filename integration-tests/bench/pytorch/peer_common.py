"""What the PyTorch peer shares between its training and step-time modes: Lockstep's optimizer and
learning-rate schedule re-expressed in PyTorch, and the build facts that bear on the comparison."""
import math
import os
import re
import resource

import torch

NESTEROV_MOMENTUM = 0.9  # Lockstep's Optimizer.NESTEROV_MOMENTUM


class Dl4jNesterov:
    """Lockstep's optimizer exactly: DL4J ``Nesterovs`` plus DL4J ``WeightDecay(coef, applyLR=true)``.

    DL4J keeps a velocity that already contains the learning rate:
        v_prev = v;  v = mu*v - lr*g;  p += (1+mu)*v - mu*v_prev
    and then subtracts the decoupled decay ``lr*coef*w`` (``w`` before this step) from the weights of
    convolutions and dense layers only. With a constant rate this is the same trajectory as
    ``torch.optim.SGD(momentum=mu, nesterov=True)``; under a changing rate (cosine) the two differ
    slightly, because PyTorch scales its velocity by the current rate instead.

    Gradients are taken as given (DDP has already averaged them across ranks). Not thread-safe.
    """

    def __init__(self, parameters, decayed, lr, weight_decay, momentum=NESTEROV_MOMENTUM):
        self.params = [p for p in parameters if p.requires_grad]
        decayed_ids = {id(p) for p in decayed}
        self.decayed = [p for p in self.params if id(p) in decayed_ids]
        self.velocity = [torch.zeros_like(p) for p in self.params]
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        mu, lr = self.momentum, self.lr
        grads = [p.grad for p in self.params]
        decay = torch._foreach_mul(self.decayed, lr * self.weight_decay) if self.weight_decay > 0 else None
        previous = torch._foreach_mul(self.velocity, mu)          # mu * v_prev
        torch._foreach_mul_(self.velocity, mu)
        torch._foreach_add_(self.velocity, grads, alpha=-lr)      # v = mu*v - lr*g
        torch._foreach_add_(self.params, self.velocity, alpha=1 + mu)
        torch._foreach_sub_(self.params, previous)
        if decay is not None:
            torch._foreach_sub_(self.decayed, decay)


class TorchNesterov:
    """What a PyTorch user would write: SGD with Nesterov momentum and (coupled) weight decay on the
    same tensors Lockstep decays. Offered to show the update rule does not change the figures."""

    def __init__(self, parameters, decayed, lr, weight_decay, momentum=NESTEROV_MOMENTUM):
        params = [p for p in parameters if p.requires_grad]
        decayed_ids = {id(p) for p in decayed}
        groups = [{"params": [p for p in params if id(p) in decayed_ids], "weight_decay": weight_decay},
                  {"params": [p for p in params if id(p) not in decayed_ids], "weight_decay": 0.0}]
        self.optimizer = torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.optimizer.param_groups:
            group["lr"] = value

    def zero_grad(self):
        self.optimizer.zero_grad(set_to_none=True)

    def step(self):
        self.optimizer.step()


def make_optimizer(rule, model, decayed, lr, weight_decay):
    if rule == "dl4j":
        return Dl4jNesterov(model.parameters(), decayed, lr, weight_decay)
    if rule == "torch":
        return TorchNesterov(model.parameters(), decayed, lr, weight_decay)
    raise ValueError(f"--update-rule: use dl4j or torch, got '{rule}'")


def learning_rate(base, scaling, replicas, decay, epochs, steps_per_epoch, epoch, step_in_epoch):
    """Lockstep's LearningRateSchedule.rateAt without warm-up (the benchmark uses none)."""
    target = base * replicas if scaling == "linear" else base
    if decay == "none":
        return target
    done = epoch * steps_per_epoch + step_in_epoch
    progress = min(1.0, done / max(1, epochs * steps_per_epoch))
    return target * 0.5 * (1 + math.cos(math.pi * progress))


def _loaded_library(fragment):
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if fragment in os.path.basename(path):
                    return os.path.realpath(path)
    except OSError:
        pass
    return None


def build_info():
    """Facts about this PyTorch build that bear on a CPU speed comparison."""
    config = torch.__config__.show()
    onednn = re.search(r"MKL-DNN v([\w.]+)", config) or re.search(r"oneDNN v([\w.]+)", config)
    blas_info = re.search(r"BLAS_INFO=(\w+)", config)
    capability = re.search(r"CPU capability usage: (\w+)", config)
    # torch.mm is forced here so the BLAS library is mapped before we look for it.
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    runtime_blas = _loaded_library("libopenblas") or _loaded_library("libblas.so") or _loaded_library("libmkl")
    return {
        "torch": torch.__version__,
        "onednn": onednn.group(1) if onednn else None,
        "mkldnn_enabled": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "blas_build": blas_info.group(1) if blas_info else None,
        "blas_runtime": runtime_blas,
        "cpu_capability": capability.group(1) if capability else None,
        "parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "threads": torch.get_num_threads(),
    }


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
