"""TRPO: it learns CartPole-v1, every accepted step is inside the trust region and improves the
surrogate, seeds are bit-identical in a batch and alone, a checkpointed run resumes bit for bit,
the CLI trains it, bad configs are refused in one line."""

import numpy as np
import pytest

from pgrad import natural
from pgrad.algorithms import config_class, module
from pgrad.algorithms.ac_agent import make_agent
from pgrad.algorithms.ac_gradients import forward, linear_gradient
from pgrad.algorithms.ac_samples import Samples
from pgrad.algorithms.trpo import ALGORITHM, TRPOConfig, evaluate, line_search, train
from pgrad.rollout import env_spec
from pgrad.training import checkpoint, loop
from pgrad.training.log import PER_SEED

SMALL = dict(num_envs=8, num_steps=32, max_steps=6144)


def test_default_config_solves_cartpole():
    config = TRPOConfig()
    result = train(config, seeds=(0, 1))
    assert result.solved.all()
    for table in result.episodes:
        assert table["return"][-100:].mean() >= 475
        assert table["return"][:20].mean() < 100  # it started from a poor policy and learned
    assert evaluate(config, result.theta, (0, 1), 20).mean() >= 400


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_every_accepted_step_is_in_the_trust_region_and_improves_the_surrogate(env_id):
    """Softmax-linear and Gaussian-linear: accepted steps have mean KL <= delta and a positive
    surrogate gain; a seed whose line search found nothing did not move (KL and gain 0)."""
    seen = []
    config = TRPOConfig(env_id=env_id, **SMALL)
    state = loop.start("trpo", ALGORITHM, config, (0, 1, 2))
    loop.run(ALGORITHM, state, [lambda metrics, s: seen.append(metrics.get(PER_SEED))])
    per_seed = [m for m in seen if m is not None and "approx_kl" in m]
    kl, gain, accepted, backtracks = (np.concatenate([m[k] for m in per_seed])
                                      for k in ("approx_kl", "surrogate_gain", "accepted", "backtracks"))
    accepted = accepted.astype(bool)
    assert accepted.sum() >= 10
    assert np.all(kl[accepted] <= config.max_kl) and np.all(kl[accepted] > 0)
    assert np.all(gain[accepted] > 0)
    assert np.all(kl[~accepted] == 0) and np.all(gain[~accepted] == 0)
    assert np.all(backtracks[~accepted] == config.backtrack_steps) and np.all(backtracks < 11)


def synthetic_samples(config: TRPOConfig, S: int = 2, M: int = 256):
    """A softmax-linear agent on CartPole's spaces, random theta and states, actions drawn from
    pi_theta, random advantages."""
    rng = np.random.default_rng(0)
    agent = make_agent(config, env_spec("CartPole-v1"))
    theta = rng.normal(size=(S, agent.policy.dim))
    obs = rng.normal(size=(S, M, 4))
    probs = agent.policy.probs(theta, obs)
    act = (rng.random((S, M)) > probs[..., 0]).astype(np.int64)
    empty = np.zeros((S, M))
    logp_old = forward(agent, theta, obs, act).logp
    adv = rng.normal(size=(S, M))
    return agent, theta, Samples(obs, act, adv, empty, logp_old, None), adv


def test_line_search_backtracks_to_the_trust_region_and_rejects_a_descent_direction():
    config = TRPOConfig()
    agent, theta, data, adv = synthetic_samples(config)
    g = linear_gradient(forward(agent, theta, data.obs, data.act), adv, 0.0)
    direction = g / np.linalg.norm(g, axis=1, keepdims=True)
    # a step along g far outside the trust region: the search shrinks it until KL <= delta
    search = line_search(agent, theta, 0.5 * direction, data, adv, config)
    obs, alive = data.obs[None], np.ones((1, *data.obs.shape[:2]), bool)
    first_kl = natural.mean_kl(agent.policy, theta, theta + 0.5 * direction, obs, alive)
    assert np.all(first_kl > config.max_kl) and search.accepted.all() and np.all(search.backtracks > 0)
    expected = theta + config.backtrack_coef ** search.backtracks[:, None] * 0.5 * direction
    np.testing.assert_array_equal(search.theta, expected)
    np.testing.assert_allclose(search.kl, natural.mean_kl(agent.policy, theta, search.theta, obs, alive))
    assert np.all(search.kl <= config.max_kl) and np.all(search.improvement > 0)
    # one step shorter would have been too long: it is the first acceptable length
    longer = theta + config.backtrack_coef ** (search.backtracks[:, None] - 1) * 0.5 * direction
    assert np.all(natural.mean_kl(agent.policy, theta, longer, obs, alive) > config.max_kl)
    # a small step against g lowers the surrogate at every length: theta stays
    search = line_search(agent, theta, -0.01 * direction, data, adv, config)
    assert not search.accepted.any() and np.array_equal(search.theta, theta)
    assert np.all(search.backtracks == config.backtrack_steps) and np.all(search.kl == 0)


def test_seed_in_batch_is_bit_identical_to_seed_alone():
    config = TRPOConfig(**SMALL, ent_coef=0.01)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        np.testing.assert_array_equal(alone.theta[0], batched.theta[j])
        np.testing.assert_array_equal(alone.value_params[0], batched.value_params[j])
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(alone.episodes[0][key], batched.episodes[j][key])


