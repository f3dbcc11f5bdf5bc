"""Environment inputs that used to slip through: DynamicsVectorEnv reset options (unknown keys,
non-finite or complex states), ``module:id`` ids (Gymnasium's import-then-look-up convention),
and a cap on the episode length of Gymnasium ids without a time limit of their own
(CliffWalking-v1), in training and evaluation."""

import dataclasses

import numpy as np
import pytest

from pgrad import envs
from pgrad.algorithms import a2c, ppo
from pgrad.config import solve_threshold
from pgrad.envs import CARTPOLE, get_dynamics, reward_threshold
from pgrad.envs.vector import DynamicsVectorEnv
from pgrad.policies import SoftmaxLinearPolicy
from pgrad.rollout import DynamicsSegments, _make_gym_vec, env_spec, evaluate_env, make_segments

MODULE_ID = "pgrad.envs.registration:pgrad/CartPole-v1"
UP = 0  # CliffWalking-v1: from the start (bottom left) "up" climbs to the top row and stays there


def rngs(*seeds):
    return [np.random.default_rng(s) for s in seeds]


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- DynamicsVectorEnv.reset(options=...) -------------------------------------------------------

@pytest.mark.parametrize("options, unknown", [
    ({"low": -0.01}, "'low'"),
    ({"high": 0.01}, "'high'"),
    ({"sate": np.zeros((2, 4))}, "'sate'"),
    ({"state": np.zeros((2, 4)), "low": -0.01, "high": 0.01}, "'low', 'high'"),
])
def test_reset_refuses_unknown_option_keys(options, unknown):
    venv = DynamicsVectorEnv(CARTPOLE, 2)
    with pytest.raises(ValueError, match="unknown reset option") as e:
        venv.reset(seed=0, options=options)
    assert unknown in one_line(e) and "accepted: state" in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_reset_refuses_non_finite_states(bad):
    state = np.zeros((2, 4))
    state[1, 2] = bad
    with pytest.raises(ValueError, match=r"options\['state'\] must be finite") as e:
        DynamicsVectorEnv(CARTPOLE, 2).reset(options={"state": state})
    one_line(e)


def test_reset_refuses_states_that_overflow_float32():
    state = np.full((2, 4), 1e300)
    with pytest.raises(ValueError, match=r"options\['state'\] must be finite") as e:
        DynamicsVectorEnv(CARTPOLE, 2, dtype=np.float32).reset(options={"state": state})
    one_line(e)


@pytest.mark.parametrize("state", [
    np.zeros((2, 4), complex),  # even with zero imaginary parts: never cast silently
    np.full((2, 4), 0.01 + 0.5j),
    np.full((2, 4), "0.0"),
    np.full((2, 4), None, dtype=object),
    np.zeros((2, 4), bool),
])
def test_reset_refuses_complex_and_non_numeric_states(state):
    with pytest.raises(ValueError, match=r"options\['state'\] must hold real numbers") as e:
        DynamicsVectorEnv(CARTPOLE, 2).reset(options={"state": state})
    one_line(e)


def test_reset_still_accepts_a_finite_state_and_no_options():
    venv = DynamicsVectorEnv(CARTPOLE, 2)
    obs, _ = venv.reset(options={"state": [[0, 0, 0.1, 0], [0.01, 0, 0, 0]]})
    np.testing.assert_array_equal(obs, np.float32([[0, 0, 0.1, 0], [0.01, 0, 0, 0]]))
    assert venv.reset(seed=0, options=None)[0].shape == venv.reset(seed=0, options={})[0].shape == (2, 4)


# --- module:id ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", [MODULE_ID, "pgrad.envs.registration:CartPole-v1",
                                    "gymnasium.envs.classic_control:CartPole-v1"])
def test_module_ids_of_pgrad_envs_map_to_pgrad_dynamics(env_id):
    assert get_dynamics(env_id) is CARTPOLE
    assert reward_threshold(env_id) == 475.0
    assert env_spec(env_id) == env_spec("CartPole-v1")
    assert isinstance(make_segments(env_id, 2, rngs(0)), DynamicsSegments)
    assert type(envs.make_vec(env_id, 2)) is DynamicsVectorEnv


def test_module_ids_of_other_envs_import_the_module_then_look_up_the_id():
    assert reward_threshold("gymnasium.envs.toy_text:FrozenLake-v1") == 0.7
    assert reward_threshold("gymnasium.envs.toy_text:CliffWalking-v1") is None
    assert env_spec("gymnasium.envs.toy_text:FrozenLake-v1").obs_dim == 16


@pytest.mark.parametrize("call", [reward_threshold, get_dynamics, env_spec])
def test_module_that_cannot_be_imported_is_one_line_error(call):
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'") as e:
        call("no_such_module_xyz:CartPole-v1")
    assert "no_such_module_xyz:CartPole-v1" in one_line(e)


def test_unknown_id_behind_a_module_is_one_line_error():
    with pytest.raises(ValueError, match="unknown env 'gymnasium.envs.toy_text:NoSuchEnv-v0'") as e:
        reward_threshold("gymnasium.envs.toy_text:NoSuchEnv-v0")
    one_line(e)


