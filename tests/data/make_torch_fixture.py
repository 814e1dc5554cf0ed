#!/usr/bin/python3
# Makes tests/data/torch_export_opset{9,13}.onnx and their reference input/output: a small
# HE-friendly CNN (polynomial activations as plain tensor arithmetic, average pooling with
# padding, batch norm, a Fire-like concat, reshape, linear) exported by a PLAIN
# torch.onnx.export, i.e. with what PyTorch emits on its own (Constant, Identity, Pad
# before AveragePool, Gemm with transposed weights, Reshape...).
#
# Made once with Debian 12's python3-torch 1.13.1 and python3-onnx 1.12 (offline):
#   apt-get install python3-torch python3-onnx
#   /usr/bin/python3 tests/data/make_torch_fixture.py
# The tests only read the files; they never run Python.
import os
import torch
import torch.nn as nn

torch.manual_seed(3)
here = os.path.dirname(os.path.abspath(__file__))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.a = nn.Parameter(0.1 + 0.05 * torch.randn(4, 1, 1))   # channel-wise
        self.b = nn.Parameter(0.5 + 0.05 * torch.randn(4, 1, 1))
        self.c = nn.Parameter(0.05 * torch.randn(4, 1, 1))
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)              # count_include_pad=True
        self.e1 = nn.Conv2d(4, 3, 1)
        self.e3 = nn.Conv2d(4, 3, 3, padding=1)
        self.ea = nn.Parameter(0.1 + 0.05 * torch.randn(6, 4, 4))    # element-wise
        self.fc = nn.Linear(6 * 4 * 4, 10)

    def forward(self, x):
        x = self.conv(x)
        x = self.a * x * x + self.b * x + self.c
        x = self.bn(x)
        x = self.pool(x)
        x = torch.cat([self.e1(x), self.e3(x)], 1)
        x = self.ea * x.pow(2) + 0.5 * x + 0.01                     # layer-wise b, c as constants
        x = x.reshape(-1, 6 * 4 * 4)
        return self.fc(x)


net = Net()
with torch.no_grad():  # non-trivial batch-norm statistics
    net.bn.running_mean.copy_(0.1 * torch.randn(4))
    net.bn.running_var.copy_(0.5 + torch.rand(4))
    net.bn.weight.copy_(1 + 0.1 * torch.randn(4))
    net.bn.bias.copy_(0.1 * torch.randn(4))
net.eval()
x = torch.randn(2, 1, 8, 8)
with torch.no_grad():
    y = net(x)
for opset, dynamic in ((13, True), (9, False)):
    kw = dict(opset_version=opset, input_names=["input"], output_names=["logits"])
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "N"}, "logits": {0: "N"}}
    torch.onnx.export(net, x, os.path.join(here, f"torch_export_opset{opset}.onnx"), **kw)
with open(os.path.join(here, "torch_export_io.txt"), "w") as f:
    f.write("# input [2,1,8,8] then torch's logits [2,10], one number per line\n")
    for v in x.flatten().tolist() + y.flatten().tolist():
        f.write(repr(v) + "\n")
