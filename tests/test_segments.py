"""Fixed-length segments with autoreset: continuity, true final observations at truncation and
termination, no reset step ever recorded, per-seed reproducibility, Gymnasium ids and space checks."""

import math

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from pgrad.envs import CARTPOLE
from pgrad.policies import SoftmaxLinearPolicy
from pgrad.policies.gaussian import GaussianLinearPolicy
from pgrad.rollout import (
    DynamicsSegments,
    GymSegments,
    check_spaces,
    env_spec,
    evaluate_env,
    make_segments,
)

POLICY = SoftmaxLinearPolicy(obs_dim=4, num_actions=2)
# pi(left | s) = sigmoid(theta . s) with theta = -100 (0.1, 0.5, 10, 2) balances the pole for 500 steps
KEEP_ALIVE = np.zeros(8)
KEEP_ALIVE[0::2] = -100.0 * np.array([0.1, 0.5, 10.0, 2.0])
THETA_LIMIT = 12 * 2 * math.pi / 360


def rngs(*seeds):
    return [np.random.default_rng(s) for s in seeds]


def check_continuity(seg, reset_bound=0.05):
    """Inside an episode next_obs[t] = obs[t+1]; after an episode's end the next step starts from
    a fresh reset observation; every recorded step is a real transition (CartPole: reward 1)."""
    done = seg.terminated | seg.truncated
    inside = ~done[:-1]
    np.testing.assert_array_equal(seg.next_obs[:-1][inside], seg.obs[1:][inside])
    assert (np.abs(seg.obs[1:][done[:-1]]) <= reset_bound).all()
    final = seg.next_obs[seg.terminated]  # the true terminal observations: out of bounds
    assert ((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > THETA_LIMIT)).all()
    assert (seg.rew == 1.0).all()  # no reset step (reward 0 under next-step autoreset) recorded


def test_fused_segments_shapes_continuity_and_episode_bookkeeping():
    sampler = DynamicsSegments(CARTPOLE, 4, rngs(0, 1))
    theta = POLICY.init(2)
    first, second = sampler.sample(POLICY, theta, 60), sampler.sample(POLICY, theta, 90)
    assert first.obs.shape == first.next_obs.shape == (60, 2, 4, 4)
    assert first.act.shape == first.rew.shape == first.terminated.shape == (60, 2, 4)
    for seg in (first, second):
        check_continuity(seg)
        done = seg.terminated | seg.truncated
        assert [len(r) for r in seg.episode_returns] == list(done.sum(axis=(0, 2)))
        for r, n in zip(seg.episode_returns, seg.episode_lengths, strict=True):
            np.testing.assert_array_equal(r, n)  # reward 1 per step
    np.testing.assert_array_equal(first.next_obs[-1], second.obs[0])  # segments continue episodes
    for s in range(2):  # every step is in a finished episode or in the one still running
        finished = first.episode_lengths[s].sum() + second.episode_lengths[s].sum()
        assert finished + sampler.ep_length[s].sum() == 150 * 4


def test_truncation_keeps_the_true_final_observation_and_both_flags_apart():
    sampler = DynamicsSegments(CARTPOLE, 3, rngs(5))
    seg = sampler.sample(POLICY, KEEP_ALIVE[None], 510)
    assert not seg.terminated.any()
    assert seg.truncated[499].all() and seg.truncated.sum() == 3
    np.testing.assert_array_equal(seg.episode_lengths[0], [500, 500, 500])
    np.testing.assert_array_equal(seg.next_obs[498], seg.obs[499])
    final, restart = seg.next_obs[499], seg.obs[500]  # obs after step 500, then a fresh episode
    assert (np.abs(final - restart) > 0).any(axis=-1).all() and (np.abs(restart) <= 0.05).all()
    state = seg.obs[499].reshape(3, 4).T  # replay the last step: the final obs is its result
    expected, _, _ = CARTPOLE.step(state, seg.act[499, 0])
    np.testing.assert_array_equal(final[0], expected.T)


def test_a_seed_gives_the_same_segments_alone_and_beside_other_seeds():
    batched = DynamicsSegments(CARTPOLE, 8, rngs(3, 0, 7))
    theta = np.stack([KEEP_ALIVE * 0.01, KEEP_ALIVE * 0.02, np.zeros(8)])
    segs = [batched.sample(POLICY, theta, 40) for _ in range(3)]
    for j, s in enumerate((3, 0, 7)):
        alone = DynamicsSegments(CARTPOLE, 8, rngs(s))
        for seg in segs:
            mine = alone.sample(POLICY, theta[j:j + 1], 40)
            for field in ("obs", "act", "rew", "terminated", "truncated", "next_obs"):
                np.testing.assert_array_equal(getattr(seg, field)[:, j], getattr(mine, field)[:, 0])
            np.testing.assert_array_equal(seg.episode_returns[j], mine.episode_returns[0])


