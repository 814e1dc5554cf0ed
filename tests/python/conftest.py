# Shared set-up of the Python module's tests: a tiny Fashion-MNIST-shaped CNN with quadratic
# activations made with PyTorch (random weights from a fixed seed) and exported by a plain
# torch.onnx.export, its plan at small INSECURE test-only parameters (N = 2^11), a key set,
# the data set's images read here with numpy (not by hecnn), and PyTorch's own logits as the
# reference every decrypted result is checked against.
#
# Run: PYTHONPATH=build/release/python python3 -m pytest tests/python (scripts/test does).
# HECNN_EXE names the command-line binary (default build/release/hecnn).
import copy
import gzip
import os
import pathlib
import subprocess

import numpy as np
import pytest
import torch

import hecnn

REPO = pathlib.Path(__file__).resolve().parents[2]
HECNN_EXE = os.environ.get("HECNN_EXE", str(REPO / "build" / "release" / "hecnn"))
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530
BATCH = 16


def read_idx_images(name, count):
    """The first `count` images of an IDX file (magic 0x803), as uint8 (count, 1, H, W)."""
    with gzip.open(FASHION / name, "rb") as f:
        head = np.frombuffer(f.read(16), dtype=">u4")
        assert head[0] == 0x803, f"{name}: not an IDX image file"
        n, h, w = (int(v) for v in head[1:])
        count = min(count, n)
        return np.frombuffer(f.read(count * h * w), dtype=np.uint8).reshape(count, 1, h, w).copy()


class TinyNet(torch.nn.Module):
    """conv 3×3 stride 2 (1→2), per-channel a·x² + b·x, linear to 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, stride=2)
        self.a = torch.nn.Parameter(0.1 + 0.05 * torch.randn(2, 1, 1))
        self.b = torch.nn.Parameter(0.5 + 0.05 * torch.randn(2, 1, 1))
        self.fc = torch.nn.Linear(2 * 13 * 13, 10)

    def forward(self, x):
        x = self.conv(x)
        x = self.a * x * x + self.b * x
        return self.fc(x.reshape(-1, 2 * 13 * 13))


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("hecnn-py")


@pytest.fixture(scope="session")
def model(work):
    """(path of the ONNX file, the torch module it was exported from)."""
    torch.manual_seed(7)
    net = TinyNet().eval()
    path = work / "tiny.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), str(path), opset_version=13)
    return path, net


def reference(net, pixels):
    """PyTorch's logits for uint8/float pixels (B, 1, 28, 28), preprocessed here, in float64."""
    x = (np.asarray(pixels, dtype=np.float64) / 255.0 - MEAN) / STD
    with torch.no_grad():
        return copy.deepcopy(net).double()(torch.from_numpy(x)).numpy()


def assert_matches(logits, ref):
    """Decrypted logits against the reference: every value within 1e-3 of the largest
    magnitude (CKKS at Δ = 2^40 is ~1e-6 off), and the same class wherever the reference's
    top two are not a near tie."""
    assert logits.shape == ref.shape and logits.dtype == np.float64
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(logits - ref).max()) <= 1e-3 * scale
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-2 * scale
    assert clear.sum() >= len(ref) // 2
    assert (logits.argmax(1)[clear] == ref.argmax(1)[clear]).all()


@pytest.fixture(scope="session")
def train_images():
    return read_idx_images("train-images-idx3-ubyte.gz", 256)


@pytest.fixture(scope="session")
def test_images():
    return read_idx_images("t10k-images-idx3-ubyte.gz", 64)


@pytest.fixture(scope="session")
def plan(model, train_images):
    return hecnn.Plan.from_onnx(model[0], batch=BATCH, calib=train_images, mean=MEAN, std=STD, log_n=11, insecure_test_params=True)


@pytest.fixture(scope="session")
def keys(plan, work):
    return hecnn.KeySet.generate(plan, dir=work / "keys", insecure_test_params=True)


def run_cli(*args):
    """`hecnn ARGS…`; its stdout. Fails the test with its stderr when it fails."""
    p = subprocess.run([HECNN_EXE, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, f"hecnn {' '.join(map(str, args))} failed:\n{p.stderr}"
    return p.stdout


def read_scores(csv_path, outputs):
    """The score columns of `hecnn decrypt`'s predictions.csv, as (images, outputs)."""
    lines = pathlib.Path(csv_path).read_text().splitlines()
    assert lines[0].startswith("image,name,predicted,class,label")
    return np.array([[float(v) for v in line.split(",")[-outputs:]] for line in lines[1:]])
