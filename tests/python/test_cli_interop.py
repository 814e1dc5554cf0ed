# The module writes and reads the command line's files: a batch encrypted here is run and
# decrypted by `hecnn infer` / `hecnn decrypt`, a batch `hecnn encrypt` made is run and
# decrypted here, and keys made by either side serve the other.
import subprocess

import numpy as np
import pytest

import hecnn
import csv
import re

from conftest import BATCH, HECNN_EXE, MEAN, STD, assert_matches, read_idx_images, read_scores, reference, run_cli


def test_python_batch_through_the_cli(model, plan, keys, test_images, tmp_path):
    images = test_images[:BATCH]
    batch = keys.encrypt(images, path=tmp_path / "py.hecnn")
    run_cli("infer", "--model", model[0], "--eval-keys", keys.dir / "eval.keys", "--in", batch.path, "--out", tmp_path / "r.hecnn",
            "--insecure-test-params")
    run_cli("decrypt", "--keys", keys.dir, "--in", tmp_path / "r.hecnn", "--out", tmp_path / "p.csv", "--insecure-test-params")
    cli = read_scores(tmp_path / "p.csv", plan.outputs)
    mine = keys.decrypt(tmp_path / "r.hecnn")
    np.testing.assert_array_equal(cli, mine)  # the CSV's 17 digits give back the same doubles
    assert_matches(mine, reference(model[1], images))


def test_cli_batch_through_python(model, plan, keys, test_images, tmp_path):
    # `hecnn encrypt` reads the data set's test split itself; the reference uses numpy's read.
    run_cli("encrypt", "--keys", keys.dir, "--images", "fashion-mnist", "--limit", BATCH, "--out", tmp_path / "cli.hecnn",
            "--insecure-test-params")
    assert (tmp_path / "cli.hecnn").stat().st_size == plan.batch_file_bytes
    result = hecnn.infer(model[0], keys.eval_keys_bytes(), tmp_path / "cli.hecnn", insecure_test_params=True)
    assert_matches(keys.decrypt(result), reference(model[1], test_images[:BATCH]))


def test_cli_keys_in_python_and_back(model, plan, test_images, tmp_path):
    plan.save(tmp_path / "plan.json")
    run_cli("keygen", "--plan", tmp_path / "plan.json", "--out", tmp_path / "cli-keys", "--insecure-test-params")
    keys = hecnn.KeySet.load(tmp_path / "cli-keys", insecure_test_params=True)
    assert keys.plan.to_json() == plan.to_json()
    keys.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "secret.key").stat().st_mode & 0o777 == 0o600
    again = hecnn.KeySet.load(tmp_path / "saved", insecure_test_params=True)
    assert again.keyset_id == keys.keyset_id
    # The saved copy is a key directory the command line uses.
    batch = again.encrypt(test_images[:4], path=tmp_path / "b.hecnn")
    run_cli("infer", "--model", model[0], "--eval-keys", tmp_path / "saved" / "eval.keys", "--in", batch.path, "--out", tmp_path / "r.hecnn",
            "--insecure-test-params")
    run_cli("decrypt", "--keys", tmp_path / "saved", "--in", tmp_path / "r.hecnn", "--out", tmp_path / "p.csv", "--insecure-test-params")
    assert_matches(read_scores(tmp_path / "p.csv", plan.outputs), reference(model[1], test_images[:4]))


