"""Reference values for GroupNormalizationTest: PyTorch's GroupNorm, GroupNorm(1, C) (LayerNorm over
C, H, W) and InstanceNorm2d(affine=True), forward and input/affine gradients, on an input and a
weighting both tests compute the same way. Usage: normalization.py N C H W GROUPS KIND EPS
(KIND is group, layer or instance). Prints one JSON object."""
import json
import math
import sys

import torch

n, c, h, w, groups = (int(v) for v in sys.argv[1:6])
kind = sys.argv[6]
eps = float(sys.argv[7])
count = n * c * h * w
x = torch.tensor([math.sin(0.37 * i) * (1 + i % 5) + 0.3 for i in range(count)], dtype=torch.float64)
x = x.reshape(n, c, h, w).requires_grad_(True)
weights = torch.tensor([math.cos(0.11 * i) for i in range(count)], dtype=torch.float64).reshape(n, c, h, w)
if kind == "group":
    layer = torch.nn.GroupNorm(groups, c, eps=eps)
elif kind == "layer":
    layer = torch.nn.GroupNorm(1, c, eps=eps)
elif kind == "instance":
    layer = torch.nn.InstanceNorm2d(c, eps=eps, affine=True)
else:
    raise SystemExit("unknown kind " + kind)
layer = layer.double()
with torch.no_grad():
    layer.weight.copy_(torch.tensor([1 + 0.1 * i for i in range(c)], dtype=torch.float64))
    layer.bias.copy_(torch.tensor([0.05 * i - 0.1 for i in range(c)], dtype=torch.float64))
y = layer(x)
(y * weights).sum().backward()
print(json.dumps({
    "output": y.detach().reshape(-1).tolist(),
    "input_gradient": x.grad.reshape(-1).tolist(),
    "weight_gradient": layer.weight.grad.tolist(),
    "bias_gradient": layer.bias.grad.tolist(),
}))
