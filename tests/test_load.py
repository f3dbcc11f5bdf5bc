"""pgrad.load: the agent of one seed of a run folder, for every algorithm and policy kind; its
greedy actions are those its parameters imply, its evaluation is ``pgrad eval``'s."""

import json
import shutil

import numpy as np
import pytest

import pgrad
from pgrad.cli import main

RUNS = {
    "reinforce-logistic": ["--max-episodes", "200"],
    "reinforce-softmax": ["--env-id", "Acrobot-v1", "--max-episodes", "100", "--episodes-per-update", "50"],
    "a2c-softmax": ["--algo", "a2c", "--env-id", "Acrobot-v1", "--max-steps", "2048"],
    "ppo-gaussian": ["--algo", "ppo", "--env-id", "Pendulum-v1", "--max-steps", "2048"],
    "ppo-mlp-categorical": ["--algo", "ppo", "--policy", "mlp", "--hidden", "8", "--max-steps", "1024"],
    "ppo-mlp-gaussian": ["--algo", "ppo", "--policy", "mlp", "--hidden", "8", "--env-id", "Pendulum-v1",
                         "--max-steps", "1024"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, flags in RUNS.items():
        assert main(["train", *flags, "--seeds", "0-1", "--eval-episodes", "4", "--quiet",
                     "--out", str(root / name)]) == 0
    return root


def implied_greedy(kind: str, agent, obs: np.ndarray) -> np.ndarray:
    """The greedy action from the parameters by the policy's formula, written out here."""
    theta, policy = agent.theta, agent.policy
    if kind == "reinforce-logistic":                       # pi(left | s) = sigmoid(theta . s) >= 1/2
        return np.where(obs @ theta >= 0, 0, 1)
    if kind in ("reinforce-softmax", "a2c-softmax"):       # argmax_a (s W)_a, W [n, A]
        W = theta.reshape(obs.shape[1], -1)
        return np.argmax(obs @ W, axis=1)
    if kind == "ppo-gaussian":                             # clip(mean) = clip(s W), W [n, 1]
        return np.clip(obs @ theta[:-1].reshape(-1, 1), -2.0, 2.0)
    if kind == "ppo-mlp-categorical":
        return np.argmax(policy.logits(theta, obs), axis=-1)
    return np.clip(policy.mean(theta, obs), -2.0, 2.0)


@pytest.mark.parametrize("kind", list(RUNS))
def test_greedy_actions_are_those_the_parameters_imply(runs, kind):
    agent = pgrad.load(runs / kind, seed=1)
    assert agent.seed == 1 and agent.algo == kind.split("-")[0]
    np.testing.assert_array_equal(agent.theta, np.load(runs / kind / "theta.npy")[1])
    obs = np.random.default_rng(0).standard_normal((16, agent.policy.obs_dim))
    act = agent.act(obs, greedy=True)
    np.testing.assert_allclose(act, implied_greedy(kind, agent, obs), rtol=0, atol=1e-6)
    sampled = agent.act(obs, rng=np.random.default_rng(1))
    assert sampled.shape == act.shape
    np.testing.assert_array_equal(sampled, agent.act(obs, rng=np.random.default_rng(1)))


@pytest.mark.parametrize("kind", ["reinforce-logistic", "ppo-gaussian"])
def test_evaluate_is_what_the_run_and_eval_report(runs, kind):
    summary = json.loads((runs / kind / "summary.json").read_text())
    for seed in (0, 1):
        agent = pgrad.load(runs / kind, seed=seed)
        assert agent.evaluate(4, greedy=True).mean() == pytest.approx(summary["final_eval_greedy_mean"][seed],
                                                                      abs=1e-9)
        assert agent.evaluate(4).mean() == pytest.approx(summary["final_eval_mean"][seed], abs=1e-9)
    other = pgrad.load(runs / kind, seed=0).evaluate(3, seed=123)
    np.testing.assert_array_equal(other, pgrad.load(runs / kind, seed=0).evaluate(3, seed=123))


def test_seed_none_needs_a_single_seed_run(runs, tmp_path):
    with pytest.raises(ValueError, match="holds seeds 0, 1; pass seed="):
        pgrad.load(runs / "reinforce-logistic")
    with pytest.raises(ValueError, match="holds no seed 7"):
        pgrad.load(runs / "reinforce-logistic", seed=7)
    out = tmp_path / "one"
    argv = ["train", *RUNS["reinforce-logistic"], "--eval-episodes", "2", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert pgrad.load(out).seed == 0


def test_damaged_or_non_finite_parameters_are_refused(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "ppo-gaussian", run)
    theta = np.load(run / "theta.npy")
    theta[1, 0] = np.inf
    np.save(run / "theta.npy", theta)
    with pytest.raises(ValueError, match="non-finite parameters") as e:
        pgrad.load(run, seed=0)
    assert "\n" not in str(e.value)
    np.save(run / "theta.npy", theta[:, :2])
    with pytest.raises(ValueError, match="has shape"):
        pgrad.load(run, seed=0)
    with pytest.raises(ValueError, match="not a folder"):
        pgrad.load(tmp_path / "missing")


def test_act_checks_the_observation_shape(runs):
    agent = pgrad.load(runs / "reinforce-logistic", seed=0)
    with pytest.raises(ValueError, match=r"obs must be \[N, 4\]"):
        agent.act(np.zeros(4))