def test_evaluation_with_a_module_id_equals_the_plain_id():
    policy, theta = SoftmaxLinearPolicy(4, 2), np.zeros((2, 8))
    np.testing.assert_array_equal(evaluate_env(MODULE_ID, policy, theta, rngs(0, 1), 3),
                                  evaluate_env("CartPole-v1", policy, theta, rngs(0, 1), 3))


@pytest.mark.parametrize("module, Config", [(ppo, ppo.PPOConfig), (a2c, a2c.A2CConfig)])
def test_actor_critic_trains_on_a_module_id(module, Config):
    config = Config(env_id=MODULE_ID, max_steps=2048)
    assert solve_threshold(config) == 475.0
    result = module.train(config, [0])
    plain = module.train(dataclasses.replace(config, env_id="CartPole-v1"), [0])
    np.testing.assert_array_equal(result.theta, plain.theta)
    assert module.evaluate(config, result.theta, [0], 2).shape == (1, 2)


# --- time limit for Gymnasium ids without one ---------------------------------------------------

@pytest.mark.parametrize("Config", [ppo.PPOConfig, a2c.A2CConfig])
def test_time_limit_field_follows_max_steps_and_defaults_to_1000(Config):
    names = [f.name for f in dataclasses.fields(Config)]
    assert names[names.index("max_steps") + 1] == "time_limit"
    assert Config().time_limit == 1000


@pytest.mark.parametrize("Config", [ppo.PPOConfig, a2c.A2CConfig])
@pytest.mark.parametrize("bad, message", [
    (0, "a positive integer"), (-5, "a positive integer"), (2.5, ""), (True, ""), ("50", ""),
])
def test_time_limit_must_be_a_positive_integer(Config, bad, message):
    with pytest.raises(ValueError, match=f"time_limit must be {message}") as e:
        Config(time_limit=bad)
    one_line(e)
    with pytest.raises(ValueError, match="time_limit must be a positive integer"):
        _make_gym_vec("CliffWalking-v1", 1, time_limit=bad)


def test_gym_vec_gets_the_cap_only_without_a_time_limit_of_its_own():
    cliff = _make_gym_vec("CliffWalking-v1", 2, time_limit=7)
    cliff.reset(seed=0)
    truncated = [cliff.step(np.full(2, UP))[3] for _ in range(7)]
    assert not np.any(truncated[:6]) and truncated[6].all()
    car = _make_gym_vec("MountainCar-v0", 1, time_limit=7)  # keeps its own limit of 200 steps
    car.reset(seed=0)
    assert not any(car.step(np.ones(1, int))[3].any() for _ in range(20))
    uncapped = _make_gym_vec("CliffWalking-v1", 1)
    uncapped.reset(seed=0)
    assert not any(uncapped.step(np.full(1, UP))[3].any() for _ in range(1100))


def test_segments_of_an_env_without_a_time_limit_are_truncated_at_the_cap():
    sampler = make_segments("CliffWalking-v1", 3, rngs(0, 1), time_limit=10)
    policy = SoftmaxLinearPolicy(48, 4)
    # the goal is 13 steps away, so every episode runs into the cap
    segment = sampler.sample(policy, np.zeros((2, policy.dim)), 25)
    sampler.close()
    assert not segment.terminated.any()
    assert segment.truncated[[9, 19]].all() and segment.truncated.sum() == 2 * 2 * 3
    assert all((lengths == 10).all() and len(lengths) == 6 for lengths in segment.episode_lengths)


def test_greedy_evaluation_that_never_reaches_the_goal_ends_at_the_time_limit():
    policy = SoftmaxLinearPolicy(48, 4)
    theta = np.zeros((2, policy.dim))  # ties: the greedy action is the first, "up", forever
    returns = evaluate_env("CliffWalking-v1", policy, theta, rngs(0, 1), 3, greedy=True, time_limit=50)
    np.testing.assert_array_equal(returns, np.full((2, 3), -50.0))  # reward -1 per step


def test_time_limit_leaves_pgrad_dynamics_alone():
    policy, theta = SoftmaxLinearPolicy(4, 2), np.zeros((1, 8))
    np.testing.assert_array_equal(
        evaluate_env("CartPole-v1", policy, theta, rngs(0), 4, time_limit=3),
        evaluate_env("CartPole-v1", policy, theta, rngs(0), 4))


def test_ppo_on_cliff_walking_trains_and_its_greedy_evaluation_returns():
    config = ppo.PPOConfig(env_id="CliffWalking-v1", max_steps=4096, num_envs=8, num_steps=16,
                           minibatch_size=128, time_limit=200)
    result = ppo.train(config, [0])
    assert result.steps[0] == 4096 and np.isfinite(result.theta).all()
    assert result.episodes[0]["length"].max() == 200  # some episodes ran into the cap
    returns = ppo.evaluate(dataclasses.replace(config, time_limit=50), result.theta, [0], 2, greedy=True)
    assert returns.shape == (1, 2) and np.isfinite(returns).all()
    greedy = evaluate_env("CliffWalking-v1", ppo.make_policy(config, env_spec("CliffWalking-v1")),
                          result.theta, rngs(0), 2, greedy=True, time_limit=50)
    assert greedy.shape == (1, 2) and (greedy >= -100 * 50).all()