def test_gymnasium_path_autoreset_is_never_recorded():
    sampler = GymSegments("CartPole-v1", 4, rngs(0, 1))  # Gymnasium's own CartPoleEnv, not pgrad's
    try:
        seg = sampler.sample(POLICY, POLICY.init(2), 120)
    finally:
        sampler.close()
    assert seg.obs.shape == (120, 2, 4, 4) and (seg.terminated.sum() > 10)
    check_continuity(seg)


def test_gymnasium_box_actions_are_clipped_only_when_sent_and_truncation_bootstraps_from_final_obs():
    policy = GaussianLinearPolicy(obs_dim=3, action_dim=1, init_log_std=math.log(3.0))
    sampler = GymSegments("Pendulum-v1", 2, rngs(7))
    try:
        seg = sampler.sample(policy, policy.init(1), 210)
    finally:
        sampler.close()
    assert seg.act.shape == (210, 1, 2, 1) and (np.abs(seg.act) > 2.0).any()  # unclipped samples
    assert seg.truncated[199].all() and seg.truncated.sum() == 2 and not seg.terminated.any()
    # replay environment 0 by itself: same seed, the clipped actions
    env = gymnasium.make("Pendulum-v1")
    obs, _ = env.reset(seed=int(np.random.default_rng(7).integers(2**31 - 1)))
    np.testing.assert_array_equal(seg.obs[0, 0, 0], obs)
    for t in range(210):
        obs, rew, terminated, truncated, _ = env.step(np.clip(seg.act[t, 0, 0], -2, 2).astype(np.float32))
        assert rew == pytest.approx(seg.rew[t, 0, 0]) and truncated == seg.truncated[t, 0, 0]
        np.testing.assert_array_equal(seg.next_obs[t, 0, 0], obs)  # at t = 199: the true final obs
        if truncated:
            obs, _ = env.reset()
            np.testing.assert_array_equal(seg.obs[t + 1, 0, 0], obs)
    assert not np.array_equal(seg.next_obs[199, 0, 0], seg.obs[200, 0, 0])


def test_pgrad_ids_take_the_fused_path_and_other_ids_gymnasium():
    assert isinstance(make_segments("CartPole-v1", 2, rngs(0)), DynamicsSegments)
    sampler = make_segments("FrozenLake-v1", 3, rngs(0))  # Discrete observations, one-hot
    try:
        assert isinstance(sampler, GymSegments) and sampler.spec.obs_dim == 16
        seg = sampler.sample(SoftmaxLinearPolicy(16, 4), np.zeros((1, 64)), 30)
        assert seg.obs.shape == (30, 1, 3, 16) and (seg.obs.sum(axis=-1) == 1).all()
    finally:
        sampler.close()
    returns = evaluate_env("FrozenLake-v1", SoftmaxLinearPolicy(16, 4), np.zeros((2, 64)), rngs(0, 1), 4)
    assert returns.shape == (2, 4) and set(np.unique(returns)) <= {0.0, 1.0}


@pytest.mark.parametrize("obs_space, act_space, name", [
    (spaces.Dict({"x": spaces.Box(-1, 1, (2,))}), spaces.Discrete(2), "observation space Dict"),
    (spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))), spaces.Discrete(2), "observation space Tuple"),
    (spaces.Box(-1, 1, (3,)), spaces.MultiDiscrete([2, 3]), "action space MultiDiscrete"),
    (spaces.Box(-1, 1, (3,)), spaces.Tuple((spaces.Discrete(2),)), "action space Tuple"),
    (spaces.Box(-1, 1, (3,)), spaces.Dict({"a": spaces.Discrete(2)}), "action space Dict"),
    (spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (2, 2)), "action space Box"),
])
def test_unsupported_spaces_get_a_one_line_error(obs_space, act_space, name):
    with pytest.raises(ValueError, match=f"unsupported {name}") as e:
        check_spaces("Some-v0", obs_space, act_space)
    assert "\n" not in str(e.value)


def test_spaces_are_checked_up_front_for_gymnasium_ids():
    with pytest.raises(ValueError, match="Blackjack-v1: unsupported observation space Tuple"):
        make_segments("Blackjack-v1", 2, rngs(0))
    with pytest.raises(ValueError, match="unknown env 'NoSuchEnv-v0'") as e:
        env_spec("NoSuchEnv-v0")
    assert "\n" not in str(e.value)
    spec = env_spec("Pendulum-v1")
    assert (spec.obs_dim, spec.num_actions, spec.action_low, spec.action_high) == (3, 0, (-2.0,), (2.0,))
