# The module writes and reads the command line's files: a batch encrypted here is run and
# decrypted by `hecnn infer` / `hecnn decrypt`, a batch `hecnn encrypt` made is run and
# decrypted here, and keys made by either side serve the other.
import numpy as np

import hecnn
from conftest import BATCH, assert_matches, read_scores, reference, run_cli


def test_python_batch_through_the_cli(model, plan, keys, test_images, tmp_path):
    images = test_images[:BATCH]
    batch = keys.encrypt(images, path=tmp_path / "py.hecnn")
    run_cli("infer", "--model", model[0], "--eval-keys", keys.dir / "eval.keys", "--in", batch.path, "--out", tmp_path / "r.hecnn",
            "--insecure-test-params")
    run_cli("decrypt", "--keys", keys.dir, "--in", tmp_path / "r.hecnn", "--out", tmp_path / "p.csv", "--insecure-test-params")
    cli = read_scores(tmp_path / "p.csv", plan.outputs)
    mine = keys.decrypt(tmp_path / "r.hecnn")
    np.testing.assert_allclose(cli, mine, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(mine).max())))  # the CSV's 6 digits
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
