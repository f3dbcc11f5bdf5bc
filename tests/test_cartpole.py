"""CartPole-v1: pgrad's numpy dynamics against Gymnasium's own single environment."""

import gymnasium as gym
import numpy as np
import pytest

import pgrad
from pgrad.envs import CARTPOLE, cartpole


def _side_by_side(num_envs, steps, seed, action_rule):
    rng = np.random.default_rng(seed)
    venv = pgrad.make_vec("CartPole-v1", num_envs)
    init = rng.uniform(-0.05, 0.05, (num_envs, 4))
    venv.reset(options={"state": init})
    refs = [gym.make("CartPole-v1") for _ in range(num_envs)]
    for env, s in zip(refs, init, strict=True):
        env.reset(seed=0)
        env.unwrapped.state = s.copy()
    ended_at = np.full(num_envs, -1)
    for t in range(steps):
        actions = action_rule(rng, t, num_envs)
        obs, rew, term, trunc, _ = venv.step(actions)
        for i, env in enumerate(refs):
            if ended_at[i] >= 0:
                continue
            o, r, te, tr, _ = env.step(int(actions[i]))
            assert np.array_equal(env.unwrapped.state, venv.state[:, i]), (t, i)
            assert np.array_equal(o, obs[i]) and r == rew[i]
            assert (te, tr) == (term[i], trunc[i]), (t, i)
            if te or tr:
                ended_at[i] = t
    return ended_at


@pytest.mark.parametrize(
    "rule",
    [
        lambda rng, t, n: rng.integers(0, 2, n),
        lambda rng, t, n: np.full(n, t % 2),
        lambda rng, t, n: np.full(n, (t // 7) % 2),
        lambda rng, t, n: np.zeros(n, int),
    ],
    ids=["random", "alternate", "blocks", "always-left"],
)
def test_bit_exact_against_gymnasium(rule):
    ended_at = _side_by_side(32, 120, seed=1, action_rule=rule)
    assert (ended_at >= 0).all()  # every episode reached its termination, checked bit for bit


def test_bit_exact_through_truncation_at_500():
    # A balancing controller keeps the pole up: both reach the time limit on the same step.
    rng = np.random.default_rng(3)
    venv = pgrad.make_vec("CartPole-v1", 4)
    init = rng.uniform(-0.05, 0.05, (4, 4))
    venv.reset(options={"state": init})
    refs = [gym.make("CartPole-v1") for _ in range(4)]
    for env, s in zip(refs, init, strict=True):
        env.reset(seed=0)
        env.unwrapped.state = s.copy()
    gains = np.array([0.1, 0.5, 10.0, 2.0])
    for _ in range(500):
        actions = (venv.state.T @ gains > 0).astype(int)
        obs, rew, term, trunc, _ = venv.step(actions)
        for i, env in enumerate(refs):
            o, r, te, tr, _ = env.step(int(actions[i]))
            assert np.array_equal(o, obs[i]) and (te, tr) == (term[i], trunc[i])
    assert trunc.all() and not term.any()  # the 500th step: both truncated together


def test_pure_step_matches_on_random_states():
    rng = np.random.default_rng(7)
    states = rng.uniform(-0.3, 0.3, (4, 500))
    actions = rng.integers(0, 2, 500)
    nxt, rew, term = cartpole.step(states, actions)
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    for i in range(500):
        env.state = states[:, i].copy()
        env.steps_beyond_terminated = None
        _, r, te, _, _ = env.step(int(actions[i]))
        assert np.array_equal(env.state, nxt[:, i]) and r == rew[i] and te == term[i]


def test_next_step_autoreset():
    venv = pgrad.make_vec("CartPole-v1", 2)
    venv.reset(seed=0, options={"state": np.array([[0, 0, 0.2, 2.0], [0, 0, 0, 0]])})
    _, _, term, _, _ = venv.step(np.array([1, 0]))
    assert term.tolist() == [True, False]
    obs, rew, term, trunc, _ = venv.step(np.array([1, 0]))
    assert rew[0] == 0.0 and not term[0] and not trunc[0]
    assert np.all(np.abs(obs[0]) <= 0.05)  # the first observation of a fresh episode
    assert venv.observation_space.contains(obs)


def test_reset_seed_is_reproducible():
    a, _ = pgrad.make_vec("CartPole-v1", 8).reset(seed=42)
    b, _ = pgrad.make_vec("CartPole-v1", 8).reset(seed=42)
    c, _ = pgrad.make_vec("CartPole-v1", 8).reset(seed=43)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (8, 4)


def test_float32_mode_tracks_float64():
    rng = np.random.default_rng(0)
    s64 = rng.uniform(-0.05, 0.05, (4, 256))
    s32 = s64.astype(np.float32)
    for t in range(50):
        a = rng.integers(0, 2, 256)
        s64, _, term64 = CARTPOLE.step(s64, a)
        s32, _, term32 = CARTPOLE.step(s32, a)
        assert s32.dtype == np.float32
        # float32 rounding (about 6e-8 relative) compounds through the unstable dynamics.
        np.testing.assert_allclose(s32, s64, rtol=0, atol=1e-4 * (1 + t))
    venv = pgrad.make_vec("CartPole-v1", 3, dtype=np.float32)
    venv.reset(seed=0)
    assert venv.step(np.array([0, 1, 0]))[0].dtype == np.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda v: v.reset(options={"state": np.zeros((3, 4))}), "shape"),
        (lambda v: v.step(np.array([0, 2])), "actions"),
        (lambda v: v.step(np.array([0])), "actions"),
    ],
)
def test_bad_input_one_line_errors(call, message):
    venv = pgrad.make_vec("CartPole-v1", 2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=message) as e:
        call(venv)
    assert "\n" not in str(e.value)


def test_unknown_env_names_accepted_ids():
    with pytest.raises(ValueError, match="accepted: CartPole-v1"):
        pgrad.envs.get_dynamics("CartPole-v9")
