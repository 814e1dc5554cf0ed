#!/usr/bin/python3
"""The Python module's overhead against the command line for encrypting a batch.

    PYTHONPATH=build/release/python python3 benchmarks/python_encrypt.py KEYS [--count 8192] [--runs 5]

KEYS: a key directory (`hecnn keygen`, 128-bit plan). Each run is a whole process started
afresh, alternating: `hecnn encrypt --keys KEYS --images fashion-mnist --limit COUNT`, and
python3 loading the keys, reading the same test images with numpy and calling
keys.encrypt (the same preprocessing and batch file). Prints min and median wall times
of both and their ratio; the Python process also reports its time inside keys.encrypt.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
PY = r"""
import gzip, sys, time, numpy as np, hecnn
keys = hecnn.KeySet.load(sys.argv[1])
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    raw = f.read()
n = int(sys.argv[3])
images = np.frombuffer(raw, np.uint8, offset=16, count=n * 784).reshape(n, 1, 28, 28)
t = time.perf_counter()
keys.encrypt(images, path=sys.argv[2], force=True)
print(time.perf_counter() - t)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keys")
    ap.add_argument("--count", type=int, default=8192)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hecnn", default=str(REPO / "build" / "release" / "hecnn"))
    a = ap.parse_args()
    out = pathlib.Path(tempfile.mkdtemp(prefix="hecnn-bench-"))
    cli, py, inside = [], [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        subprocess.run([a.hecnn, "encrypt", "--keys", a.keys, "--images", "fashion-mnist", "--limit", str(a.count), "--out", str(out / "cli.hecnn"),
                        "--force"], check=True, capture_output=True)
        cli.append(time.perf_counter() - t)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", PY, a.keys, str(out / "py.hecnn"), str(a.count)], check=True, capture_output=True, text=True)
        py.append(time.perf_counter() - t)
        inside.append(float(p.stdout.strip().splitlines()[-1]))
    assert (out / "cli.hecnn").stat().st_size == (out / "py.hecnn").stat().st_size
    for name, v in (("hecnn encrypt", cli), ("python3 + keys.encrypt", py), ("  inside keys.encrypt", inside)):
        print(f"{name:24s} min {min(v):7.3f} s   median {statistics.median(v):7.3f} s   ({', '.join(f'{x:.3f}' for x in v)})")
    print(f"python / cli             min {min(py) / min(cli):.3f}   median {statistics.median(py) / statistics.median(cli):.3f}")


if __name__ == "__main__":
    main()
