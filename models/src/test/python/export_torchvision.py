#!/usr/bin/python3
"""Reference outputs of torchvision models for Lockstep's logits-equality tests.

For each model named on the command line this writes, into --out:
  NAME.safetensors        the model's state_dict (float32, plus torch's int64 num_batches_tracked)
  NAME.reference.safetensors  two tensors: "input" (a fixed random batch) and "logits" (the model's
                          output for it in inference mode, before any softmax); for inception_v3 at
                          inputs where torchvision's auxiliary classifier fits (299x299) also
                          "aux_logits", that classifier's output in inference mode

Every parameter and BatchNorm statistic is drawn at random from a fixed seed (not torchvision's
initialisation, which zeroes some layers such as ViT's head and makes BatchNorm the identity), so the
comparison exercises every tensor of the mapping.

Needs Debian's python3-torch and python3-torchvision (PyTorch 1.13, torchvision 0.14); run it with
/usr/bin/python3. The safetensors format is written here directly: an 8-byte little-endian header
length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torchvision


class LeNet5(nn.Module):
    """Lockstep's lenet5: conv 20@5x5 pad 2, ReLU, max-pool 2, conv 50@5x5 pad 2, ReLU, max-pool 2,
    dense 500 ReLU, dense to the classes."""

    def __init__(self, num_classes=10, in_channels=1, size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5, padding=2)
        self.conv2 = nn.Conv2d(20, 50, 5, padding=2)
        self.fc1 = nn.Linear(50 * (size // 4) * (size // 4), 500)
        self.output = nn.Linear(500, num_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.output(x)


class SimpleCNN(nn.Module):
    """Lockstep's simplecnn, the course's first example: conv 16@3x3 pad 1, ReLU, max-pool 2, conv 32@3x3
    pad 1, ReLU, max-pool 2, dense 128 ReLU, dense to the classes (the pool module is used twice)."""

    def __init__(self, num_classes=10, in_channels=3, size=64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * (size // 4) * (size // 4), 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def small_vit(num_classes, channels, image_size):
    """Lockstep's vit_small: patch 4, 6 layers, 4 heads, width 192, MLP 384; torchvision's ViT assumes
    3 input channels, so the patch embedding is replaced for other channel counts."""
    model = torchvision.models.VisionTransformer(image_size=image_size, patch_size=4, num_layers=6,
                                                 num_heads=4, hidden_dim=192, mlp_dim=384,
                                                 num_classes=num_classes)
    model.conv_proj = nn.Conv2d(channels, 192, kernel_size=4, stride=4)
    return model


def build(name, num_classes, shape):
    channels, height, _ = shape
    if name == "lenet5":
        return LeNet5(num_classes, channels, height)
    if name == "simplecnn":
        return SimpleCNN(num_classes, channels, height)
    if name == "vit_small":
        return small_vit(num_classes, channels, height)
    if name == "googlenet":
        # torchvision's default layout without pretrained weights: no auxiliary classifiers, and
        # transform_input=False (the input is used as given)
        return torchvision.models.googlenet(num_classes=num_classes, aux_logits=False, init_weights=False)
    if name == "inception_v3":
        return torchvision.models.inception_v3(num_classes=num_classes, aux_logits=True, init_weights=False)
    return getattr(torchvision.models, name)(num_classes=num_classes)


def randomise(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))
        for name, tensor in model.named_parameters():
            fan_in = tensor[0].numel() if tensor.dim() > 1 else 1
            if name.endswith("bias") or tensor.dim() == 1:
                # BatchNorm/LayerNorm scales near 1, shifts and biases near 0
                base = 1.0 if name.endswith("weight") else 0.0
                tensor.copy_(base + 0.1 * torch.randn(tensor.shape, generator=generator))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (1.0 / fan_in) ** 0.5)


DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.float16: "F16"}


def write_safetensors(path, tensors):
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().contiguous().cpu()
        data = tensor.numpy().tobytes()  # numpy on x86 is little-endian
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the format allows trailing spaces; keeps data aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory to write into")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--input", default="3x224x224", help="CxHxW")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    shape = [int(v) for v in args.input.split("x")]
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models:
        torch.manual_seed(args.seed)
        model = build(name, args.classes, shape)
        randomise(model, args.seed)
        model.eval()
        x = torch.randn([args.batch] + shape, generator=torch.Generator().manual_seed(args.seed + 1))
        outputs = {"input": x}
        with torch.no_grad():
            aux_input = []
            hook = None
            if getattr(model, "AuxLogits", None) is not None:
                hook = model.Mixed_6e.register_forward_hook(lambda module, inputs, out: aux_input.append(out))
            outputs["logits"] = model(x)
            if hook is not None:
                hook.remove()
                # torchvision runs the auxiliary classifier only in training; its 5x5/3 pool and 5x5
                # convolution need a 17x17 map (299x299 input)
                if min(aux_input[0].shape[2:]) >= 17:
                    outputs["aux_logits"] = model.AuxLogits(aux_input[0])
        write_safetensors(os.path.join(args.out, name + ".safetensors"), model.state_dict())
        write_safetensors(os.path.join(args.out, name + ".reference.safetensors"), outputs)
        print(name, sum(p.numel() for p in model.parameters() if p.requires_grad), flush=True)
    sys.stdout.flush()
    # PyTorch 1.13 can hang in interpreter shutdown; everything is written and flushed.
    os._exit(0)


if __name__ == "__main__":
    main()
