"""Policies: frozen parameter bundles; the parameters theta are plain arrays passed in.

Every policy offers ``probs`` (discrete) or distribution parameters, ``sample``,
``log_prob``, ``grad_log_prob`` and the noise-driven ``noise``/``act`` pair the rollout uses.
Linear policies take theta of shape ``[d]`` or, with a leading seed axis, ``[S, d]``;
with a seed axis the observations are ``[..., S, K, obs_dim]``.
"""

from pgrad.policies.base import DiscretePolicy, Policy
from pgrad.policies.deterministic import DeterministicLinearPolicy
from pgrad.policies.gaussian import GaussianLinearPolicy
from pgrad.policies.logistic import LogisticPolicy
from pgrad.policies.mlp import MLPCategoricalPolicy, MLPGaussianPolicy  # torch only when used
from pgrad.policies.softmax import SoftmaxLinearPolicy, TabularSoftmaxPolicy

__all__ = ["DeterministicLinearPolicy", "DiscretePolicy", "GaussianLinearPolicy", "LogisticPolicy",
           "MLPCategoricalPolicy", "MLPGaussianPolicy", "Policy", "SoftmaxLinearPolicy",
           "TabularSoftmaxPolicy"]
