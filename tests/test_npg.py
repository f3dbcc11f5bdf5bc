"""NPG: it learns CartPole-v1, each step moves the policy by the target KL, seeds are independent
and bit-reproducible, a checkpointed run resumes bit for bit, bad configs are refused."""

import numpy as np
import pytest

from pgrad.algorithms import config_class, module
from pgrad.algorithms.npg import ALGORITHM, NPGConfig, train
from pgrad.training import checkpoint, loop
from pgrad.training.log import PER_SEED


def test_default_config_solves_cartpole():
    result = train(NPGConfig(), seeds=(0, 1, 2))
    assert result.solved.all()
    for table in result.episodes:
        assert table["return"][-100:].mean() >= 475
        assert table["return"][:20].mean() < 100  # it started from a poor policy and learned


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"])
def test_each_step_moves_the_policy_by_max_kl(env_id):
    """The mean KL of each step on the batch's states is max_kl to second order (logistic,
    softmax-linear and Gaussian-linear policies); a seed whose gradient is exactly 0 (on Acrobot,
    K episodes that all hit the time limit, so every weight equals its baseline) does not move."""
    seen = []
    state = loop.start("npg", ALGORITHM, NPGConfig(env_id=env_id, max_episodes=30, max_kl=0.01), (0, 1, 2))
    loop.run(ALGORITHM, state, [lambda metrics, s: seen.append(metrics.get(PER_SEED))])
    kl = np.concatenate([m["kl"] for m in seen if m is not None])
    moved = np.concatenate([m["step_size"] for m in seen if m is not None]) > 0
    # the step is sized with the sampled-action Fisher, the KL follows its expectation over actions:
    # close for the categorical policies, looser for the Gaussian's noisy log-sigma entries (z^2 - 1)^2
    tolerance = 0.004 if env_id == "Pendulum-v1" else 0.002
    assert moved.sum() >= 3 and np.all(np.abs(kl[moved] - 0.01) < tolerance), kl
    assert np.all(kl[~moved] == 0.0)


def test_seed_in_batch_gives_bit_identical_results_to_seed_alone():
    config = NPGConfig(max_episodes=300)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        for key in ("return", "length", "update"):
            assert np.array_equal(alone.episodes[0][key], batched.episodes[j][key]), (s, key)
        assert np.array_equal(alone.theta[0], batched.theta[j])
        assert alone.solved_at_episode[0] == batched.solved_at_episode[j]


def same_result(r: loop.TrainResult, ref: loop.TrainResult) -> None:
    """Bit for bit, wall-clock times aside."""
    assert r.theta.tobytes() == ref.theta.tobytes() and r.status == ref.status
    for name in ("solved_at_episode", "solved_at_step", "steps", "diverged"):
        assert np.array_equal(getattr(r, name), getattr(ref, name)), name
    for t, u in zip(r.episodes, ref.episodes, strict=True):
        for column in ("return", "length", "update"):
            assert t[column].tobytes() == u[column].tobytes(), column
    assert [{k: v for k, v in x.items() if k != "wall"} for x in r.updates] == \
        [{k: v for k, v in x.items() if k != "wall"} for x in ref.updates]


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("baseline", ["time_mean_loo", "value"])
def test_stop_save_load_finish_equals_uninterrupted(k, baseline, tmp_path):
    config, seeds = NPGConfig(max_episodes=120, baseline=baseline, solve_threshold=float("inf")), (0, 1, 2)
    reference = loop.start("npg", ALGORITHM, config, seeds)
    assert loop.run(ALGORITHM, reference) is True
    ref = loop.result(ALGORITHM, reference)

    state = loop.start("npg", ALGORITHM, config, seeds)
    assert loop.run(ALGORITHM, state, [lambda metrics, s: loop.STOP if s.update == k else None]) is False
    checkpoint.save(ALGORITHM, state, tmp_path / "checkpoint")
    algorithm, loaded = checkpoint.load(tmp_path / "checkpoint")
    assert algorithm is ALGORITHM and loaded.update == k and loaded.config == config
    assert loop.run(algorithm, loaded) is True
    same_result(loop.result(algorithm, loaded), ref)


def test_registered_in_the_algorithm_table():
    assert config_class("npg") is NPGConfig and module("npg").ALGORITHM is ALGORITHM
    assert module("npg").make_policy(NPGConfig(), module("npg").reinforce.env_spec("CartPole-v1")).dim == 4


@pytest.mark.parametrize("kw, message", [
    (dict(max_kl=0.0), "max_kl must be positive"),
    (dict(damping=-1.0), "damping must be non-negative"),
    (dict(optimizer="adam"), "unknown optimizer 'adam'; accepted: sgd"),
    (dict(gamma=1.5), r"gamma must be in \[0, 1\]"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        NPGConfig(**kw)
    assert "\n" not in str(e.value)


def test_cli_trains_npg(tmp_path):
    from pgrad.cli import main

    assert main(["train", "--algo", "npg", "--max-episodes", "40", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    assert (tmp_path / "run" / "theta.npy").exists()


@pytest.mark.slow
def test_softmax_linear_learns_acrobot():
    result = train(NPGConfig(env_id="Acrobot-v1", max_episodes=1000), seeds=(0,))
    returns = result.episodes[0]["return"]
    assert result.solved[0] and returns[-100:].mean() >= -100 and returns[:50].mean() < -200
