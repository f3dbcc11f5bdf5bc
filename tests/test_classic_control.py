"""Classic-control dynamics (CartPole, Acrobot, MountainCar, MountainCarContinuous, Pendulum)
against Gymnasium's own single environments, bit for bit, and the vector env's API."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_space_limit, data_equivalence
from gymnasium.utils.passive_env_checker import check_action_space, check_observation_space

import pgrad
from pgrad.envs import DYNAMICS, get_dynamics, make_vec
from pgrad.envs._scalar import pow2
from pgrad.envs.vector import DynamicsVectorEnv
from pgrad.rollout import rollout

ENV_IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
NEW_ENV_IDS = ENV_IDS[1:]

# dtype of Gymnasium's internal state right after reset (Acrobot rounds it to float32)
RESET_STATE_DTYPE = {"Acrobot-v1": np.float32}


def gym_obs(env_id: str, env: gymnasium.Env) -> np.ndarray:
    """The observation Gymnasium's env returns for its current internal state."""
    unwrapped = env.unwrapped
    if env_id == "Acrobot-v1":
        return unwrapped._get_ob()
    if env_id == "Pendulum-v1":
        return unwrapped._get_obs()
    return np.array(unwrapped.state, dtype=np.float32)


def broad_states(env_id: str, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Mid-episode states well beyond the reset distribution, typed as Gymnasium holds them,
    with the edge cases (walls, goals, velocity bounds) that random play rarely reaches."""
    if env_id == "CartPole-v1":
        rows = [np.array([2.39, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.2, 1.0])]
        return rows + list(rng.uniform(-0.2, 0.2, (n - len(rows), 4)))
    if env_id == "Acrobot-v1":  # odd rows float32, as Gymnasium holds a state fresh from reset
        high = np.array([np.pi, np.pi, 4 * np.pi, 9 * np.pi])
        rows = list(rng.uniform(-high, high, (n, 4)))
        return [row.astype(np.float32) if i % 2 else row for i, row in enumerate(rows)]
    if env_id == "Pendulum-v1":
        return list(rng.uniform([-10.0, -8.0], [10.0, 8.0], (n, 2)))
    rows = [np.array([-1.2, -0.01]), np.array([0.49, 0.02]), np.array([0.44, 0.07])]
    rows += list(rng.uniform([-1.2, -0.07], [0.6, 0.07], (n - len(rows), 2)))
    if env_id == "MountainCarContinuous-v0":
        # Gymnasium holds float32 states after a step, float64 ones fresh from reset
        rows = [row.astype(np.float32) if i % 2 == 0 else row for i, row in enumerate(rows)]
    return rows


def sample_actions(env_id: str, venv: DynamicsVectorEnv, rng: np.random.Generator) -> np.ndarray:
    if env_id == "CartPole-v1":  # a balancing heuristic with random flips, to reach the time limit
        x, x_dot, theta, theta_dot = venv.state
        push_right = 3 * theta + theta_dot + 0.05 * x + 0.1 * x_dot > 0
        return (push_right ^ (rng.random(venv.num_envs) < 0.05)).astype(np.int64)
    return random_actions(venv.dynamics, rng, venv.num_envs)


def random_actions(dynamics, rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform discrete actions, or float32 Box actions beyond the bounds and on them."""
    if dynamics.discrete:
        return rng.integers(0, dynamics.num_actions, n)
    low, high = np.array(dynamics.action_low), np.array(dynamics.action_high)
    actions = rng.uniform(1.5 * low, 1.5 * high, (n, dynamics.action_dim))  # clipping included
    bounds = rng.random((n, 1)) < 0.05  # exact bounds: Python's min/max ties
    actions = np.where(bounds, np.where(rng.random((n, 1)) < 0.5, low, high), actions)
    return actions.astype(np.float32)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env_matches_gymnasium_bit_for_bit(env_id):
    rng = np.random.default_rng(2024)
    n_reset, n_broad = 3, 5
    n = n_reset + n_broad
    envs = [gymnasium.make(env_id) for _ in range(n)]
    rows = []
    for i, env in enumerate(envs[:n_reset]):
        env.reset(seed=i)
        rows.append(np.asarray(env.unwrapped.state))
    for env, row in zip(envs[n_reset:], broad_states(env_id, rng, n_broad), strict=True):
        env.reset(seed=0)
        env.unwrapped.state = row.copy()
        rows.append(row)
    venv = make_vec(env_id, n)
    obs, _ = venv.reset(seed=7, options={"state": np.stack(rows).astype(np.float64)})
    for i, env in enumerate(envs):
        assert np.array_equal(obs[i], gym_obs(env_id, env))
    assert venv.observation_space.contains(obs)

    limit = venv.max_episode_steps
    done = np.zeros(n, bool)
    seen_terminated = seen_truncated = seen_autoreset = False
    reset_dtype = RESET_STATE_DTYPE.get(env_id, np.float64)
    for _ in range(limit + 30):
        actions = sample_actions(env_id, venv, rng)
        obs, rew, terminated, truncated, _ = venv.step(actions)
        assert venv.observation_space.contains(obs)
        for i, env in enumerate(envs):
            if done[i]:  # next-step autoreset: restart the reference from pgrad's new state
                env.reset(seed=i)
                env.unwrapped.state = venv.state[:, i].astype(reset_dtype)
                expected = gym_obs(env_id, env), 0.0, False, False
            else:
                action = int(actions[i]) if venv.dynamics.discrete else actions[i]
                expected = env.step(action)[:4]
            assert np.array_equal(obs[i], expected[0]), (env_id, i)
            assert (rew[i], terminated[i], truncated[i]) == expected[1:], (env_id, i)
            assert np.array_equal(np.asarray(env.unwrapped.state, np.float64), venv.state[:, i])
        seen_terminated |= terminated.any()
        seen_truncated |= truncated.any()
        seen_autoreset |= done.any()
        done = terminated | truncated
    assert seen_truncated and seen_autoreset
    assert seen_terminated or env_id == "Pendulum-v1"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_one_step_from_many_states_matches_gymnasium(env_id):
    """Rare paths in bulk: float32 and float64 states as Gymnasium types them, clipped
    actions, walls and goals, and powf's hard cases, one reference step each."""
    rng = np.random.default_rng(99)
    dynamics = get_dynamics(env_id)
    rows = broad_states(env_id, rng, 1500)
    state = np.stack(rows, axis=1).astype(np.float64)
    actions = random_actions(dynamics, rng, len(rows))
    obs_before = dynamics.observe(state).T.astype(np.float32)
    next_state, reward, terminated = dynamics.step(state, actions)
    obs = dynamics.observe(next_state).T.astype(np.float32)
    env = gymnasium.make(env_id).unwrapped
    for i, row in enumerate(rows):
        env.reset(seed=i)  # clears CartPole's steps_beyond_terminated
        env.state = row.copy()
        assert np.array_equal(obs_before[i], gym_obs(env_id, env)), (env_id, i)
        action = int(actions[i]) if dynamics.discrete else actions[i]
        gym_next_obs, gym_reward, gym_terminated, _, _ = env.step(action)
        assert np.array_equal(obs[i], gym_next_obs), (env_id, i)
        assert (reward[i], terminated[i]) == (gym_reward, gym_terminated), (env_id, i)
        assert np.array_equal(np.asarray(env.state, np.float64), next_state[:, i]), (env_id, i)


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")  # Pendulum's own Box
@pytest.mark.parametrize("env_id", NEW_ENV_IDS)
def test_spaces_match_gymnasium(env_id):
    venv = make_vec(env_id, 3)
    env = gymnasium.make(env_id)
    assert venv.single_observation_space == env.observation_space
    assert venv.single_action_space == env.action_space
    for space, kind in [(venv.single_observation_space, "observation"), (venv.single_action_space, "action")]:
        check_space_limit(space, kind)
    check_observation_space(venv.single_observation_space)
    check_action_space(venv.single_action_space)
    assert venv.max_episode_steps == env.spec.max_episode_steps


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_seed_determinism(env_id):
    venv = make_vec(env_id, 4)
    obs_1, _ = venv.reset(seed=123)
    obs_2, _ = venv.reset()
    obs_3, _ = venv.reset(seed=123)
    obs_4, _ = venv.reset()
    for obs in (obs_1, obs_2, obs_3, obs_4):
        assert obs in venv.observation_space
    assert data_equivalence(obs_1, obs_3, exact=True) and data_equivalence(obs_2, obs_4, exact=True)
    assert not np.array_equal(obs_1, obs_2)
    assert not np.array_equal(venv.reset(seed=124)[0], obs_1)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_step_determinism_and_fresh_arrays(env_id):
    venv_a, venv_b = make_vec(env_id, 5), make_vec(env_id, 5)
    venv_a.reset(seed=11)
    venv_b.reset(seed=11)
    venv_a.action_space.seed(3)
    previous = None
    for _ in range(40):
        actions = venv_a.action_space.sample()
        step_a, step_b = venv_a.step(actions), venv_b.step(actions)
        for x, y in zip(step_a[:4], step_b[:4], strict=True):
            assert data_equivalence(x, y, exact=True)
        if previous is not None:
            assert not np.shares_memory(previous, step_a[0])
        previous = step_a[0]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_next_step_autoreset_after_truncation(env_id):
    venv = make_vec(env_id, 3, max_episode_steps=2)
    venv.reset(seed=0)
    venv.action_space.seed(0)
    dynamics = venv.dynamics
    state_after_reset = None
    for t in range(6):
        actions = venv.action_space.sample()
        obs, rew, terminated, truncated, _ = venv.step(actions)
        if t % 3 == 2:  # the step after an ending: first observation of the next episode
            assert not (terminated.any() or truncated.any()) and np.all(rew == 0.0)
            state_after_reset = venv.state.copy()
            assert np.array_equal(obs, dynamics.observe(state_after_reset).T.astype(np.float32))
        elif t % 3 == 1:  # truncated on the last allowed step, unless terminated before
            assert np.all(truncated | terminated) and truncated.any()
    assert state_after_reset is not None


@pytest.mark.parametrize("env_id", NEW_ENV_IDS)
def test_gymnasium_make_vec_reaches_pgrad(env_id):
    venv = gymnasium.make_vec(f"pgrad/{env_id}", 3, vectorization_mode="vector_entry_point")
    assert isinstance(venv, DynamicsVectorEnv) and venv.dynamics is get_dynamics(env_id)
    assert venv.max_episode_steps == gymnasium.spec(env_id).max_episode_steps
    assert venv.spec.id == f"pgrad/{env_id}"
    sync = gymnasium.make_vec(f"pgrad/{env_id}", 2, vectorization_mode="sync")
    assert isinstance(sync, gymnasium.vector.SyncVectorEnv)
    assert sync.single_action_space == venv.single_action_space
    by_module = gymnasium.make_vec(f"pgrad.envs.registration:pgrad/{env_id}", 2)
    assert isinstance(by_module, DynamicsVectorEnv)
    for name in (env_id, f"pgrad/{env_id}"):
        assert isinstance(pgrad.make_vec(name, 2), DynamicsVectorEnv)


def test_import_pgrad_does_not_import_gymnasium():
    code = "import sys, pgrad.envs; assert 'gymnasium' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_input_raises_one_line_value_error():
    cases = []
    acrobot = make_vec("Acrobot-v1", 2)
    pendulum = make_vec("Pendulum-v1", 2)
    acrobot.reset(seed=0)
    pendulum.reset(seed=0)
    cases.append(lambda: acrobot.reset(options={"state": np.zeros((2, 3))}))
    cases.append(lambda: acrobot.step(np.array([0, 3])))
    cases.append(lambda: acrobot.step(np.array([0.0, 1.0])))
    cases.append(lambda: pendulum.step(np.zeros(2)))
    cases.append(lambda: pendulum.step(np.array([[0.0], [np.nan]])))
    cases.append(lambda: pendulum.reset(options={"state": np.zeros((2, 3))}))
    for dynamics in DYNAMICS.values():
        cases.append(lambda d=dynamics: d.reset(np.zeros((d.reset_draws + 1, 3))))
        if dynamics.id != "CartPole-v1":
            cases.append(lambda d=dynamics: d.step(np.zeros((d.state_dim + 1, 3)), np.zeros(3, int)))
    for case in cases:
        with pytest.raises(ValueError) as info:
            case()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("env_id", NEW_ENV_IDS)
def test_pure_step_takes_any_batch_shape(env_id):
    dynamics = get_dynamics(env_id)
    rng = np.random.default_rng(5)
    state = dynamics.reset(rng.random((dynamics.reset_draws, 3, 4)))
    if dynamics.discrete:
        action = rng.integers(0, dynamics.num_actions, (3, 4))
    else:
        action = rng.uniform(-3, 3, (3, 4, dynamics.action_dim)).astype(np.float32)
    for _ in range(3):
        next_state, reward, terminated = dynamics.step(state, action)
        flat = dynamics.step(state.reshape(dynamics.state_dim, 12), action.reshape(12, *action.shape[2:]))
        assert next_state.shape == state.shape and reward.shape == terminated.shape == (3, 4)
        assert np.array_equal(flat[0], next_state.reshape(dynamics.state_dim, 12))
        assert np.array_equal(flat[1], reward.reshape(12)) and np.array_equal(flat[2], terminated.reshape(12))
        assert dynamics.observe(next_state).shape == (dynamics.obs_dim, 3, 4)
        state = next_state


class UniformPolicy:
    """A parameter-free policy: uniformly random actions, to drive the fused rollout."""

    dim = 1

    def __init__(self, dynamics):
        self.dynamics = dynamics
        self.action_shape = () if dynamics.discrete else (dynamics.action_dim,)
        self.action_dtype = np.int64 if dynamics.discrete else np.float64

    def noise(self, rng, shape):
        return rng.random(shape + self.action_shape)

    def act(self, theta, obs, noise):
        if self.dynamics.discrete:
            return np.floor(noise * self.dynamics.num_actions).astype(np.int64)
        low, high = np.array(self.dynamics.action_low), np.array(self.dynamics.action_high)
        return low + (high - low) * noise


@pytest.mark.parametrize("env_id", NEW_ENV_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_rollout_runs(env_id, dtype):
    dynamics = get_dynamics(env_id)
    rngs = [np.random.default_rng(s) for s in range(2)]
    batch = rollout(dynamics, UniformPolicy(dynamics), np.zeros((2, 1)), rngs, 3, dtype=dtype,
                    max_steps=50)
    assert batch.obs.shape[1:] == (2, 3, dynamics.obs_dim)
    assert np.isfinite(batch.rew).all() and (batch.lengths <= 50).all()


@pytest.mark.parametrize("env_id", NEW_ENV_IDS)
def test_float32_mode_runs(env_id):
    venv = make_vec(env_id, 4, dtype=np.float32)
    obs, _ = venv.reset(seed=1)
    for _ in range(20):
        obs, rew, terminated, truncated, _ = venv.step(venv.action_space.sample())
        assert obs in venv.observation_space and venv.state.dtype == np.float32


def test_pow2_equals_numpy_scalar_power():
    rng = np.random.default_rng(9)
    x32 = np.concatenate([
        rng.uniform(-2, 2, 20000),
        rng.uniform(0.5, 1, 20000) * 2.0 ** rng.integers(-70, 70, 20000),
        1 + np.arange(-300, 300) * 2.0**-12,  # squares on float32 rounding midpoints
        [0.0, -0.0, 1e-30, 3e38],
    ]).astype(np.float32)
    with np.errstate(over="ignore"):
        expected32 = np.array([value**2 for value in x32], np.float32)
    assert np.array_equal(pow2(x32), expected32)
    x64 = np.concatenate([rng.uniform(-30, 30, 20000), rng.standard_normal(20000) * 1e-5])
    assert np.array_equal(pow2(x64), np.array([value**2 for value in x64]))
