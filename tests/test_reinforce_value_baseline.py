"""REINFORCE with a learned value baseline (``--baseline value``): it learns, and seeds stay independent."""

import numpy as np

from pgrad.algorithms.reinforce import ReinforceConfig, train


def test_value_baseline_solves_cartpole():
    result = train(ReinforceConfig(baseline="value"), seeds=(0,))
    assert result.solved[0] and result.episodes[0]["return"][-100:].mean() >= 475


def test_value_baseline_seed_in_batch_is_bit_identical_to_seed_alone():
    config = ReinforceConfig(baseline="value", max_episodes=300)
    batched = train(config, (3, 0))
    for j, s in enumerate((3, 0)):
        alone = train(config, (s,))
        np.testing.assert_array_equal(alone.theta[0], batched.theta[j])
        np.testing.assert_array_equal(alone.episodes[0]["return"], batched.episodes[j]["return"])


def test_value_baseline_learns_where_the_first_unbaselined_step_used_to_stall():
    # Acrobot's -1 per step gives every failed episode the same returns: without a fitted V in
    # the first update the step is pure noise and can freeze the policy; the warm start fixes it.
    result = train(ReinforceConfig(env_id="Acrobot-v1", baseline="value", max_episodes=2000), seeds=(0,))
    assert result.solved[0]
