# Plan, keys, encrypt, infer, decrypt in this process, checked against PyTorch's logits.
import os
import threading

import numpy as np
import torch

import hecnn
from conftest import BATCH, HECNN_EXE, assert_matches, reference, run_cli


def test_round_trip_matches_torch(model, plan, keys, test_images):
    images = test_images[:BATCH]
    batch = keys.encrypt(images)
    assert batch.samples == BATCH and batch.ciphertexts == 28 * 28
    assert batch.file_bytes == plan.batch_file_bytes == os.path.getsize(batch.path)
    result = hecnn.infer(model[0], keys.eval_keys_bytes(), batch, insecure_test_params=True)
    assert result.samples == BATCH and result.ciphertexts == plan.outputs
    assert_matches(keys.decrypt(result), reference(model[1], images))


def test_partial_batch_and_torch_tensor_input(model, keys, test_images):
    # A float32 tensor (as a DataLoader gives, on the 0 … 255 scale), fewer images than a batch.
    images = torch.from_numpy(test_images[16:21].astype(np.float32))
    images.requires_grad_(True)  # dropped by the module, not an error
    result = hecnn.infer(model[0], keys.eval_keys_bytes(), keys.encrypt(images), insecure_test_params=True)
    assert_matches(keys.decrypt(result), reference(model[1], test_images[16:21]))


def test_non_contiguous_array(model, keys, test_images):
    images = np.asfortranarray(test_images[:3])  # made contiguous by the module
    assert not images.flags.c_contiguous
    result = hecnn.infer(model[0], keys.eval_keys_bytes(), keys.encrypt(images), insecure_test_params=True)
    assert_matches(keys.decrypt(result), reference(model[1], test_images[:3]))


def test_files_at_named_paths(model, keys, test_images, tmp_path):
    b = keys.encrypt(test_images[:4], path=tmp_path / "b.hecnn")
    assert b.path == tmp_path / "b.hecnn" and os.path.exists(b.path)
    r = hecnn.infer(model[0], keys.dir / "eval.keys", tmp_path / "b.hecnn", out=tmp_path / "r.hecnn", insecure_test_params=True)
    assert os.path.exists(tmp_path / "r.hecnn")
    del b, r  # named files stay; temporary ones go with their objects
    assert os.path.exists(tmp_path / "b.hecnn") and os.path.exists(tmp_path / "r.hecnn")
    assert_matches(keys.decrypt(tmp_path / "r.hecnn"), reference(model[1], test_images[:4]))


def test_temporary_files_go_with_their_objects(keys, test_images):
    b = keys.encrypt(test_images[:2])
    path = b.path
    assert os.path.exists(path)
    del b
    assert not os.path.exists(path)


def test_encrypt_progress(keys, test_images):
    seen = []
    keys.encrypt(test_images[:2], progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (28 * 28, 28 * 28)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


def test_plan_describe_is_the_cli_table(model, tmp_path):
    # Random calibration on both sides (the same seeded values): the same plan, the same report.
    plan = hecnn.Plan.from_onnx(model[0], batch=64, mean=0.2860, std=0.3530, memory="8G")
    out = run_cli("plan", model[0], "--batch", "64", "--mean", "0.2860", "--std", "0.3530", "--memory", "8G", "--out", tmp_path / "cli.json")
    report = plan.describe()
    assert "headroom" in report and "\n0   linear " in report and "square" in report
    assert report in out
    assert plan.to_json() == (tmp_path / "cli.json").read_text().strip() or plan.to_json() == (tmp_path / "cli.json").read_text()


def test_plan_save_load(plan, tmp_path):
    plan.save(tmp_path / "p.json")
    back = hecnn.Plan.load(tmp_path / "p.json", insecure_test_params=True)
    assert back.to_json() == plan.to_json()
    assert (back.batch, back.input_shape, back.outputs, back.depth) == (BATCH, (1, 28, 28), 10, plan.depth)
    assert back.insecure and "TEST-ONLY" in back.describe()


def test_gil_released_while_the_library_works(plan, tmp_path):
    # Plan.load blocks in the library's open() of a FIFO until a writer comes: only if the
    # GIL is released can this thread run and be that writer (else: a deadlock, ended below).
    import faulthandler

    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    got = {}

    def load():
        try:
            got["plan"] = hecnn.Plan.load(fifo, insecure_test_params=True)
        except Exception as e:  # reported below
            got["error"] = e

    faulthandler.dump_traceback_later(120, exit=True)
    try:
        t = threading.Thread(target=load)
        t.start()
        with open(fifo, "w") as f:
            f.write(plan.to_json())
        t.join()
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert "error" not in got, got.get("error")
    assert got["plan"].to_json() == plan.to_json()
