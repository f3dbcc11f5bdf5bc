"""The problems ``pgrad verify`` checks its estimators on: an environment, a policy at fixed theta, gamma.

Finite MDPs (``default_cases``: the aliased MDP, two random MDPs, cart-pole without an exact
gradient) and the LQR (``lqr_cases``: a double integrator under a Gaussian-linear and a
deterministic linear policy, and the Gaussian one with SAC's entropy term), each with the exact
gradient of :mod:`pgrad.exact` or :mod:`pgrad.lqr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from pgrad.envs import CARTPOLE, Dynamics
from pgrad.exact import FiniteMDP, aliased_mdp, exact_gradient, random_mdp, to_dynamics
from pgrad.lqr import LQR, LinearPolicy, lqr_gradient, lqr_soft_gradient
from pgrad.lqr_dynamics import lqr_dynamics
from pgrad.policies import (
    DeterministicLinearPolicy,
    DiscretePolicy,
    GaussianLinearPolicy,
    LogisticPolicy,
    Policy,
    SoftmaxLinearPolicy,
    TabularSoftmaxPolicy,
)


@dataclass(frozen=True, eq=False)
class Case:
    """One verification problem: dynamics, a policy at fixed theta [d] and gamma; on a finite
    MDP (``mdp``) or an LQR (``lqr``) the exact gradient is known, on cart-pole (neither) it is not.
    With ``alpha`` (LQR only) the target is SAC's soft objective J_alpha at temperature alpha."""

    name: str
    dynamics: Dynamics
    policy: Policy
    theta: np.ndarray
    gamma: float
    mdp: FiniteMDP | None = None
    lqr: LQR | None = None
    alpha: float | None = None

    def __post_init__(self) -> None:
        if self.alpha is not None and self.lqr is None:
            raise ValueError(f"alpha, SAC's temperature, needs an LQR case (lqr=...), got alpha = "
                             f"{self.alpha} without one")

    @property
    def exact(self) -> np.ndarray | None:
        """grad J(theta) [d] (grad J_alpha with ``alpha``), or None without an MDP or LQR."""
        if self.lqr is not None and self.alpha is not None:
            return lqr_soft_gradient(self.lqr, cast(LinearPolicy, self.policy), self.theta, self.gamma,
                                     self.alpha)
        if self.lqr is not None:
            return lqr_gradient(self.lqr, cast(LinearPolicy, self.policy), self.theta, self.gamma)
        if self.mdp is not None:
            return exact_gradient(self.mdp, cast(DiscretePolicy, self.policy), self.theta, self.gamma)
        return None


def mdp_case(name: str, mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> Case:
    """A case on a finite MDP, run through ``to_dynamics``."""
    return Case(name, to_dynamics(mdp), policy, theta, gamma, mdp)


def lqr_case(name: str, lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float,
             alpha: float | None = None) -> Case:
    """A case on an LQR, run through ``lqr_dynamics``; with ``alpha``, on SAC's soft objective."""
    return Case(name, lqr_dynamics(lqr), policy, theta, gamma, lqr=lqr, alpha=alpha)


def _mdp_policy(case: Case) -> tuple[FiniteMDP, DiscretePolicy]:
    """The MDP and the discrete policy of a case with an MDP (the natural-gradient rows)."""
    return cast(FiniteMDP, case.mdp), cast(DiscretePolicy, case.policy)


CARTPOLE_THETA = np.array([0.0, 0.0, -1.0, -0.5])
"""Fixed logistic parameters for cart-pole's variance rows (episodes of about 33 steps)."""


def default_cases(rng: np.random.Generator) -> list[Case]:
    """The hand-built aliased MDP at gamma = 0.5 and 1, two random MDPs (tabular softmax and
    softmax-linear policies, one with a terminal state), and cart-pole (variance only)."""
    logistic = LogisticPolicy(obs_dim=1)
    tabular_mdp = random_mdp(rng, 5, 3, 6, n_terminal=1)
    tabular = TabularSoftmaxPolicy(5, 3)
    linear_mdp = random_mdp(rng, 6, 3, 5, feature_dim=2)
    linear = SoftmaxLinearPolicy(2, 3, bias=True)
    return [
        mdp_case("aliased H=4 γ=0.5", aliased_mdp(4), logistic, np.array([0.5]), 0.5),
        mdp_case("aliased H=4 γ=1", aliased_mdp(4), logistic, np.array([0.5]), 1.0),
        mdp_case("random tabular γ=0.9", tabular_mdp, tabular, 0.5 * rng.standard_normal(tabular.dim), 0.9),
        mdp_case("random linear γ=0.9", linear_mdp, linear, 0.5 * rng.standard_normal(linear.dim), 0.9),
        Case("CartPole γ=0.99", CARTPOLE, LogisticPolicy(4), CARTPOLE_THETA, 0.99),
    ]


VERIFY_LQR = LQR(A=np.array([[1.0, 1.0], [0.0, 1.0]]), B=np.array([[0.5], [1.0]]), Q=np.diag([1.0, 0.1]),
                 R=np.array([[0.1]]), mean0=np.array([1.0, 0.0]), cov0=0.1 * np.eye(2),
                 noise_cov=0.01 * np.eye(2), horizon=6)
"""A double integrator (position, velocity; force; time step 1) over H = 6 steps: the LQR cases."""
LQR_THETA = np.array([-0.5, -0.8, 0.0, np.log(0.5)])
"""u = K x + k + sigma eps with K = (-0.5, -0.8) (A + B K stable), k = 0, sigma = 1/2."""
LQR_ALPHA = 0.2
"""SAC's temperature alpha of the soft LQR case."""


def lqr_cases() -> list[Case]:
    """The LQR ``VERIFY_LQR`` at gamma = 0.8 under the Gaussian-linear policy ``LQR_THETA`` (every
    score-function estimator and the reparameterisation one), under its mean as a deterministic
    linear policy (the DPG), and under the Gaussian again on SAC's J_alpha at alpha = ``LQR_ALPHA``
    (the soft reparameterisation estimator alone: the score-function rows estimate grad J)."""
    gaussian, deterministic = GaussianLinearPolicy(2, 1), DeterministicLinearPolicy(2, 1)
    mean_theta = LQR_THETA[:deterministic.dim]  # W = (K^T; k), without log_std
    return [lqr_case("LQR Gaussian γ=0.8", VERIFY_LQR, gaussian, LQR_THETA, 0.8),
            lqr_case("LQR deterministic γ=0.8", VERIFY_LQR, deterministic, mean_theta, 0.8),
            lqr_case(f"LQR Gaussian soft α={LQR_ALPHA:g} γ=0.8", VERIFY_LQR, gaussian, LQR_THETA, 0.8,
                     alpha=LQR_ALPHA)]
