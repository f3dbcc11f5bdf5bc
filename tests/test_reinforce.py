"""REINFORCE: it learns, seeds are independent and bit-reproducible, bad configs are refused."""

import numpy as np
import pytest

from pgrad.algorithms.reinforce import ReinforceConfig, train


def test_default_config_solves_cartpole():
    result = train(ReinforceConfig(), seeds=(0,))
    assert result.solved[0]
    returns = result.episodes[0]["return"]
    assert returns[-100:].mean() >= 475
    assert returns[:32].mean() < 100  # it started from a poor policy and learned
    assert result.solved_at_episode[0] == len(returns)


def test_seed_in_batch_gives_bit_identical_metrics_to_seed_alone():
    config = ReinforceConfig(max_episodes=800)
    seeds = (3, 0, 7)
    batched = train(config, seeds)
    for j, s in enumerate(seeds):
        alone = train(config, (s,))
        for key in ("return", "length", "update"):
            assert np.array_equal(alone.episodes[0][key], batched.episodes[j][key]), (s, key)
        assert np.array_equal(alone.theta[0], batched.theta[j])
        assert alone.solved_at_episode[0] == batched.solved_at_episode[j]


def test_each_seed_stops_on_its_own():
    result = train(ReinforceConfig(max_episodes=64, episodes_per_update=32), seeds=(0, 1))
    assert [len(t["return"]) for t in result.episodes] == [64, 64]
    assert not result.solved.any() and (result.solved_at_episode == -1).all()


def test_logger_receives_plain_dicts():
    seen = []
    train(ReinforceConfig(max_episodes=64), seeds=(0,), logger=seen.append)
    assert seen and set(seen[0]) >= {"update", "episodes", "mean_return", "window_mean", "wall"}


@pytest.mark.parametrize("kw, message", [
    (dict(gamma=1.5), r"gamma must be in \[0, 1\]"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(episodes_per_update=0), "episodes_per_update must be a positive integer"),
    (dict(weighting="rtg"), "unknown weighting 'rtg'; accepted: total_return"),
    (dict(env_id="Pong"), "unknown env_id 'Pong'; accepted: .*CartPole-v1"),
])
def test_bad_config_is_refused_in_one_line(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        ReinforceConfig(**kw)
    assert "\n" not in str(e.value)


def test_more_than_two_actions_use_softmax_linear_and_learn():
    result = train(ReinforceConfig(env_id="Acrobot-v1", max_episodes=2000), seeds=(0,))
    returns = result.episodes[0]["return"]
    assert result.solved[0] and returns[-100:].mean() >= -100  # Gymnasium's reward_threshold
    assert returns[:100].mean() < -200


def test_solve_threshold_defaults_to_gymnasium_reward_threshold():
    import gymnasium

    from pgrad.config import solve_threshold
    from pgrad.envs import DYNAMICS, REWARD_THRESHOLDS

    assert set(REWARD_THRESHOLDS) == set(DYNAMICS)
    for env_id, threshold in REWARD_THRESHOLDS.items():
        assert gymnasium.spec(env_id).reward_threshold == threshold
    assert solve_threshold(ReinforceConfig()) == 475.0
    assert solve_threshold(ReinforceConfig(solve_threshold=100.0)) == 100.0
