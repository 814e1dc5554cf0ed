# The secret key never leaves by accident; test-only parameters only when asked for.
import copy
import pickle

import pytest

import hecnn


def test_keyset_refuses_pickle_and_copy(keys):
    for f in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="secret key"):
            f(keys)


def test_plan_pickles(plan):
    back = pickle.loads(pickle.dumps(plan))
    assert back.to_json() == plan.to_json() and back.describe() == plan.describe()


def test_generated_in_memory_keys_live_with_the_object(plan):
    k = hecnn.KeySet.generate(plan, insecure_test_params=True)
    d = k.dir
    assert (d / "secret.key").stat().st_mode & 0o777 == 0o600
    assert k.eval_keys_bytes() == (d / "eval.keys").read_bytes()
    assert len(k.eval_keys_bytes()) == plan.eval_keys_bytes
    del k
    assert not d.exists()


def test_test_parameters_only_when_asked(plan, keys, tmp_path):
    assert plan.insecure
    with pytest.raises(ValueError, match="128-bit"):
        hecnn.KeySet.generate(plan)
    with pytest.raises(ValueError, match="128-bit"):
        hecnn.KeySet.load(keys.dir)
    plan.save(tmp_path / "p.json")
    with pytest.raises(ValueError, match="128-bit"):
        hecnn.Plan.load(tmp_path / "p.json")


def test_existing_keys_are_not_overwritten(plan, keys, tmp_path):
    with pytest.raises(RuntimeError, match="refusing to overwrite"):
        hecnn.KeySet.generate(plan, dir=keys.dir, insecure_test_params=True)
    other = hecnn.KeySet.generate(plan, dir=tmp_path / "other", insecure_test_params=True)
    with pytest.raises(RuntimeError, match="refusing to overwrite"):
        keys.save(other.dir)
    with pytest.raises(RuntimeError, match="the key directory itself"):
        keys.save(keys.dir, force=True)
    keys.save(other.dir, force=True)  # replaced: now the same keys
    assert hecnn.KeySet.load(other.dir, insecure_test_params=True).keyset_id == keys.keyset_id != other.keyset_id
