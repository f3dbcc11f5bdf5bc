"""The replay buffer and the off-policy targets: hand-computed TD targets at termination and at
truncation, the true final observation stored at the time limit, the ring buffer, per-seed
minibatches, Polyak averaging."""

import numpy as np
import pytest

from pgrad.algorithms import offpolicy as off
from pgrad.algorithms.td3 import ALGORITHM as TD3
from pgrad.algorithms.td3 import TD3Config
from pgrad.replay import ReplayBuffer, polyak, soft_td_target, td_target
from pgrad.training import loop


def test_td_target_bootstraps_at_truncation_and_not_at_termination():
    # three transitions: inside an episode, terminated, truncated (time limit)
    rew = np.array([1.0, 2.0, 3.0])
    terminated = np.array([False, True, False])
    next_q = np.array([10.0, 10.0, 10.0])
    y = td_target(rew, terminated, next_q, 0.9)
    np.testing.assert_array_equal(y, [1.0 + 9.0, 2.0, 3.0 + 9.0])


def test_soft_td_target_by_hand():
    # y = r + gamma (1 - d) (min Q' - alpha log pi'): 1 + 0.5 (4 - 0.2 * -2) = 3.2; terminated: 2
    y = soft_td_target(np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([4.0, 4.0]),
                       np.array([-2.0, -2.0]), 0.2, 0.5)
    np.testing.assert_allclose(y, [3.2, 2.0], rtol=0, atol=1e-15)


def test_td_target_from_the_buffer_of_a_terminated_and_a_truncated_transition():
    buffer = ReplayBuffer(1, 4, 1, 1)
    obs = np.array([[[0.0], [1.0]]])
    next_obs = np.array([[[5.0], [7.0]]])  # true final observations, not the reset ones
    buffer.add(np.array([0]), obs, np.zeros((1, 2, 1)), np.array([[1.0, 2.0]]), next_obs,
               np.array([[True, False]]), np.array([[False, True]]))
    batch = buffer.take(np.array([0]), np.array([[0, 1]]))
    np.testing.assert_array_equal(batch.next_obs[..., 0], [[5.0, 7.0]])
    next_q = 3.0 * batch.next_obs[..., 0]  # Q'(s', a') = 3 s'
    y = td_target(batch.rew, batch.terminated, next_q, 0.5)
    np.testing.assert_array_equal(y, [[1.0, 2.0 + 0.5 * 21.0]])
    assert batch.truncated.tolist() == [[False, True]]


def test_ring_buffer_overwrites_the_oldest_rows_per_seed():
    buffer = ReplayBuffer(2, 3, 1, 1)
    for k in range(2):
        x = np.full((1, 2, 1), float(k))
        buffer.add(np.array([1]), x, x, np.full((1, 2), float(k)), x, np.zeros((1, 2), bool),
                   np.zeros((1, 2), bool))
    assert buffer.pos.tolist() == [0, 1] and buffer.size.tolist() == [0, 3]
    assert buffer.rew[1].tolist() == [1.0, 0.0, 1.0]  # row 0 overwritten by the second add
    with pytest.raises(ValueError, match="empty replay buffer"):
        buffer.draw(np.array([0]), [np.random.default_rng(0)], (2,))


def test_minibatch_rows_of_a_seed_are_the_same_alone_and_beside_others():
    buffer = ReplayBuffer(3, 10, 1, 1)
    buffer.size[:] = [10, 7, 4]
    together = buffer.draw(np.arange(3), [np.random.default_rng(s) for s in range(3)], (2, 5))
    alone = buffer.draw(np.array([1]), [np.random.default_rng(1)], (2, 5))
    np.testing.assert_array_equal(together[1], alone[0])
    assert together.shape == (3, 2, 5) and together[2].max() < 4


def test_polyak_by_hand_numpy_and_torch():
    torch = pytest.importorskip("torch")
    target, online = np.array([1.0, 2.0]), np.array([3.0, 6.0])
    np.testing.assert_allclose(polyak(target, online, 0.25), [1.5, 3.0])
    np.testing.assert_array_equal(polyak(target, online, 1.0), online)
    out = polyak(torch.tensor(target), torch.tensor(online), 0.25)
    np.testing.assert_allclose(out.numpy(), [1.5, 3.0])


def test_the_sampler_stores_the_true_final_observation_at_the_time_limit():
    """Pendulum truncates after 200 steps: that row is truncated (never terminated), its s' is the
    pendulum's last observation, and the next row starts from the reset observation."""
    pytest.importorskip("torch")
    config = TD3Config(net_arch="8", max_steps=400, learning_starts=1000, batch_size=4)
    state = loop.start("td3", TD3, config, (0,))
    for _ in range(201):
        off.sample(config, state.algo_state, np.array([0]))
    buffer = state.algo_state.buffer
    assert not buffer.terminated[0, :201].any()
    assert np.flatnonzero(buffer.truncated[0, :201]).tolist() == [199]
    # inside an episode s' of row t is s of row t + 1; at the time limit it is not the reset one
    np.testing.assert_array_equal(buffer.next_obs[0, :199], buffer.obs[0, 1:200])
    assert not np.array_equal(buffer.next_obs[0, 199], buffer.obs[0, 200])
    # the final observation follows from the last one: |theta_dot' - theta_dot| <= (15 + 3 * 2) * 0.05
    assert abs(buffer.next_obs[0, 199, 2] - buffer.obs[0, 199, 2]) <= 1.05 + 1e-6
