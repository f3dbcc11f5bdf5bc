"""REINFORCE on any Gymnasium id: discrete and Box actions through Gymnasium (gym_rollout), a seed
alone equals the seed in a batch, time limits, checkpoints, the CLI, refused configs, the memory
estimate, and pgrad's own Box dynamics on the fused rollout."""

import json

import gymnasium
import numpy as np
import pytest

from pgrad import estimators, sizes
from pgrad.algorithms import reinforce
from pgrad.algorithms.reinforce import ReinforceConfig, fused_dynamics, horizon, make_policy, train
from pgrad.cli import main
from pgrad.envs import CARTPOLE, PENDULUM
from pgrad.gym_rollout import gym_rollout
from pgrad.policies import GaussianLinearPolicy, LogisticPolicy, SoftmaxLinearPolicy
from pgrad.rollout import env_spec
from pgrad.training import checkpoint, loop

pytestmark = [pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date"),
              pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")]

DISCRETE = "CartPole-v0"  # Gymnasium's, not pgrad's (pgrad implements CartPole-v1): 200 steps at most
BOX = "PgradTestContinuousCar-v0"
"""Gymnasium's own Continuous_MountainCarEnv under an id pgrad does not implement, 50 steps."""
if BOX not in gymnasium.registry:
    gymnasium.register(BOX, entry_point="gymnasium.envs.classic_control.continuous_mountain_car:"
                                        "Continuous_MountainCarEnv", max_episode_steps=50)
BOX_CONFIG = dict(env_id=BOX, episodes_per_update=20, max_episodes=200, lr=0.1)


def test_a_discrete_gymnasium_id_trains_through_gymnasium():
    config = ReinforceConfig(env_id=DISCRETE, episodes_per_update=50, max_episodes=400)
    assert fused_dynamics(DISCRETE) is None and horizon(config) == 200
    result = train(config, seeds=(0,))
    returns, lengths = result.episodes[0]["return"], result.episodes[0]["length"]
    assert len(returns) == 400 and lengths.max() <= 200
    assert returns[:50].mean() < 50 and returns[-50:].mean() > 150  # it learned


def test_sample_is_gym_rollout_of_the_seeds_generators():
    config = ReinforceConfig(env_id=DISCRETE, episodes_per_update=6)
    state = reinforce.init(config, [np.random.default_rng(s) for s in (0, 1, 2)])
    state.theta[:] = 0.1
    data = reinforce.sample(config, state, np.array([0, 2])).data[1]
    expected = gym_rollout(DISCRETE, LogisticPolicy(4), np.full((2, 4), 0.1),
                           [np.random.default_rng(0), np.random.default_rng(2)], 6)
    for name in ("obs", "act", "rew", "terminated", "truncated", "alive", "lengths"):
        np.testing.assert_array_equal(getattr(data, name), getattr(expected, name), err_msg=name)


@pytest.mark.parametrize("baseline", ["time_mean_loo", "value"])
def test_a_box_gymnasium_id_trains_a_gaussian_policy(baseline):
    config = ReinforceConfig(**BOX_CONFIG, baseline=baseline)
    assert isinstance(reinforce.init(config, [np.random.default_rng(0)]).policy, GaussianLinearPolicy)
    result = train(config, seeds=(0,))
    returns = result.episodes[0]["return"]
    assert (result.episodes[0]["length"] == 50).all() and np.isfinite(result.theta).all()
    assert returns[-20:].mean() > returns[:20].mean() + 0.5  # less action cost: sigma shrank
    assert result.theta[0, -1] < -0.3  # log sigma


def test_the_gaussian_estimate_is_the_full_score_gradient():
    config = ReinforceConfig(**BOX_CONFIG)
    policy = GaussianLinearPolicy(2, 1, bias=False)
    theta = np.array([[0.3, -0.2, 0.5], [0.0, 0.1, -0.5]])
    batch = gym_rollout(BOX, policy, theta, [np.random.default_rng(0), np.random.default_rng(1)], 5)
    w = estimators.weights(batch.rew, batch.alive, config.gamma, config.weighting, config.baseline)
    expected = estimators.policy_gradient(policy.grad_log_prob(theta, batch.obs, batch.act), w, batch.alive)
    g = reinforce.estimate(config, policy, theta, batch)
    np.testing.assert_array_equal(g, expected)
    assert np.abs(g).sum() > 0


@pytest.mark.parametrize("overrides", [
    dict(env_id=DISCRETE, episodes_per_update=20, max_episodes=60),
    dict(env_id=DISCRETE, episodes_per_update=20, max_episodes=60, baseline="value", standardize=True),
    dict(BOX_CONFIG, max_episodes=60, baseline="value"),
])
def test_a_seed_in_a_batch_equals_the_seed_alone(overrides):
    config = ReinforceConfig(**overrides)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(alone.episodes[0][key], batched.episodes[j][key], err_msg=key)
        np.testing.assert_array_equal(alone.theta[0], batched.theta[j])


def test_time_limit_caps_an_env_without_one_of_its_own():
    config = ReinforceConfig(env_id="CliffWalking-v1", time_limit=25, episodes_per_update=20, max_episodes=60,
                             baseline="value")
    assert horizon(config) == 25
    result = train(config, seeds=(0,))
    lengths = result.episodes[0]["length"]
    assert lengths.max() <= 25 and (lengths == 25).any() and np.isfinite(result.theta).all()
    # an env with a limit of its own keeps it; pgrad's own dynamics keep theirs
    assert horizon(ReinforceConfig(env_id=DISCRETE, time_limit=25)) == 200
    assert horizon(ReinforceConfig(time_limit=25)) == 500


def test_a_checkpoint_resumes_bit_for_bit(tmp_path):
    config = ReinforceConfig(env_id=DISCRETE, episodes_per_update=10, max_episodes=50, baseline="value")
    algorithm = reinforce.ALGORITHM
    assert algorithm.restorable(config) is None
    whole = train(config, (0, 1))
    state = loop.start("reinforce", algorithm, config, (0, 1))
    assert not loop.run(algorithm, state, [lambda metrics, st: "stop" if st.update == 2 else None])
    checkpoint.save(algorithm, state, tmp_path / "ck")
    _, resumed = checkpoint.load(tmp_path / "ck")
    assert loop.run(algorithm, resumed)
    result = loop.result(algorithm, resumed)
    np.testing.assert_array_equal(result.theta, whole.theta)
    for a, b in zip(result.episodes, whole.episodes, strict=True):
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(a[key], b[key])


def test_cli_trains_and_evaluates_a_gymnasium_id(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--env-id", DISCRETE, "--max-episodes", "60", "--episodes-per-update", "20",
                 "--eval-episodes", "3", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["time_limit"] == 1000
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    assert "greedy mean" in capsys.readouterr().out
    never = tmp_path / "never"
    assert main(["train", "--env-id", DISCRETE, "--float32", "--quiet", "--out", str(never)]) == 2
    err = capsys.readouterr().err
    assert "--float32 runs pgrad's own environments only" in err and err.count("\n") == 1
    assert not never.exists()


@pytest.mark.parametrize("kw, message", [
    (dict(env_id=DISCRETE, float32=True), "float32 runs pgrad's own environments only, not CartPole-v0"),
    (dict(env_id="CliffWalking-v1", time_limit=0), "time_limit must be a positive integer"),
    (dict(time_limit=True), "time_limit must be of type int"),
    (dict(env_id="Blackjack-v1"), "unsupported observation space Tuple"),
    (dict(env_id="NoSuchEnv-v0"),
     "unknown env_id 'NoSuchEnv-v0'; accepted: .*CartPole-v1.* or any Gymnasium id"),
    (dict(env_id="nosuchmodule:Foo-v0"), "cannot import module 'nosuchmodule'"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        ReinforceConfig(**kw)
    assert "\n" not in str(e.value)


def test_make_policy_takes_an_env_spec_or_pgrads_dynamics():
    config = ReinforceConfig()
    assert make_policy(config, CARTPOLE) == make_policy(config, env_spec("CartPole-v1")) == LogisticPolicy(4)
    assert make_policy(config, env_spec("FrozenLake-v1")) == SoftmaxLinearPolicy(16, 4, bias=False)
    gaussian = GaussianLinearPolicy(3, 1, bias=False)
    assert make_policy(config, PENDULUM) == make_policy(config, env_spec("Pendulum-v1")) == gaussian
    assert make_policy(ReinforceConfig(bias=True), env_spec(BOX)) == GaussianLinearPolicy(2, 1, bias=True)


def test_pgrads_own_box_dynamics_run_fused_with_clipped_actions():
    config = ReinforceConfig(env_id="MountainCarContinuous-v0", episodes_per_update=4)
    state = reinforce.init(config, [np.random.default_rng(0)])
    assert state.dynamics is not None and isinstance(state.policy, GaussianLinearPolicy)
    state.theta[:, -1] = 1.0  # sigma e: actions often outside [-1, 1]
    b = reinforce.sample(config, state, np.array([0])).data[1]
    a = b.act[..., 0][b.alive]
    assert (np.abs(a) > 1).any()  # stored as sampled
    step = b.alive & ~b.terminated
    np.testing.assert_allclose(b.rew[step], -0.1 * np.clip(b.act[..., 0][step], -1, 1) ** 2, rtol=1e-6)
    for kw in (dict(), dict(float32=True, baseline="value")):
        result = train(ReinforceConfig(env_id="Pendulum-v1", episodes_per_update=10, max_episodes=20, lr=0.05,
                                       **kw), (0,))
        assert np.isfinite(result.theta).all() and (result.episodes[0]["length"] == 200).all()


def test_memory_estimate_counts_the_gymnasium_envs(monkeypatch):
    config = ReinforceConfig(env_id=DISCRETE, episodes_per_update=50)
    assert sizes.reinforce_bytes(config, 4) >= 4 * 50 * sizes.GYM_ENV_BYTES
    monkeypatch.setattr(sizes, "machine_memory", lambda: 1 << 30)
    with pytest.raises(ValueError, match="needs about") as e:
        sizes.check_training("reinforce", ReinforceConfig(env_id=DISCRETE, episodes_per_update=10**5), 1)
    assert "\n" not in str(e.value)
    sizes.check_training("reinforce", config, 4)  # a small run fits
