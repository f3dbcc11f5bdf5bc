"""--float32 for every algorithm on pgrad's own dynamics: single-precision environment states,
the same lifecycle, refused for Gymnasium ids pgrad does not implement."""

import numpy as np
import pytest

from pgrad.algorithms import a2c, ppo, reinforce
from pgrad.cli import main
from pgrad.training import loop


@pytest.mark.parametrize("module, config", [
    (ppo, ppo.PPOConfig(float32=True, max_steps=8192)),
    (a2c, a2c.A2CConfig(float32=True, env_id="Pendulum-v1", max_steps=4096)),
    (reinforce, reinforce.ReinforceConfig(float32=True, max_episodes=300)),
])
def test_float32_trains_on_single_precision_states(module, config):
    state = loop.start("x", module.ALGORITHM, config, [0, 1])
    if module is not reinforce:
        assert state.algo_state.sampler.state.dtype == np.float32
    loop.run(module.ALGORITHM, state)
    result = loop.result(module.ALGORITHM, state)
    assert np.isfinite(result.theta).all() and result.steps.min() > 0
    alone = module.train(config, [1])
    np.testing.assert_array_equal(alone.theta[0], result.theta[1])  # a seed alone = in a batch
    float64 = module.train(config.__class__(**{**config.__dict__, "float32": False}), [1])
    assert not np.array_equal(float64.theta[0], alone.theta[0])  # the flag changes the arithmetic


def test_float32_cli_and_refusal(tmp_path, capsys):
    assert main(["train", "--algo", "ppo", "--float32", "--max-steps", "2048", "--eval-episodes", "2",
                 "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert main(["train", "--algo", "a2c", "--float32", "--env-id", "CliffWalking-v1", "--quiet",
                 "--out", str(tmp_path / "no")]) == 2
    assert "float32 runs pgrad's own environments only" in capsys.readouterr().err
