#!/usr/bin/python3
"""Train, encrypt, infer, decrypt: hecnn from Python, end to end.

A small CNN with trainable quadratic activations (written `self.a * x * x + self.b * x`, the
only non-linearity CKKS evaluates exactly) is trained with PyTorch on Fashion-MNIST and
exported with a plain torch.onnx.export. hecnn plans it for a full batch at 128-bit
security, the client makes its keys, a separate `hecnn serve` process on a loopback port
runs the encrypted inference with the evaluation keys only, and the client decrypts. The
report compares the encrypted predictions with PyTorch's own.

    PYTHONPATH=build/release/python python3 examples/python/train_encrypt_infer.py [--count 8192] [--epochs 3]

Needs Debian 12's python3-torch, python3-numpy and dataset-fashion-mnist, and the built
`hecnn` binary (build/release/hecnn, or --hecnn PATH). A few minutes on two cores.
"""
import argparse
import gzip
import os
import pathlib
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import hecnn

DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530  # the training set's pixel mean and standard deviation (scale 1/255)
REPO = pathlib.Path(__file__).resolve().parents[2]


def read_idx(name):
    """An IDX file of Debian's Fashion-MNIST as a numpy array (images uint8 (n, 1, 28, 28))."""
    with gzip.open(DATA / name) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    a = np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
    return a[:, None] if a.ndim == 3 else a


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 5, stride=2, padding=2)  # 28 → 14
        self.a1 = torch.nn.Parameter(torch.full((8, 1, 1), 0.05))   # one quadratic per channel
        self.b1 = torch.nn.Parameter(torch.ones(8, 1, 1))
        self.pool = torch.nn.AvgPool2d(2)                            # 14 → 7
        self.fc1 = torch.nn.Linear(8 * 7 * 7, 64)
        self.a2 = torch.nn.Parameter(torch.full((64,), 0.05))
        self.b2 = torch.nn.Parameter(torch.ones(64))
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv(x)
        x = self.a1 * x * x + self.b1 * x
        x = self.fc1(torch.flatten(self.pool(x), 1))
        x = self.a2 * x * x + self.b2 * x
        return self.fc2(x)


def standardise(pixels):
    return torch.from_numpy((pixels.astype(np.float32) / 255 - MEAN) / STD)


def train(epochs):
    torch.manual_seed(1)
    x, y = standardise(read_idx("train-images-idx3-ubyte.gz")), torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            j = perm[i:i + 128]
            loss = torch.nn.functional.cross_entropy(net(x[j]), y[j])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)  # quadratics can blow up early
            opt.step()
        print(f"  epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}", flush=True)
    return net.eval()


def start_server(exe, model, plan, state):
    """`hecnn serve` on a free loopback port (it prints the URL once it listens)."""
    proc = subprocess.Popen([exe, "serve", "--model", str(model), "--plan", str(plan), "--listen", "127.0.0.1:0", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            m = re.search(r"listening on (\S+)", proc.stdout.readline())
            if m:
                return proc, m.group(1)
    proc.kill()
    sys.exit("hecnn serve did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=8192, help="test images to classify (8192: one full batch)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--hecnn", default=os.environ.get("HECNN_EXE", str(REPO / "build" / "release" / "hecnn")), help="the hecnn binary")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = pathlib.Path(tempfile.mkdtemp(prefix="hecnn-example-"))
    t_all = time.perf_counter()

    print(f"[1/5] training in PyTorch ({args.epochs} epochs)", flush=True)
    t = time.perf_counter()
    net = train(args.epochs)
    train_s = time.perf_counter() - t
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), str(work / "model.onnx"), opset_version=13)  # plain export, no hecnn metadata

    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz")[:args.count], read_idx("t10k-labels-idx1-ubyte.gz")[:args.count]
    with torch.no_grad():
        torch_logits = net.double()(standardise(test_x).double()).numpy()

    print("[2/5] planning for encrypted inference (128-bit security)", flush=True)
    t = time.perf_counter()
    calib = read_idx("train-images-idx3-ubyte.gz")[:512]  # value ranges measured on training images
    plan = hecnn.Plan.from_onnx(work / "model.onnx", batch=args.count, calib=calib, mean=MEAN, std=STD, threads=os.cpu_count() or 1)
    plan.save(work / "plan.json")
    plan_s = time.perf_counter() - t
    print(plan.describe())

    print("[3/5] client: keys", flush=True)
    t = time.perf_counter()
    keys = hecnn.KeySet.generate(plan)  # secret key in a private temporary directory
    keygen_s = time.perf_counter() - t

    print("[4/5] server: hecnn serve on loopback (evaluation keys and ciphertexts only)", flush=True)
    server, url = start_server(args.hecnn, work / "model.onnx", work / "plan.json", work / "state")
    try:
        client = hecnn.Client(url)
        last = {"server_seconds": 0.0}

        def progress(s):
            if s["state"] == "running" and s["steps"]:
                print(f"\r  layer {s['step']}/{s['steps']}, {s['elapsed']:.0f} s, ~{s['remaining']:.0f} s left", end="", flush=True)
            last.update(s)

        print("[5/5] client: encrypt, upload, wait, download, decrypt", flush=True)
        t = time.perf_counter()
        logits = client.infer(keys, test_x, progress=progress)
        client_s = time.perf_counter() - t
        print()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    n = len(test_x)
    enc_pred, ref_pred = logits.argmax(1), torch_logits.argmax(1)
    print(f"\n=== hecnn from Python: {n} Fashion-MNIST test images, encrypted end to end ===")
    print(f"accuracy     PyTorch {100 * (ref_pred == test_y).mean():.2f} %   encrypted {100 * (enc_pred == test_y).mean():.2f} %   "
          f"agreement {int((enc_pred == ref_pred).sum())}/{n} ({100 * (enc_pred == ref_pred).mean():.3f} %)   "
          f"max |logit error| {np.abs(logits - torch_logits).max():.2e}")
    print(f"parameters   N = 2^{plan.log_n}, depth {plan.depth}, {n} images per batch, 128-bit security")
    print(f"time         training {train_s:.1f} s, planning {plan_s:.1f} s, keygen {keygen_s:.2f} s, "
          f"client.infer {client_s:.1f} s (server {last['server_seconds']:.1f} s of it; the rest: encrypt, upload, download, decrypt)")
    print(f"sizes        evaluation keys {plan.eval_keys_bytes / 2**20:.1f} MiB, upload {plan.batch_file_bytes / 2**20:.1f} MiB")
    print(f"total        {time.perf_counter() - t_all:.1f} s; files in {work}")


if __name__ == "__main__":
    main()
