"""PPO: it learns CartPole-v1 with the defaults (slow), linear seeds are bit-identical in a batch and
alone, each seed stops on its own, diagnostics reach the logger, Box actions and Gymnasium ids run,
bad configs are refused in one line."""

import numpy as np
import pytest

from pgrad.algorithms.ppo import PPOConfig, evaluate, train
from pgrad.policies import MLPCategoricalPolicy
from pgrad.values import MLPValue

SMALL = dict(num_envs=8, num_steps=32, minibatch_size=128, max_steps=6144)


@pytest.mark.slow
def test_defaults_reach_a_final_evaluation_of_475_on_cartpole():
    config = PPOConfig()
    result = train(config, seeds=(0,))
    assert result.solved[0] and result.episodes[0]["return"][-100:].mean() >= 475
    assert evaluate(config, result.theta, (0,), 100).mean() >= 475


@pytest.mark.slow
def test_mlp_policy_reaches_a_final_evaluation_of_475_on_cartpole():
    pytest.importorskip("torch")
    config = PPOConfig(policy="mlp")
    result = train(config, seeds=(0,))
    assert result.solved[0]
    assert evaluate(config, result.theta, (0,), 100).mean() >= 475


def test_seed_in_batch_is_bit_identical_to_seed_alone():
    config = PPOConfig(**SMALL, ent_coef=0.01)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        np.testing.assert_array_equal(alone.theta[0], batched.theta[j])
        np.testing.assert_array_equal(alone.value_params[0], batched.value_params[j])
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(alone.episodes[0][key], batched.episodes[j][key])


def test_each_seed_stops_on_its_own():
    config = PPOConfig(**SMALL | dict(max_steps=20_000), solve_threshold=60.0, solve_window=20)
    result = train(config, (0, 1))
    assert result.solved.all() and result.solved_at_step[0] != result.solved_at_step[1]
    np.testing.assert_array_equal(result.steps, result.solved_at_step)
    for table, n in zip(result.episodes, result.solved_at_episode, strict=True):
        assert len(table["return"]) == n and table["return"][-20:].mean() >= 60


def test_logger_receives_ppo_diagnostics():
    seen = []
    train(PPOConfig(**SMALL), (0, 1), logger=seen.append)
    assert {"update", "episodes", "window_mean", "seeds", "wall"} <= set(seen[-1])  # every segment
    updates = [m for m in seen if "approx_kl" in m]  # every update (not the final, stopping segment)
    assert len(updates) == len(seen) - 1
    assert {"clip_fraction", "explained_variance", "entropy", "value_loss", "lr"} <= set(updates[-1])
    assert all(m["approx_kl"] >= 0 and 0 <= m["clip_fraction"] <= 1 for m in updates)
    assert updates[-1]["lr"] < updates[0]["lr"] == PPOConfig().lr  # linear decay


def test_gaussian_policy_on_box_actions_and_a_gymnasium_id():
    result = train(PPOConfig(env_id="Pendulum-v1", **SMALL), (0,))
    assert result.theta.shape == (1, 4) and np.isfinite(result.theta).all()  # W [3, 1], log_std [1]
    # FrozenLake-v1 is not one of pgrad's ids: it runs through Gymnasium's own vector environments
    config = PPOConfig(env_id="FrozenLake-v1", **SMALL)
    result = train(config, (0,))
    assert result.theta.shape == (1, 16 * 4) and result.steps[0] == 6144
    assert result.episodes[0]["length"].max() <= 100 and set(result.episodes[0]["return"]) <= {0.0, 1.0}
    assert evaluate(config, result.theta, (0,), 3).shape == (1, 3)


def test_mlp_policy_trains_a_few_updates():
    pytest.importorskip("torch")
    config = PPOConfig(policy="mlp", hidden=16, **SMALL | dict(max_steps=1024))
    result = train(config, (0, 1))
    assert result.theta.shape == (2, MLPCategoricalPolicy(4, 2, (16, 16)).dim)
    assert result.value_params.shape == (2, MLPValue(4, (16, 16)).dim) and np.isfinite(result.theta).all()


@pytest.mark.parametrize("kw, message", [
    (dict(minibatch_size=100), "minibatch_size 100 must divide num_envs \\* num_steps"),
    (dict(gamma=1.5), r"gamma must be in \[0, 1\]"),
    (dict(gae_lambda=-0.1), r"gae_lambda must be in \[0, 1\]"),
    (dict(clip=0.0), "clip must be positive"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(num_envs=0), "num_envs must be a positive integer"),
    (dict(policy="cnn"), "unknown policy 'cnn'; accepted: linear, mlp"),
    (dict(env_id="Blackjack-v1"), "Blackjack-v1: unsupported observation space Tuple"),
    (dict(env_id="NoSuchEnv-v0"), "unknown env 'NoSuchEnv-v0'"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        PPOConfig(**kw)
    assert "\n" not in str(e.value)