def test_decrypt_compares_with_the_plaintext_model(model, plan, keys, tmp_path):
    # The client's check: a batch of test images 5…20 (`encrypt --offset`), the plaintext
    # runner's scores for the whole test split (`eval --out`), matched by image name.
    run_cli("encrypt", "--keys", keys.dir, "--images", "fashion-mnist", "--offset", 5, "--limit", BATCH, "--out", tmp_path / "b.hecnn",
            "--insecure-test-params")
    run_cli("infer", "--model", model[0], "--eval-keys", keys.dir / "eval.keys", "--in", tmp_path / "b.hecnn", "--out", tmp_path / "r.hecnn",
            "--insecure-test-params")
    run_cli("eval", model[0], "--mean", MEAN, "--std", STD, "--out", tmp_path / "plain.csv")
    out = run_cli("decrypt", "--keys", keys.dir, "--in", tmp_path / "r.hecnn", "--out", tmp_path / "p.csv", "--reference", tmp_path / "plain.csv",
                  "--insecure-test-params")

    def rows(path):
        with open(path, newline="") as f:
            return {r["name"]: np.array([float(r[k]) for k in r if k.startswith("score_")]) for r in csv.DictReader(f)}

    plain, enc = rows(tmp_path / "plain.csv"), rows(tmp_path / "p.csv")
    assert len(plain) == 10000 and len(enc) == BATCH
    # eval's runner is the model: PyTorch in float64 on the same images.
    images = read_idx_images("t10k-images-idx3-ubyte.gz", 5 + BATCH)[5:]
    torch_scores = reference(model[1], images)
    mine = np.array([plain[f"fashion-mnist test #{5 + i}"] for i in range(BATCH)])
    np.testing.assert_allclose(mine, torch_scores, rtol=0, atol=1e-9 * max(1.0, float(np.abs(torch_scores).max())))
    # decrypt's summary is what the two files say, counted here.
    same = sum(int(np.argmax(enc[n]) == np.argmax(plain[n])) for n in enc)
    worst = max(float(np.abs(enc[n] - plain[n]).max()) for n in enc)
    m = re.search(r"reference .*: (\d+) of (\d+) images .* max \|score error\| (\S+)", out)
    assert m, out
    assert (int(m.group(1)), int(m.group(2))) == (same, BATCH)
    assert float(m.group(3)) == pytest.approx(worst, rel=1e-2)
    # Another model's count of outputs is refused, and nothing is written.
    bad = tmp_path / "bad.csv"
    bad.write_text("image,name,predicted,class,label,score_a\n0,x,0,a,,1\n")
    p = subprocess.run([str(a) for a in [HECNN_EXE, "decrypt", "--keys", keys.dir, "--in", tmp_path / "r.hecnn", "--out", tmp_path / "q.csv",
                                          "--reference", bad, "--insecure-test-params"]], capture_output=True, text=True)
    assert p.returncode != 0 and "scores per image" in p.stderr
    assert not (tmp_path / "q.csv").exists()


def test_cli_plan_insecure_test_params(model, tmp_path):
    # `hecnn plan --insecure-test-params` makes the small ring a scaled-down rehearsal needs;
    # the whole command-line path runs on it and agrees with the plaintext model.
    args = ["plan", model[0], "--batch", BATCH, "--log-n", 11, "--mean", MEAN, "--std", STD, "--calib", "fashion-mnist", "--calib-samples", 32]
    p = subprocess.run([str(a) for a in [HECNN_EXE, *args]], capture_output=True, text=True)
    assert p.returncode != 0 and "128-bit" in p.stderr  # without the flag: refused, saying why
    out = run_cli(*args, "--insecure-test-params", "--out", tmp_path / "plan.json")
    assert "N=2^11" in out and "INSECURE" in out
    run_cli("keygen", "--plan", tmp_path / "plan.json", "--out", tmp_path / "keys", "--insecure-test-params")
    run_cli("encrypt", "--keys", tmp_path / "keys", "--images", "fashion-mnist", "--limit", BATCH, "--out", tmp_path / "b.hecnn",
            "--insecure-test-params")
    run_cli("infer", "--model", model[0], "--eval-keys", tmp_path / "keys" / "eval.keys", "--in", tmp_path / "b.hecnn", "--out",
            tmp_path / "r.hecnn", "--insecure-test-params")
    run_cli("decrypt", "--keys", tmp_path / "keys", "--in", tmp_path / "r.hecnn", "--out", tmp_path / "p.csv", "--insecure-test-params")
    images = read_idx_images("t10k-images-idx3-ubyte.gz", BATCH)
    assert_matches(read_scores(tmp_path / "p.csv", 10), reference(model[1], images))