def same_result(r: loop.TrainResult, ref: loop.TrainResult) -> None:
    """Bit for bit, wall-clock times aside."""
    assert r.theta.tobytes() == ref.theta.tobytes() and r.status == ref.status
    assert r.value_params.tobytes() == ref.value_params.tobytes()
    for name in ("solved_at_episode", "solved_at_step", "steps", "diverged"):
        assert np.array_equal(getattr(r, name), getattr(ref, name)), name
    for t, u in zip(r.episodes, ref.episodes, strict=True):
        for column in ("return", "length", "update"):
            assert t[column].tobytes() == u[column].tobytes(), column
    # nan (a segment where no episode ended) equals nan here: assert_equal, not ==
    np.testing.assert_equal([{k: v for k, v in x.items() if k != "wall"} for x in r.updates],
                            [{k: v for k, v in x.items() if k != "wall"} for x in ref.updates])


@pytest.mark.parametrize("k", [1, 4])
def test_stop_save_load_finish_equals_uninterrupted(k, tmp_path):
    config, seeds = TRPOConfig(**SMALL, solve_threshold=float("inf")), (0, 1, 2)
    reference = loop.start("trpo", ALGORITHM, config, seeds)
    assert loop.run(ALGORITHM, reference) is True
    ref = loop.result(ALGORITHM, reference)

    state = loop.start("trpo", ALGORITHM, config, seeds)
    assert loop.run(ALGORITHM, state, [lambda metrics, s: loop.STOP if s.update == k else None]) is False
    checkpoint.save(ALGORITHM, state, tmp_path / "checkpoint")
    algorithm, loaded = checkpoint.load(tmp_path / "checkpoint")
    assert algorithm is ALGORITHM and loaded.update == k and loaded.config == config
    assert loop.run(algorithm, loaded) is True
    same_result(loop.result(algorithm, loaded), ref)


def test_logger_receives_trpo_diagnostics():
    seen = []
    train(TRPOConfig(**SMALL), (0, 1), logger=seen.append)
    updates = [m for m in seen if "approx_kl" in m]
    assert len(updates) == len(seen) - 1
    assert {"entropy", "value_loss", "explained_variance", "lr", "backtracks", "accepted",
            "surrogate_gain"} <= set(updates[-1])
    assert all(0 <= m["approx_kl"] <= TRPOConfig().max_kl and 0 <= m["accepted"] <= 1 for m in updates)


def test_mlp_policy_trains_a_few_updates():
    pytest.importorskip("torch")
    seen = []
    config = TRPOConfig(policy="mlp", hidden=16, **SMALL | dict(max_steps=1024))
    result = train(config, (0, 1), logger=seen.append)
    assert np.isfinite(result.theta).all() and np.isfinite(result.value_params).all()
    accepted = [m for m in seen if m.get("accepted")]
    assert accepted and all(m["approx_kl"] <= config.max_kl for m in accepted)


def test_registered_in_the_algorithm_table():
    assert config_class("trpo") is TRPOConfig and module("trpo").ALGORITHM is ALGORITHM


def test_cli_trains_trpo(tmp_path):
    from pgrad.cli import main

    assert main(["train", "--algo", "trpo", "--max-steps", "4096", "--max-kl", "0.02",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert (tmp_path / "run" / "theta.npy").exists()


@pytest.mark.parametrize("kw, message", [
    (dict(max_kl=0.0), "max_kl must be positive"),
    (dict(damping=-1.0), "damping must be non-negative"),
    (dict(backtrack_coef=1.0), r"backtrack_coef must be in \(0, 1\)"),
    (dict(cg_iterations=0), "cg_iterations must be a positive integer"),
    (dict(backtrack_steps=0), "backtrack_steps must be a positive integer"),
    (dict(gamma=1.5), r"gamma must be in \[0, 1\]"),
    (dict(policy="cnn"), "unknown policy 'cnn'; accepted: linear, mlp"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        TRPOConfig(**kw)
    assert "\n" not in str(e.value)


def test_cli_refuses_a_bad_value_in_one_line(tmp_path, capsys):
    from pgrad.cli import main

    assert main(["train", "--algo", "trpo", "--max-kl", "-1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "pgrad: error: --max-kl must be positive, got -1.0"
    assert not (tmp_path / "run").exists()


def test_sized_like_the_actor_critics():
    from pgrad import sizes

    config = TRPOConfig(num_envs=100_000, num_steps=1_000)
    assert sizes.actor_critic_bytes(config, 10)[0] > sizes.machine_memory()
    with pytest.raises(ValueError, match="training 10 seeds of trpo on CartPole-v1 needs about") as e:
        sizes.check_training("trpo", config, 10)
    assert "\n" not in str(e.value)
    sizes.check_training("trpo", TRPOConfig(), 10)


@pytest.mark.slow
def test_mlp_defaults_solve_cartpole():
    pytest.importorskip("torch")
    config = TRPOConfig(policy="mlp")
    result = train(config, seeds=(0, 1))
    assert result.solved.all()
    for table in result.episodes:
        assert table["return"][:20].mean() < 100  # it started from a poor policy and learned
    assert evaluate(config, result.theta, (0, 1), 20).mean() >= 400


@pytest.mark.slow
def test_linear_defaults_learn_acrobot():
    config = TRPOConfig(env_id="Acrobot-v1")
    result = train(config, seeds=(0, 1))
    assert result.solved.all()
    for table in result.episodes:
        assert table["return"][-100:].mean() >= -100 and table["return"][:20].mean() < -200
