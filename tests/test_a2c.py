"""A2C: it learns CartPole-v1 with the defaults (slow), linear seeds are bit-identical in a batch and
alone, MLP and Box-action agents run, bad configs are refused in one line."""

import numpy as np
import pytest

from pgrad.algorithms.a2c import A2CConfig, evaluate, train

SMALL = dict(num_envs=8, num_steps=8, max_steps=4096)


@pytest.mark.slow
def test_defaults_reach_a_final_evaluation_of_475_on_cartpole():
    config = A2CConfig()
    result = train(config, seeds=(0,))
    assert result.solved[0] and result.episodes[0]["return"][-100:].mean() >= 475
    assert evaluate(config, result.theta, (0,), 100).mean() >= 475


def test_seed_in_batch_is_bit_identical_to_seed_alone():
    config = A2CConfig(**SMALL, ent_coef=0.01)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        np.testing.assert_array_equal(alone.theta[0], batched.theta[j])
        np.testing.assert_array_equal(alone.value_params[0], batched.value_params[j])
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(alone.episodes[0][key], batched.episodes[j][key])


def test_logger_and_steps():
    seen = []
    result = train(A2CConfig(**SMALL), (0,), logger=seen.append)
    assert result.steps[0] == 4096 and len(seen) == 4096 // 64
    assert {"entropy", "explained_variance", "value_loss", "lr", "window_mean", "episodes"} <= set(seen[0])
    assert result.updates == [{("seeds_training" if k == "seeds" else k): (len(v) if k == "seeds" else v)
                               for k, v in m.items()} for m in seen]  # one table row per update


def test_mlp_and_gaussian_agents_run():
    result = train(A2CConfig(env_id="MountainCarContinuous-v0", **SMALL), (0, 1))
    assert result.theta.shape == (2, 3) and np.isfinite(result.theta).all()  # W [2, 1], log_std [1]
    pytest.importorskip("torch")
    result = train(A2CConfig(policy="mlp", hidden=8, **SMALL), (0,))
    assert np.isfinite(result.theta).all() and np.isfinite(result.value_params).all()


@pytest.mark.parametrize("kw, message", [
    (dict(gamma=-1.0), r"gamma must be in \[0, 1\]"),
    (dict(num_steps=0), "num_steps must be a positive integer"),
    (dict(ent_coef=-0.1), "ent_coef must be non-negative"),
    (dict(max_grad_norm=0.0), "max_grad_norm must be positive"),
    (dict(lr_schedule="cosine"), "unknown lr_schedule 'cosine'; accepted: constant, linear"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        A2CConfig(**kw)
    assert "\n" not in str(e.value)
