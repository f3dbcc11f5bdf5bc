"""Whole episodes from Gymnasium ids in the Batch layout: masks, flags and padding, transitions
replayed on Gymnasium's own env, per-seed reproducibility, Discrete observations, Box actions,
envs without a time limit, and the REINFORCE estimators on the result."""

import gymnasium
import numpy as np
import pytest

from pgrad import estimators
from pgrad.envs import CARTPOLE
from pgrad.gym_rollout import episode_horizon, gym_rollout
from pgrad.policies import GaussianLinearPolicy, LogisticPolicy, SoftmaxLinearPolicy
from pgrad.rollout import check_spaces, rollout, to_env_action

LOGISTIC = LogisticPolicy(obs_dim=4)
BALANCE = -np.array([0.1, 0.5, 10.0, 2.0])  # pushes toward the pole's lean (as in test_rollout)
SOFTMAX_LAKE = SoftmaxLinearPolicy(obs_dim=16, num_actions=4)
GAUSSIAN = GaussianLinearPolicy(obs_dim=3, action_dim=1)
SOFTMAX_CLIFF = SoftmaxLinearPolicy(obs_dim=48, num_actions=4)

pytestmark = pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")  # Pendulum's Box


def rngs(*seeds):
    return [np.random.default_rng(s) for s in seeds]


def gaussian_theta(S, log_std=1.0):
    """W = 0 and a wide sigma: Pendulum actions often outside [-2, 2]."""
    theta = GAUSSIAN.init(S)
    theta[:, -1] = log_std
    return theta


# env id, policy, theta [S, d] for S seeds, time_limit
CASES = {
    "CartPole-v1": (LOGISTIC, lambda S: np.tile(0.3 * BALANCE, (S, 1)), None),
    "FrozenLake-v1": (SOFTMAX_LAKE, lambda S: SOFTMAX_LAKE.init(S), None),
    "Pendulum-v1": (GAUSSIAN, gaussian_theta, None),
    "CliffWalking-v1": (SOFTMAX_CLIFF, lambda S: SOFTMAX_CLIFF.init(S), 30),
}


def run_case(env_id, seeds, K):
    policy, theta, time_limit = CASES[env_id]
    return gym_rollout(env_id, policy, theta(len(seeds)), rngs(*seeds), K, time_limit=time_limit)


def check_layout(b, S, K, d, action_shape=()):
    """Shapes, alive a prefix of length `lengths`, exactly one end flag on the last alive step,
    padding (last obs, act 0, rew 0) after it, finite numbers."""
    T = b.obs.shape[0]
    assert b.obs.shape == (T, S, K, d) and b.obs.dtype == np.float64
    assert b.act.shape == (T, S, K) + action_shape
    assert b.rew.shape == b.terminated.shape == b.truncated.shape == b.alive.shape == (T, S, K)
    assert b.lengths.shape == (S, K) and T == b.lengths.max()
    np.testing.assert_array_equal(b.alive.sum(axis=0), b.lengths)
    np.testing.assert_array_equal(b.alive, np.arange(T)[:, None, None] < b.lengths[None])
    done = b.terminated | b.truncated
    assert not (done & ~b.alive).any()
    np.testing.assert_array_equal(done.sum(axis=0), np.ones((S, K)))
    last = b.lengths - 1
    s_idx, k_idx = np.arange(S)[:, None], np.arange(K)
    assert done[last, s_idx, k_idx].all()
    pad = ~b.alive
    assert (b.rew[pad] == 0).all() and (b.act[pad] == 0).all()
    last_obs = b.obs[last, s_idx, k_idx]  # [S, K, d]
    np.testing.assert_array_equal(b.obs, np.where(pad[..., None], last_obs[None], b.obs))
    assert np.isfinite(b.obs).all() and np.isfinite(b.rew).all() and np.isfinite(b.act).all()


def test_cartpole_masks_flags_and_returns():
    b = run_case("CartPole-v1", (0, 1, 2), 6)
    check_layout(b, 3, 6, 4)
    np.testing.assert_array_equal(b.rew, b.alive.astype(float))  # reward 1 per step
    np.testing.assert_array_equal(b.episode_returns, b.lengths.astype(float))
    assert b.act.dtype == LOGISTIC.action_dtype and set(np.unique(b.act)) <= {0, 1}
    assert b.lengths.min() < 500 and not b.truncated.any()  # a weak policy: the pole falls


def test_cartpole_time_limit_truncates_at_500():
    b = gym_rollout("CartPole-v1", LOGISTIC, np.tile(100 * BALANCE, (2, 1)), rngs(0, 1), 3)
    check_layout(b, 2, 3, 4)
    assert b.obs.shape[0] == 500 and (b.lengths == 500).all()
    assert b.truncated[499].all() and not b.truncated[:499].any() and not b.terminated.any()


