#!/usr/bin/python3
# The optimized SqueezeNet of "BEAA: Batch-oriented Element-wise Approximate Activation for
# privacy-preserving neural networks" (after HEMET), written the way PyTorch users write it
# and exported with a plain torch.onnx.export, for `hecnn plan` (docs/WORKFLOW.md):
#
#   /usr/bin/python3 examples/torch_squeezenet.py OUT            # OUT/squeezenet.onnx (3×32×32, 10 classes)
#   hecnn plan OUT/squeezenet.onnx --batch 16384 --calib cifar10 DIR
#
# Conv modules are conv → act → BatchNorm; two Fire modules (squeeze 1×1 → act → expand
# 1×1 ‖ expand 3×3 → concat → act); AvgPool2d(3, 2, padding 1) halves the size twice; the
# head is a 1×1 conv to the classes, act, BatchNorm and a global average pool. Every act is
# an element-wise trainable quadratic `self.a * x * x + self.b * x + self.c` (one triple per
# feature, the paper's element-wise granularity). The weights are PyTorch's initialisation
# with BatchNorm statistics from a few random batches (this script does not train: no
# CIFAR-10 is packaged for Debian; train it on your data before planning it for real).
# Needs Debian 12's python3-torch.
import os
import sys

import torch
import torch.nn as nn


class Quad(nn.Module):
    """A trainable quadratic per feature: a·x² + b·x + c."""

    def __init__(self, *shape):
        super().__init__()
        self.a = nn.Parameter(torch.full(shape, 0.05))
        self.b = nn.Parameter(torch.ones(shape))
        self.c = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return self.a * x * x + self.b * x + self.c


def conv_module(cin, cout, k, side):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), Quad(cout, side, side), nn.BatchNorm2d(cout))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3, side):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.act_s = Quad(squeeze, side, side)
        self.expand1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.act_e = Quad(e1 + e3, side, side)

    def forward(self, x):
        s = self.act_s(self.squeeze(x))
        return self.act_e(torch.cat([self.expand1(s), self.expand3(s)], 1))


class SqueezeNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_module(3, 64, 3, 32), nn.AvgPool2d(3, 2, padding=1),        # 32 → 16
            Fire(64, 32, 64, 64, 16), Fire(128, 32, 64, 64, 16), nn.AvgPool2d(3, 2, padding=1),  # 16 → 8
            conv_module(128, 128, 3, 8), conv_module(128, 128, 3, 8),
            nn.Conv2d(128, classes, 1), Quad(classes, 8, 8), nn.BatchNorm2d(classes),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.features(x)


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = SqueezeNet()
    net.train()
    with torch.no_grad():  # BatchNorm running statistics from a few batches of inputs
        for _ in range(4):
            net(torch.randn(64, 3, 32, 32))
    net.eval()
    path = os.path.join(out, "squeezenet.onnx")
    torch.onnx.export(net, torch.randn(1, 3, 32, 32), path, input_names=["input"], output_names=["logits"])
    params = sum(p.numel() for p in net.parameters())
    print(f"wrote {path} ({params} parameters)")


if __name__ == "__main__":
    main()
