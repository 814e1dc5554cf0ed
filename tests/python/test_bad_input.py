# Bad input raises a clear Python exception with the library's message, never a crash.
import os

import numpy as np
import pytest

import hecnn
from conftest import BATCH


def test_wrong_shape(keys, test_images):
    with pytest.raises(ValueError, match=r"the model takes \[1,28,28\]"):
        keys.encrypt(test_images[:2, :, :27, :27])
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\); got shape \(1, 28, 28\)"):
        keys.encrypt(test_images[0])
    with pytest.raises(ValueError, match="no images"):
        keys.encrypt(test_images[:0])
    with pytest.raises(ValueError, match=f"at most {BATCH}"):
        keys.encrypt(np.zeros((BATCH + 1, 1, 28, 28), np.uint8))


def test_wrong_dtype(keys, test_images):
    with pytest.raises(TypeError, match="dtype int64"):
        keys.encrypt(test_images.astype(np.int64))
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        keys.encrypt(test_images.tolist())
    bad = test_images[:2].astype(np.float32)
    bad[1, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="image 1 has a value that is not finite"):
        keys.encrypt(bad)


def test_missing_files(model, keys, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        hecnn.Plan.load(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        hecnn.Plan.from_onnx(tmp_path / "nope.onnx")
    with pytest.raises(RuntimeError, match="is missing"):
        hecnn.KeySet.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.hecnn"):
        keys.decrypt(tmp_path / "nope.hecnn")
    with pytest.raises(FileNotFoundError, match="nope.hecnn"):
        hecnn.infer(model[0], keys.eval_keys_bytes(), tmp_path / "nope.hecnn", insecure_test_params=True)


def flip(path, offset):
    b = bytearray(open(path, "rb").read())
    b[offset] ^= 0x40
    open(path, "wb").write(bytes(b))


def test_corrupt_files(model, keys, test_images, tmp_path):
    batch = keys.encrypt(test_images[:2], path=tmp_path / "b.hecnn")
    flip(batch.path, os.path.getsize(batch.path) // 2)
    with pytest.raises(hecnn.FormatError, match="checksum"):
        hecnn.infer(model[0], keys.eval_keys_bytes(), batch, insecure_test_params=True)
    # A batch is not a result, and a truncated result is refused before any decryption.
    good = keys.encrypt(test_images[:2])
    with pytest.raises(ValueError):
        keys.decrypt(good.path)
    result = hecnn.infer(model[0], keys.eval_keys_bytes(), good, out=tmp_path / "r.hecnn", insecure_test_params=True)
    data = open(result.path, "rb").read()
    open(result.path, "wb").write(data[:-100])
    with pytest.raises(hecnn.FormatError):
        keys.decrypt(result.path)
    # Evaluation keys: corrupt bytes, and a secret key sent in their place.
    ek = bytearray(keys.eval_keys_bytes())
    ek[len(ek) // 2] ^= 1
    with pytest.raises(hecnn.FormatError):
        hecnn.infer(model[0], bytes(ek), good, insecure_test_params=True)
    with pytest.raises(hecnn.FormatError, match="(?i)secret key"):
        hecnn.infer(model[0], (keys.dir / "secret.key").read_bytes(), good, insecure_test_params=True)
    # A plan file edited by hand, a model file that is not ONNX.
    edited = keys.plan.to_json().replace('"batch": 16,', '"batch": 17,')
    assert edited != keys.plan.to_json()
    (tmp_path / "p.json").write_text(edited)
    with pytest.raises(hecnn.FormatError, match="checksum"):
        hecnn.Plan.load(tmp_path / "p.json", insecure_test_params=True)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(hecnn.FormatError, match="ONNX"):
        hecnn.Plan.from_onnx(tmp_path / "m.onnx")


def test_batch_for_another_model(model, keys, test_images, tmp_path, train_images):
    # A batch bound to this model is refused by a server running another one.
    import torch
    from conftest import TinyNet

    torch.manual_seed(8)
    torch.onnx.export(TinyNet().eval(), torch.zeros(1, 1, 28, 28), str(tmp_path / "other.onnx"), opset_version=13)
    with pytest.raises(ValueError, match="model"):
        hecnn.infer(tmp_path / "other.onnx", keys.eval_keys_bytes(), keys.encrypt(test_images[:2]), insecure_test_params=True)