def test_cartpole_returns_match_pgrads_own_rollout_in_distribution():
    """Not bit-equal (other randomness layout) but the same law: mean lengths of a random policy."""
    K = 200
    gym = gym_rollout("CartPole-v1", LOGISTIC, np.zeros((2, 4)), rngs(0, 1), K).lengths
    own = rollout(CARTPOLE, LOGISTIC, np.zeros((2, 4)), rngs(0, 1), K).lengths
    se = np.sqrt(gym.var() / gym.size + own.var() / own.size)
    assert abs(gym.mean() - own.mean()) < 4 * se, (gym.mean(), own.mean(), se)


@pytest.mark.parametrize("env_id", list(CASES))
def test_transitions_replay_on_gymnasiums_own_env(env_id):
    """Episode k of seed s is Gymnasium's env reset with (the seed drawn from rngs[s]) + k, stepped
    with to_env_action of the stored actions: observations, rewards and flags bit for bit."""
    policy, theta, time_limit = CASES[env_id]
    S, K = 2, 3
    b = gym_rollout(env_id, policy, theta(S), rngs(10, 11), K, time_limit=time_limit)
    cap = {"max_episode_steps": time_limit} if time_limit else {}
    env = gymnasium.make(env_id, **cap)
    spec = check_spaces(env_id, env.observation_space, env.action_space)
    one_hot = isinstance(env.observation_space, gymnasium.spaces.Discrete)

    def observe(o):
        return np.eye(spec.obs_dim)[o] if one_hot else np.asarray(o, np.float64).ravel()

    for s in range(S):
        base = int(np.random.default_rng(10 + s).integers(2**31 - 1))  # as GymSegments draws it
        for k in range(K):
            o, _ = env.reset(seed=base + k)
            for t in range(b.lengths[s, k]):
                np.testing.assert_array_equal(b.obs[t, s, k], observe(o))
                a = to_env_action(spec, b.act[t, s, k])
                a = np.asarray(a).astype(env.action_space.dtype)
                o, r, term, trunc, _ = env.step(a if a.ndim else a.item())
                assert (b.rew[t, s, k], b.terminated[t, s, k], b.truncated[t, s, k]) == (r, term, trunc)
    env.close()


@pytest.mark.parametrize("env_id", list(CASES))
def test_a_seed_alone_equals_the_seed_in_a_batch(env_id):
    K = 4
    together = run_case(env_id, (3, 4, 5), K)
    for s, seed in enumerate((3, 4, 5)):
        gens = rngs(seed)
        policy, theta, time_limit = CASES[env_id]
        alone = gym_rollout(env_id, policy, theta(1), gens, K, time_limit=time_limit)
        T = alone.obs.shape[0]
        assert T == together.lengths[s].max()
        for name in ("obs", "act", "rew", "terminated", "truncated", "alive"):
            a, b = getattr(alone, name), getattr(together, name)
            np.testing.assert_array_equal(a[:, 0], b[:T, s], err_msg=name)
            assert b.dtype == a.dtype
        assert not together.alive[T:, s].any()
        np.testing.assert_array_equal(alone.lengths[0], together.lengths[s])
        # the generator is left where the batch left it: later calls agree too
        again = rngs(seed)[0]
        run = gym_rollout(env_id, policy, theta(3), [np.random.default_rng(0), again,
                                                     np.random.default_rng(1)], K, time_limit=time_limit)
        np.testing.assert_array_equal(run.lengths[1], alone.lengths[0])
        assert again.random() == gens[0].random()


def test_greedy_draws_no_action_noise_and_is_deterministic_given_the_resets():
    gens = rngs(7)
    b = gym_rollout("CartPole-v1", LOGISTIC, np.tile(0.3 * BALANCE, (1, 1)), gens, 3, greedy=True)
    check_layout(b, 1, 3, 4)
    reference = np.random.default_rng(7)
    reference.integers(2**31 - 1)  # the reset seed only
    assert gens[0].random() == reference.random()
    np.testing.assert_array_equal(b.act[b.alive], LOGISTIC.mode(np.tile(0.3 * BALANCE, (1, 1)),
                                                                b.obs)[b.alive])


def test_frozen_lake_one_hot_observations_and_softmax_actions():
    b = run_case("FrozenLake-v1", (0, 1), 16)
    check_layout(b, 2, 16, 16)
    assert set(np.unique(b.obs)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b.obs.sum(axis=-1), np.ones(b.obs.shape[:3]))
    assert (b.obs[0, ..., 0] == 1).all()  # every episode starts in state 0
    assert b.act.dtype == SOFTMAX_LAKE.action_dtype and set(np.unique(b.act)) <= {0, 1, 2, 3}
    assert (b.lengths <= episode_horizon("FrozenLake-v1", None)).all()
    assert set(np.unique(b.rew)) <= {0.0, 1.0} and (b.rew[~b.terminated] == 0).all()  # goal only


