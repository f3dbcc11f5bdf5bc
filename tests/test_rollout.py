"""The lockstep rollout: shapes, masks, flags, and per-seed reproducibility."""

import numpy as np
import pytest

import pgrad.rollout.episodes
from pgrad.envs import CARTPOLE
from pgrad.policies import LogisticPolicy
from pgrad.rollout import rollout

POLICY = LogisticPolicy(obs_dim=4)
BALANCE = -np.array([0.1, 0.5, 10.0, 2.0])  # pushes toward the pole's lean: near-perfect control


def test_batch_shapes_masks_and_lengths():
    theta = np.zeros((3, 4))
    rngs = [np.random.default_rng(s) for s in range(3)]
    b = rollout(CARTPOLE, POLICY, theta, rngs, 5)
    T = b.obs.shape[0]
    assert b.obs.shape == (T, 3, 5, 4) and b.act.shape == b.rew.shape == b.alive.shape == (T, 3, 5)
    assert T == b.lengths.max()
    # alive is a prefix of each episode; rewards are 1 exactly on alive steps
    assert np.array_equal(b.alive.sum(axis=0), b.lengths)
    assert np.array_equal(b.alive, np.arange(T)[:, None, None] < b.lengths[None])
    assert np.array_equal(b.rew, b.alive.astype(float))
    assert np.array_equal(b.episode_returns, b.lengths.astype(float))
    # random policy: every episode terminated (never truncated), on its last step only
    assert np.array_equal(b.terminated.sum(axis=0), np.ones((3, 5)))
    last = b.lengths - 1
    assert b.terminated[last, np.arange(3)[:, None], np.arange(5)].all()
    assert not b.truncated.any()


def test_observations_follow_the_dynamics():
    b = rollout(CARTPOLE, POLICY, np.zeros((1, 4)), [np.random.default_rng(0)], 2)
    for k in range(2):
        for t in range(b.lengths[0, k] - 1):
            state = np.ascontiguousarray(b.obs[t, 0, k])[:, None]
            nxt, _, _ = CARTPOLE.step(state, b.act[t, 0, k : k + 1])
            assert np.array_equal(nxt[:, 0], b.obs[t + 1, 0, k])


def test_truncation_at_the_time_limit_keeps_flags_apart():
    b = rollout(CARTPOLE, POLICY, BALANCE[None] * 100, [np.random.default_rng(0)], 4)
    assert b.obs.shape[0] == 500 and (b.lengths == 500).all()
    assert b.truncated[-1].all() and not b.truncated[:-1].any()
    assert not b.terminated.any()


@pytest.mark.parametrize("compact_min", [1, 10**9], ids=["compacting", "never-compacting"])
def test_seed_in_batch_equals_seed_alone(monkeypatch, compact_min):
    monkeypatch.setattr(pgrad.rollout.episodes, "COMPACT_MIN", compact_min)  # read where defined
    rng = np.random.default_rng(9)
    theta = rng.normal(size=(4, 4)) * 5
    batched = rollout(CARTPOLE, POLICY, theta, [np.random.default_rng(s) for s in range(4)], 6)
    for s in range(4):
        alone = rollout(CARTPOLE, POLICY, theta[s : s + 1], [np.random.default_rng(s)], 6)
        T = alone.obs.shape[0]
        alive = alone.alive[:, 0]
        assert np.array_equal(alone.alive[:, 0], batched.alive[:T, s])
        assert np.array_equal(alone.obs[:, 0][alive], batched.obs[:T, s][alive])
        assert np.array_equal(alone.act[:, 0][alive], batched.act[:T, s][alive])
        assert np.array_equal(alone.lengths[0], batched.lengths[s])
        assert not batched.alive[T:, s].any()


def test_greedy_rollout_is_deterministic_given_start_states():
    theta = BALANCE[None] * 3
    a = rollout(CARTPOLE, POLICY, theta, [np.random.default_rng(1)], 3, greedy=True)
    b = rollout(CARTPOLE, POLICY, theta, [np.random.default_rng(1)], 3, greedy=True)
    assert np.array_equal(a.act, b.act)
    z = POLICY.logits(theta, a.obs)
    assert np.array_equal(a.act[a.alive], (z[a.alive] <= 0).astype(np.int8))


def test_float32_rollout_runs_in_single_precision():
    b = rollout(CARTPOLE, POLICY, BALANCE[None] * 100, [np.random.default_rng(0)], 8, dtype=np.float32)
    assert b.obs.dtype == np.float32 and (b.lengths == 500).all()


def test_noise_drawn_in_pieces_is_the_stream_of_one_call():
    from pgrad.rollout import draw_noise

    _, noise, _ = draw_noise(CARTPOLE, POLICY, [np.random.default_rng(5)], 7, 100)
    rng = np.random.default_rng(5)
    rng.random((4, 7))  # the reset draws come first
    assert np.array_equal(noise[:, 0], POLICY.noise(rng, (100, 7)))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"])
def test_noise_drawn_on_threads_is_each_seeds_own_stream(monkeypatch, env_id):
    """Seeds draw on several threads in large batches (here: in every batch); each seed's numbers are
    those it draws alone, and so the same for every thread count."""
    from pgrad.algorithms.reinforce import ReinforceConfig, make_policy
    from pgrad.envs import get_dynamics
    from pgrad.rollout import draw_noise, threads

    dynamics = get_dynamics(env_id)
    policy = make_policy(ReinforceConfig(env_id=env_id), dynamics)
    monkeypatch.setattr(pgrad.rollout.episodes, "PARALLEL_DRAWS", 1)

    def draws(seeds):
        rngs = [np.random.default_rng([7, j]) for j in seeds]
        reset, noise, step = draw_noise(dynamics, policy, rngs, 3, 40)
        return [(reset[:, i].copy(), noise[:, i].copy(), None if step is None else step[:, :, i].copy())
                for i in range(len(seeds))]

    alone = [draws([j])[0] for j in range(5)]
    for n in ("1", "2", "3"):
        monkeypatch.setenv(threads.THREADS_VAR, n)
        for j, batched in enumerate(draws(range(5))):
            for x, y in zip(batched, alone[j], strict=True):
                assert (x is None and y is None) or (x.tobytes() == y.tobytes()), (n, j)
