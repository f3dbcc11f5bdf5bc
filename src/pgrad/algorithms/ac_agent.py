"""The actor-critic agent: a policy pi_theta and a value function V for an environment's spaces,
linear (numpy) or MLP (torch), and their initial parameters."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.policies import SoftmaxLinearPolicy
from pgrad.policies.gaussian import GaussianLinearPolicy
from pgrad.policies.mlp import MLPCategoricalPolicy, MLPGaussianPolicy
from pgrad.rollout import EnvSpec, env_spec
from pgrad.values import LinearValue, MLPValue

POLICIES = ("linear", "mlp")


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Agent:
    """The policy pi_theta and the value function V of one configuration (no parameters here)."""

    policy: object
    value: LinearValue | MLPValue

    @property
    def mlp(self) -> bool:
        return isinstance(self.value, MLPValue)


def make_agent(config, spec: EnvSpec) -> Agent:
    """Softmax-linear or Gaussian-linear policy with a linear value function (``policy="linear"``),
    or MLP policy and value function (``policy="mlp"``), for the environment's spaces."""
    if config.policy == "linear":
        if spec.discrete:
            policy = SoftmaxLinearPolicy(spec.obs_dim, spec.num_actions, bias=config.bias)
        else:
            policy = GaussianLinearPolicy(spec.obs_dim, spec.action_dim, bias=config.bias,
                                          init_log_std=config.init_log_std)
        return Agent(policy, LinearValue(spec.obs_dim, config.value_features))
    hidden = (config.hidden,) * config.depth
    if spec.discrete:
        policy = MLPCategoricalPolicy(spec.obs_dim, spec.num_actions, hidden)
    else:
        policy = MLPGaussianPolicy(spec.obs_dim, spec.action_dim, hidden, config.init_log_std)
    return Agent(policy, MLPValue(spec.obs_dim, hidden))


def make_policy(config, dynamics_or_spec=None):
    """The policy of ``config`` (for evaluation: ``pgrad eval``); the spaces come from config.env_id."""
    return make_agent(config, env_spec(config.env_id)).policy


def init_params(agent: Agent, rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
    """(params, w): the parameters gradient ascent trains and those of the value function.

    Linear: params = theta [S, d] starts at 0 (Gaussian: log_std = init_log_std) and w [S, F] at 0
    (w is fitted by least squares). MLP: params = (theta, w) [S, d + F], trained together, both
    orthogonal and drawn from each seed's generator; w is a copy of the value part."""
    S = len(rngs)
    if not agent.mlp:
        return agent.policy.init(S), agent.value.init(S)
    theta, w = agent.policy.init(S, rng=rngs), agent.value.init(S, rng=rngs)
    return np.concatenate([theta, w], axis=1), w