def test_pendulum_box_actions_unclipped_and_truncated_at_199():
    b = run_case("Pendulum-v1", (0, 1), 4)
    check_layout(b, 2, 4, 3, action_shape=(1,))
    assert b.obs.shape[0] == 200 and (b.lengths == 200).all()
    assert b.truncated[199].all() and not b.truncated[:199].any() and not b.terminated.any()
    assert b.act.dtype == np.float64 and (np.abs(b.act) > 2.0).any()  # stored as sampled
    assert (b.rew <= 0).all() and (b.rew < 0).any()


def test_an_env_without_time_limit_ends_at_the_given_one():
    b = run_case("CliffWalking-v1", (0, 1), 5)
    check_layout(b, 2, 5, 48)
    assert b.obs.shape[0] <= 30 and (b.lengths <= 30).all()
    # a random walk seldom reaches the goal in 30 steps: truncated, by the given time limit
    assert b.truncated[29].any() and not b.truncated[:29].any()
    with pytest.raises(ValueError, match="no time limit") as e:
        gym_rollout("CliffWalking-v1", SOFTMAX_CLIFF, SOFTMAX_CLIFF.init(1), rngs(0), 2)
    assert "\n" not in str(e.value)


def test_episode_horizon():
    assert episode_horizon("CartPole-v1", None) == 500
    assert episode_horizon("CartPole-v1", 30) == 500  # an env with a limit keeps it
    assert episode_horizon("Pendulum-v1", None) == 200
    assert episode_horizon("FrozenLake-v1", None) == 100
    assert episode_horizon("CliffWalking-v1", 30) == 30
    for bad in (None, 0, 2.5, True):
        with pytest.raises(ValueError):
            episode_horizon("CliffWalking-v1", bad)
    with pytest.raises(ValueError, match="unknown env"):
        episode_horizon("NoSuchEnv-v0", None)


def test_bad_inputs_are_one_line_value_errors():
    cases = [
        lambda: gym_rollout("CartPole-v1", LOGISTIC, np.zeros((2, 4)), rngs(0), 2),  # S mismatch
        lambda: gym_rollout("Pendulum-v1", LOGISTIC, np.zeros((1, 3)), rngs(0), 2),  # discrete on Box
        lambda: gym_rollout("CartPole-v1", GaussianLinearPolicy(4, 1), np.zeros((1, 10)), rngs(0), 2),
        lambda: gym_rollout("CartPole-v1", LOGISTIC, np.zeros((1, 4)), rngs(0), 0),
    ]
    for case in cases:
        with pytest.raises(ValueError) as e:
            case()
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "FrozenLake-v1", "CliffWalking-v1"])
@pytest.mark.parametrize("baseline", ["none", "time_mean_loo", "batch_mean_loo"])
def test_reinforce_estimators_run_on_the_batch(env_id, baseline):
    """As algorithms.reinforce.estimate: weights, score_factors, factored gradient -> finite [S, d],
    equal to the gradient from the full score grad_log_prob."""
    policy, theta_of, _ = CASES[env_id]
    theta = theta_of(3)
    b = run_case(env_id, (0, 1, 2), 8)
    w = estimators.weights(b.rew, b.alive, 0.99, "reward_to_go", baseline)
    phi, coef = policy.score_factors(theta, b.obs, b.act)
    g = estimators.factored_policy_gradient(phi, coef, w, b.alive)
    assert g.shape == (3, policy.dim) and np.isfinite(g).all()
    full = estimators.policy_gradient(policy.grad_log_prob(theta, b.obs, b.act), w, b.alive)
    np.testing.assert_allclose(g, full, rtol=1e-10, atol=1e-12)
    if env_id != "FrozenLake-v1":  # FrozenLake's returns are often all 0 (w = 0, g = 0)
        assert np.abs(g).sum() > 0


def test_gaussian_gradient_on_pendulum():
    theta = gaussian_theta(2)  # the theta that sampled the batch
    b = run_case("Pendulum-v1", (0, 1), 4)
    w = estimators.weights(b.rew, b.alive, 0.99, "reward_to_go", "time_mean_loo", True)
    g = estimators.policy_gradient(GAUSSIAN.grad_log_prob(theta, b.obs, b.act), w, b.alive)
    assert g.shape == (2, GAUSSIAN.dim) and np.isfinite(g).all() and np.abs(g).sum() > 0
