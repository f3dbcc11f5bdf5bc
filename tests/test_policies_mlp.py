"""MLP policies and value function: the numpy and torch forward passes agree, the autograd score
matches finite differences, sampling follows the probabilities, and pgrad works without torch."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pgrad.policies.mlp import MLP, MLPCategoricalPolicy, MLPGaussianPolicy
from pgrad.values import MLPValue

RNG = np.random.default_rng(0)


def rngs(n):
    return [np.random.default_rng(100 + i) for i in range(n)]


def test_orthogonal_initialisation_and_layout():
    net = MLP((4, 8, 3), out_gain=0.5)
    params = net.init(rngs(2))
    assert params.shape == (2, net.dim) and net.dim == 5 * 8 + 9 * 3
    W1, b1 = net.layers(params[0])[0]
    np.testing.assert_allclose(W1 @ W1.T, 2.0 * np.eye(4), atol=1e-12)  # gain sqrt 2, orthonormal rows
    W2, _ = net.layers(params[0])[1]
    np.testing.assert_allclose(W2.T @ W2, 0.25 * np.eye(3), atol=1e-12)
    assert not b1.any()
    np.testing.assert_array_equal(net.init(rngs(1))[0], params[0])  # the same generator, the same draw


def test_init_needs_a_generator_per_seed():
    policy = MLPCategoricalPolicy(4, 2)
    with pytest.raises(ValueError, match="pass rng"):
        policy.init(2)
    with pytest.raises(ValueError, match="one generator per seed"):
        policy.init(3, rng=rngs(2))


@pytest.mark.parametrize("policy", [MLPCategoricalPolicy(3, 4, (8, 8)), MLPGaussianPolicy(3, 2, (8,))])
def test_numpy_and_torch_forward_passes_agree(policy):
    torch = pytest.importorskip("torch")
    theta = policy.init(2, rng=rngs(2))
    obs = RNG.normal(size=(2, 5, 3))
    act = policy.sample(theta, obs, RNG)
    logp_t = policy.torch_log_prob(torch.from_numpy(theta), torch.from_numpy(obs), torch.from_numpy(act))
    np.testing.assert_allclose(logp_t.numpy(), policy.log_prob(theta, obs, act), rtol=1e-12, atol=1e-12)
    h_t = policy.torch_entropy(torch.from_numpy(theta), torch.from_numpy(obs))
    np.testing.assert_allclose(h_t.numpy(), policy.entropy(theta, obs), rtol=1e-12)


@pytest.mark.parametrize("policy", [MLPCategoricalPolicy(4, 3, (6, 5)), MLPGaussianPolicy(4, 2, (6,))])
@pytest.mark.parametrize("seeds", [None, 2])
def test_autograd_score_matches_finite_differences(policy, seeds):
    pytest.importorskip("torch")
    theta = policy.init(seeds, rng=rngs(seeds) if seeds else rngs(1)[0])
    theta = theta + RNG.normal(scale=0.3, size=theta.shape)  # leave the near-uniform start
    obs = RNG.normal(size=(3, 4) if seeds is None else (3, seeds, 2, 4))
    act = policy.sample(theta, obs, RNG)
    score = policy.grad_log_prob(theta, obs, act)
    assert score.shape == (*obs.shape[:-1], policy.dim)
    eps = 1e-6
    for i in RNG.choice(policy.dim, size=12, replace=False):
        e = np.zeros(policy.dim)
        e[i] = eps
        fd = (policy.log_prob(theta + e, obs, act) - policy.log_prob(theta - e, obs, act)) / (2 * eps)
        np.testing.assert_allclose(score[..., i], fd, atol=1e-7, rtol=1e-6)


def test_categorical_sampling_follows_the_probabilities_and_zero_noise_is_the_mode():
    policy = MLPCategoricalPolicy(2, 3, (4,))
    theta = policy.init(rng=rngs(1)[0]) + RNG.normal(size=policy.dim)
    obs = np.tile([0.3, -0.7], (200_000, 1))
    counts = np.bincount(policy.act(theta, obs, policy.noise(RNG, (200_000,))), minlength=3)
    np.testing.assert_allclose(counts / 200_000, policy.probs(theta, obs[0]), atol=0.005)
    np.testing.assert_array_equal(policy.act(theta, obs[:1], np.zeros((1, 3))), policy.mode(theta, obs[:1]))


def test_mlp_value_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    value = MLPValue(4, (8, 8))
    params = value.init(3, rng=rngs(3))
    obs = RNG.normal(size=(5, 3, 2, 4))
    np.testing.assert_allclose(value.torch_value(torch.from_numpy(params), torch.from_numpy(obs)).numpy(),
                               value.value(params, obs), rtol=1e-12)


def test_without_torch_everything_else_imports_and_runs_and_mlp_says_how_to_install():
    blocker = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("No module named 'torch'")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import pgrad, pgrad.cli
        from pgrad.algorithms import a2c, ppo, reinforce
        from pgrad.policies.mlp import require_torch
        result = ppo.train(ppo.PPOConfig(max_steps=2048), [0])
        assert result.theta.shape == (1, 8)
        try:
            require_torch()
        except ImportError as e:
            print(e)
        try:
            ppo.PPOConfig(policy="mlp")
        except (ValueError, ImportError) as e:
            print(e)
        assert "torch" not in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all('pip install "pgrad[torch]"' in line for line in lines)
