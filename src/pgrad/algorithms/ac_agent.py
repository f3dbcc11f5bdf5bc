"""The actor-critic agent: a policy pi_theta and a value function V for an environment's spaces,
linear (numpy) or MLP (torch), and their initial parameters."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgrad.policies import SoftmaxLinearPolicy
from pgrad.policies.gaussian import GaussianLinearPolicy
from pgrad.policies.mlp import MLPCategoricalPolicy, MLPGaussianPolicy
from pgrad.rollout import EnvSpec, env_spec
from pgrad.values import LinearValue, MLPValue

POLICIES = ("linear", "mlp")
LinearPolicy = SoftmaxLinearPolicy | GaussianLinearPolicy
MLPPolicy = MLPCategoricalPolicy | MLPGaussianPolicy


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Agent:
    """The policy pi_theta and the value function V of one configuration (no parameters here)."""

    policy: LinearPolicy | MLPPolicy
    value: LinearValue | MLPValue

    @property
    def mlp(self) -> bool:
        return isinstance(self.value, MLPValue)

    @property
    def mlp_parts(self) -> tuple[MLPPolicy, MLPValue]:
        """(policy, value) of an MLP agent (a TypeError for a linear one)."""
        if not isinstance(self.policy, MLPPolicy) or not isinstance(self.value, MLPValue):
            raise TypeError("not an MLP agent")
        return self.policy, self.value

    @property
    def linear_parts(self) -> tuple[LinearPolicy, LinearValue]:
        """(policy, value) of a linear agent (a TypeError for an MLP one)."""
        if not isinstance(self.policy, LinearPolicy) or not isinstance(self.value, LinearValue):
            raise TypeError("not a linear agent")
        return self.policy, self.value


def make_agent(config: Any, spec: EnvSpec) -> Agent:
    """Softmax-linear or Gaussian-linear policy with a linear value function (``policy="linear"``),
    or MLP policy and value function (``policy="mlp"``), for the environment's spaces."""
    if config.policy == "linear":
        linear: LinearPolicy
        if spec.discrete:
            linear = SoftmaxLinearPolicy(spec.obs_dim, spec.num_actions, bias=config.bias)
        else:
            linear = GaussianLinearPolicy(spec.obs_dim, spec.action_dim, bias=config.bias,
                                          init_log_std=config.init_log_std)
        return Agent(linear, LinearValue(spec.obs_dim, config.value_features))
    hidden = (config.hidden,) * config.depth
    mlp: MLPPolicy
    if spec.discrete:
        mlp = MLPCategoricalPolicy(spec.obs_dim, spec.num_actions, hidden)
    else:
        mlp = MLPGaussianPolicy(spec.obs_dim, spec.action_dim, hidden, config.init_log_std)
    return Agent(mlp, MLPValue(spec.obs_dim, hidden))


def make_policy(config: Any, dynamics_or_spec: object = None) -> LinearPolicy | MLPPolicy:
    """The policy of ``config`` (for evaluation: ``pgrad eval``); the spaces come from config.env_id."""
    return make_agent(config, env_spec(config.env_id)).policy


def init_params(agent: Agent, rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
    """(params, w): the parameters gradient ascent trains and those of the value function.

    Linear: params = theta [S, d] starts at 0 (Gaussian: log_std = init_log_std) and w [S, F] at 0
    (w is fitted by least squares). MLP: params = (theta, w) [S, d + F], trained together, both
    orthogonal and drawn from each seed's generator; w is a copy of the value part."""
    S = len(rngs)
    if not agent.mlp:
        policy, value = agent.linear_parts
        return policy.init(S), value.init(S)
    mlp, mlp_value = agent.mlp_parts
    theta, w = mlp.init(S, rng=rngs), mlp_value.init(S, rng=rngs)
    return np.concatenate([theta, w], axis=1), w
