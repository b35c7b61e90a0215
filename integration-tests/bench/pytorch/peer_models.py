"""Lockstep's architectures written in PyTorch, layer for layer (the benchmark's PyTorch peer).

The definitions mirror models/src/main/java/io/lockstep/models/ exactly:

* ``lenet5`` (LeNet5.java): conv 20@5x5 pad 2 + bias, ReLU, max-pool 2/2, conv 50@5x5 pad 2 + bias,
  ReLU, max-pool 2/2, dense 500 ReLU, dense to the classes (softmax in the loss).
  1x28x28/10: 1,256,080 trainable parameters.
* ``resnet20`` (CifarResNet.java, n=3): 3x3 conv 16 (no bias) + BN + ReLU, three stages of 3 basic
  blocks with 16/32/64 filters, stride 2 at the first block of stages 2 and 3, option-A shortcuts
  (``x[:, :, ::2, ::2]`` concatenated with as many zero channels), global average pool, dense.
  1x28x28/10: 269,434; 3x32x32/10: 269,722.
* ``resnet18`` (ResNet.java below 64 px): 3x3 stride-1 stem with 64 filters + BN + ReLU and no
  max-pool, torchvision's basic blocks with 1x1 conv + BN projection shortcuts, 64/128/256/512.
  3x32x32/10: 11,173,962.
* ``vit_small`` (VisionTransformer.java): torchvision's ``VisionTransformer`` with patch 4, 6 layers,
  4 heads, width 192, MLP 384, its patch embedding replaced for the input's channel count (as the
  logits-equality test's export does). 1x28x28/10: 1,797,514; 3x32x32/10: 1,806,538. Initialized as torchvision does (the
  step time does not depend on it).

Initialization follows Lockstep's NetworkBuilder: convolutions and hidden dense layers He normal
(std sqrt(2/fan_in), DL4J WeightInit.RELU, not truncated), the output layer Xavier normal
(std sqrt(2/(fan_in+fan_out)), DL4J WeightInit.XAVIER), biases 0, BatchNorm gamma 1 / beta 0,
momentum 0.1 (DL4J decay 0.9), eps 1e-5.

``decayed_parameters(model)`` lists the tensors Lockstep applies weight decay to: the weights of
every convolution and dense layer (never biases, never BatchNorm gamma/beta).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# Trainable parameter counts reported by `bin/lockstep models` / models/README.md, keyed by
# (model, channels, height, width, classes). The peer refuses to run a model whose count differs.
LOCKSTEP_PARAMETER_COUNTS = {
    ("lenet5", 1, 28, 28, 10): 1_256_080,
    ("lenet5", 3, 32, 32, 10): 1_632_080,
    ("resnet20", 1, 28, 28, 10): 269_434,
    ("resnet20", 3, 32, 32, 10): 269_722,
    ("resnet18", 1, 28, 28, 10): 11_172_810,
    ("resnet18", 3, 32, 32, 10): 11_173_962,
    ("vit_small", 1, 28, 28, 10): 1_797_514,
    ("vit_small", 3, 32, 32, 10): 1_806_538,
}


class LeNet5(nn.Module):
    def __init__(self, channels, height, width, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 20, 5, padding=2, bias=True)
        self.conv2 = nn.Conv2d(20, 50, 5, padding=2, bias=True)
        flat = 50 * (height // 4) * (width // 4)
        self.fc1 = nn.Linear(flat, 500)
        self.output = nn.Linear(500, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = torch.flatten(x, 1)  # C, H, W order, as DL4J's CnnToFeedForwardPreProcessor
        x = F.relu(self.fc1(x))
        return self.output(x)


class OptionABlock(nn.Module):
    """He et al. basic block; where the map halves, the shortcut subsamples and pads zero channels."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = stride != 1 or in_planes != planes
        if self.pad and (stride != 2 or planes != 2 * in_planes):
            raise ValueError("option-A shortcut only halves the map and doubles the channels")

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad:
            sub = x[:, :, ::2, ::2]
            shortcut = torch.cat([sub, torch.zeros_like(sub)], dim=1)
        else:
            shortcut = x
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage, channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(OptionABlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.output = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.output(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block with a 1x1 conv + BN projection where the shape changes."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class SmallInputResNet18(nn.Module):
    """Lockstep's resnet18 for inputs below 64 px: 3x3 stride-1 stem, no max-pool."""

    def __init__(self, channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers = []
        in_planes = 64
        for stage, planes in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.output = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.output(x)


def _initialize(model):
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if module is getattr(model, "output", None):
                fan_out, fan_in = module.weight.shape
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.momentum = 0.1
            module.eps = 1e-5


def build(name, channels, height, width, classes=10):
    if name == "lenet5":
        if height < 4 or width < 4:
            raise ValueError("lenet5 needs images of at least 4x4 pixels")
        model = LeNet5(channels, height, width, classes)
    elif name == "resnet20":
        model = CifarResNet(3, channels, classes)
    elif name == "resnet18":
        if height >= 64 or width >= 64:
            raise ValueError("only the small-input resnet18 (3x3 stem, below 64 px) is mirrored here")
        model = SmallInputResNet18(channels, classes)
    elif name == "vit_small":
        if height != width:
            raise ValueError("vit_small is mirrored for square images only")
        model = torchvision.models.VisionTransformer(image_size=height, patch_size=4, num_layers=6, num_heads=4,
                                                     hidden_dim=192, mlp_dim=384, num_classes=classes)
        model.conv_proj = nn.Conv2d(channels, 192, kernel_size=4, stride=4)
        return model
    else:
        raise ValueError(f"unknown model '{name}': the PyTorch peer mirrors lenet5, resnet20, resnet18 and vit_small")
    _initialize(model)
    return model


def trainable_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_against_lockstep(name, model, channels, height, width, classes=10):
    """The model's trainable count, after checking it equals Lockstep's (raises if not)."""
    count = trainable_parameters(model)
    expected = LOCKSTEP_PARAMETER_COUNTS.get((name, channels, height, width, classes))
    if expected is not None and count != expected:
        raise AssertionError(f"{name} at {channels}x{height}x{width}/{classes}: PyTorch peer has {count:,} trainable "
                             f"parameters but Lockstep has {expected:,}; the two definitions have drifted apart "
                             f"(compare peer_models.py with models/src/main/java/io/lockstep/models/)")
    return count, expected


def decayed_parameters(model):
    """Weights of convolutions and dense layers: what Lockstep's weight decay applies to."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


if __name__ == "__main__":
    for key in sorted(LOCKSTEP_PARAMETER_COUNTS):
        name, c, h, w, k = key
        net = build(name, c, h, w, k)
        count, expected = check_against_lockstep(name, net, c, h, w, k)
        print(f"{name:9s} {c}x{h}x{w}/{k}: {count:>11,} trainable parameters (Lockstep {expected:,}) OK")
