#!/usr/bin/python3
# A model made the way PyTorch users make one, taken through hecnn's encrypted path
# (docs/WORKFLOW.md, "A model made elsewhere"): trainable quadratic activations written
# `self.a * x * x + self.b * x + self.c`, BatchNorm, AvgPool2d, Linear, trained briefly on
# Fashion-MNIST with standardised inputs (mean 0.2860, std 0.3530), exported with a plain
# torch.onnx.export (no hecnn metadata: the preprocessing is given to `hecnn plan`).
#
#   /usr/bin/python3 examples/torch_fashion_mnist.py train OUT        # OUT/model.onnx, OUT/torch_logits.csv
#   hecnn plan OUT/model.onnx --mean 0.2860 --std 0.3530 --calib fashion-mnist --out OUT/plan.json
#   hecnn keygen --plan OUT/plan.json --out OUT/keys
#   hecnn encrypt --keys OUT/keys --images fashion-mnist --limit 8192 --out OUT/batch.hecnn
#   hecnn infer --model OUT/model.onnx --eval-keys OUT/keys/eval.keys --in OUT/batch.hecnn --out OUT/result.hecnn
#   hecnn decrypt --keys OUT/keys --in OUT/result.hecnn --out OUT/predictions.csv
#   /usr/bin/python3 examples/torch_fashion_mnist.py compare OUT      # PyTorch vs decrypted
#
# Needs Debian 12's python3-torch (and the dataset-fashion-mnist data in
# /usr/share/datasets/fashion-mnist). Runs on the CPU in a few minutes.
import csv
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
COUNT = 8192  # test images compared (one full batch at N = 2^14)


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(split):
    x = idx(f"{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy((x - MEAN) / STD).unsqueeze(1), torch.from_numpy(y)


class Quad(nn.Module):
    """A trainable quadratic per channel (or per feature): a·x² + b·x + c."""

    def __init__(self, *shape):
        super().__init__()
        self.a = nn.Parameter(torch.full(shape, 0.05))
        self.b = nn.Parameter(torch.ones(shape))
        self.c = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return self.a * x * x + self.b * x + self.c


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 5, stride=2, padding=2)  # 28 → 14
        self.act1 = Quad(8, 1, 1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AvgPool2d(2)                           # 14 → 7
        self.fc1 = nn.Linear(8 * 7 * 7, 64)
        self.act2 = Quad(64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(self.bn(self.act1(self.conv(x))))
        x = self.act2(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def train(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    torch.set_num_threads(2)
    xtr, ytr = images("train")
    xte, yte = images("t10k")
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    t0 = time.time()
    for epoch in range(3):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            j = perm[i:i + 128]
            loss = nn.functional.cross_entropy(net(xtr[j]), ytr[j])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)  # quadratics can blow up early
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * acc:.2f} % ({time.time() - t0:.0f} s)", flush=True)
    net.eval()
    with torch.no_grad():
        logits = net(xte[:COUNT]).double()
    acc = (logits.argmax(1) == yte[:COUNT]).double().mean().item()
    print(f"PyTorch on the first {COUNT} test images: {100 * acc:.2f} %")
    torch.onnx.export(net, xte[:1], os.path.join(out, "model.onnx"), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13)
    np.savetxt(os.path.join(out, "torch_logits.csv"), logits.numpy(), delimiter=",", fmt="%.9g")
    np.savetxt(os.path.join(out, "torch_labels.csv"), yte[:COUNT].numpy(), fmt="%d")
    print(f"wrote {out}/model.onnx, torch_logits.csv")


def compare(out):
    want = np.loadtxt(os.path.join(out, "torch_logits.csv"), delimiter=",")
    labels = np.loadtxt(os.path.join(out, "torch_labels.csv"), dtype=np.int64)
    with open(os.path.join(out, "predictions.csv")) as f:
        rows = list(csv.DictReader(f))
    cols = [k for k in rows[0] if k.startswith("score_")]
    got = np.array([[float(r[k]) for k in cols] for r in rows])
    n = len(got)
    want, labels = want[:n], labels[:n]
    agree = (got.argmax(1) == want.argmax(1)).mean()
    print(f"images            {n}")
    print(f"accuracy          encrypted {100 * (got.argmax(1) == labels).mean():.2f} %, PyTorch {100 * (want.argmax(1) == labels).mean():.2f} %")
    print(f"agreement         {100 * agree:.3f} % ({int(round((1 - agree) * n))} differ)")
    print(f"max logit error   {np.abs(got - want).max():.3g} (max |logit| {np.abs(want).max():.3g}; PyTorch computes in float32)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("train", "compare"):
        sys.exit(__doc__ or "usage: torch_fashion_mnist.py train|compare OUT")
    train(sys.argv[2]) if sys.argv[1] == "train" else compare(sys.argv[2])
