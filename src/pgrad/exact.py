"""Finite MDPs with the exact objective J(theta), its gradient and Fisher matrix, to verify estimators.

A finite-horizon MDP with states s = 0 .. N-1 and actions a = 0 .. A-1:

    s_0 ~ rho0,  a_t ~ pi_theta(. | s_t),  s_{t+1} ~ P[s_t, a_t, .],  r_t = R[s_t, a_t (, s_{t+1})],

for t = 0 .. H-1 (H = ``horizon``, the number of actions taken); an episode also ends when
it enters a terminal state (absorbing; the reward of the step into it counts). The objective

    J(theta) = E[ sum_{t<H} gamma^t r_t ]

is computed exactly by the backward recursion (Bellman equations over the horizon)

    Q_t(s, a) = r(s, a) + gamma sum_{s'} P[s, a, s'] (1 - terminal[s']) V_{t+1}(s'),  V_H = 0,
    V_t(s)    = sum_a pi(a | s) Q_t(s, a),                J = sum_s rho0(s) V_0(s),

with r(s, a) = sum_{s'} P[s, a, s'] R[s, a, s'], and its gradient by the policy gradient
theorem with the exact occupancy d_t(s) = Pr(s_t = s, episode still running at t):

    grad J = sum_{t<H} gamma^t sum_s d_t(s) sum_a pi(a | s) grad log pi(a | s) Q_t(s, a).

The Fisher matrix weighted the same way, F = sum_{t<H} gamma^t sum_s d_t(s) sum_a pi psi psi^T with
psi = grad log pi, gives the natural gradient F^+ grad J, which the least-squares fit of psi^T w to
Q_t under the same weights reproduces (``fisher_matrix``, ``natural_gradient``, ``compatible_weights``).

``to_dynamics`` turns the MDP into a :class:`pgrad.envs.Dynamics`, so the Monte Carlo
estimators run on it through the same rollout as cart-pole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from pgrad.envs import Dynamics

# The LQR's exact J, grad J, Q_t and SAC's J_alpha live in pgrad.lqr (its Dynamics in pgrad.lqr_dynamics);
# re-exported here.
from pgrad.lqr import LQR as LQR
from pgrad.lqr import lqr_action_value as lqr_action_value
from pgrad.lqr import lqr_action_value_grad as lqr_action_value_grad
from pgrad.lqr import lqr_from_t_mean as lqr_from_t_mean
from pgrad.lqr import lqr_gradient as lqr_gradient
from pgrad.lqr import lqr_objective as lqr_objective
from pgrad.lqr import lqr_soft_gradient as lqr_soft_gradient
from pgrad.lqr import lqr_soft_objective as lqr_soft_objective
from pgrad.lqr import lqr_values as lqr_values
from pgrad.lqr import random_lqr as random_lqr
from pgrad.lqr_dynamics import lqr_dynamics as lqr_dynamics
from pgrad.natural import PINV_RTOL, solve_fisher
from pgrad.policies import DiscretePolicy

PROB_TOL = 1e-9
"""Probabilities must be non-negative and sum to 1 within this tolerance."""


def _frozen(x: ArrayLike, dtype: DTypeLike = np.float64) -> np.ndarray:
    a = np.array(x, dtype=dtype)  # a private copy, then read-only
    a.flags.writeable = False
    return a


def _check_distribution(p: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    worst = float(np.max(np.abs(p.sum(axis=-1) - 1.0)))
    if worst > PROB_TOL:
        raise ValueError(f"{name} must sum to 1 over its last axis within {PROB_TOL}; off by {worst:.3g}")


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite-horizon MDP, validated on construction (one-line ValueError on bad input).

    P: [N, A, N] transition probabilities P[s, a, s'];  R: [N, A] or [N, A, N] rewards;
    rho0: [N] start distribution;  horizon: H >= 1, the number of actions per episode;
    terminal: [N] bool, absorbing states that end the episode on entry (no start mass);
    features: [N, obs_dim] what a linear policy observes in each state, or None, in which
    case the observation is the state index itself ([N, 1], for ``TabularSoftmaxPolicy``).
    """

    P: np.ndarray
    R: np.ndarray
    rho0: np.ndarray
    horizon: int
    terminal: np.ndarray | None = None
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        P = _frozen(self.P)
        if P.ndim != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
            raise ValueError(f"P must be [N, A, N] with N, A >= 1, got shape {P.shape}")
        N, A = P.shape[:2]
        R = _frozen(self.R)
        if R.shape not in ((N, A), (N, A, N)) or not np.all(np.isfinite(R)):
            raise ValueError(f"R must be finite, of shape [{N}, {A}] or [{N}, {A}, {N}], got {R.shape}")
        rho0 = _frozen(self.rho0)
        if rho0.shape != (N,):
            raise ValueError(f"rho0 must have shape [{N}], got {rho0.shape}")
        _check_distribution(P, "P")
        _check_distribution(rho0, "rho0")
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer) \
                or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {self.horizon!r}")
        terminal = np.zeros(N, bool) if self.terminal is None else np.asarray(self.terminal)
        if terminal.shape != (N,) or terminal.dtype != bool:
            raise ValueError(f"terminal must be a bool array of shape [{N}], got {terminal.dtype} "
                             f"{terminal.shape}")
        idx = np.flatnonzero(terminal)
        if np.any(np.abs(P[idx, :, idx] - 1.0) > PROB_TOL):
            raise ValueError("terminal states must be absorbing: P[s, a, s] = 1 for every terminal s")
        if np.any(rho0[idx] > 0):
            raise ValueError("rho0 must put no mass on terminal states")
        if self.features is not None:
            features = _frozen(self.features)
            if features.ndim != 2 or features.shape[0] != N or not np.all(np.isfinite(features)):
                raise ValueError(f"features must be finite, of shape [{N}, obs_dim], got {features.shape}")
            object.__setattr__(self, "features", features)
        for name, value in (("P", P), ("R", R), ("rho0", rho0), ("terminal", _frozen(terminal, bool))):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "horizon", int(self.horizon))

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    @property
    def expected_reward(self) -> np.ndarray:
        """r(s, a) = E[r_t | s_t = s, a_t = a] = sum_{s'} P[s, a, s'] R[s, a, s']: [N, A]."""
        return self.R if self.R.ndim == 2 else np.einsum("sax,sax->sa", self.P, self.R)

    @property
    def continuing(self) -> np.ndarray:
        """P[s, a, s'] (1 - terminal[s']): the transitions after which the episode goes on: [N, A, N]."""
        return self.P * ~cast(np.ndarray, self.terminal)  # never None after __post_init__

    def observations(self) -> np.ndarray:
        """What the policy sees in each state: ``features`` [N, obs_dim], or the index s as [N, 1]."""
        if self.features is not None:
            return self.features
        return np.arange(self.n_states, dtype=np.float64)[:, None]


def _policy_tables(mdp: FiniteMDP, policy: DiscretePolicy,
                   theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pi(a | s) [..., N, A] and grad log pi(a | s) [..., N, A, d] for every state and action;
    ... is () for theta [d] and (S,) for theta [S, d]."""
    obs = mdp.observations()
    N, A = mdp.n_states, mdp.n_actions
    if theta.ndim == 2:
        obs = np.broadcast_to(obs, (theta.shape[0], *obs.shape))  # [S, K = N, obs_dim]
    pi = policy.probs(theta, obs)
    if pi.shape[-1] != A:
        raise ValueError(f"the policy has {pi.shape[-1]} actions but the MDP has {A}")
    obs_a = np.broadcast_to(obs, (A, *obs.shape))
    act = np.broadcast_to(np.arange(A).reshape((A,) + (1,) * (obs.ndim - 1)), obs_a.shape[:-1])
    score = np.moveaxis(policy.grad_log_prob(theta, obs_a, act), 0, -2)
    return pi, score.reshape(*pi.shape[:-2], N, A, score.shape[-1])


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")


def action_values(mdp: FiniteMDP, pi: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward recursion over the horizon, for the policy table pi [..., N, A]:

    Q_t(s, a) = r(s, a) + gamma sum_{s'} P[s, a, s'] (1 - terminal[s']) V_{t+1}(s'),  V_H = 0,
    V_t(s) = sum_a pi(a | s) Q_t(s, a).   Returns Q [H, ..., N, A] and V [H + 1, ..., N].
    """
    _check_gamma(gamma)
    H = mdp.horizon
    r, P_go = mdp.expected_reward, mdp.continuing
    Q = np.empty((H, *pi.shape))
    V = np.zeros((H + 1, *pi.shape[:-1]))
    for t in range(H - 1, -1, -1):
        Q[t] = r + gamma * np.einsum("sax,...x->...sa", P_go, V[t + 1])
        V[t] = (pi * Q[t]).sum(axis=-1)
    return Q, V


def state_occupancy(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """d_t(s) = Pr(s_t = s and the episode still runs at t), for the policy table pi [..., N, A]:

    d_0 = rho0,  d_{t+1}(s') = sum_{s, a} d_t(s) pi(a | s) P[s, a, s'] (1 - terminal[s']).
    Returns d [H, ..., N].
    """
    d = np.empty((mdp.horizon, *pi.shape[:-1]))
    d[0] = mdp.rho0
    P_go = mdp.continuing
    for t in range(mdp.horizon - 1):
        d[t + 1] = np.einsum("...s,...sa,sax->...x", d[t], pi, P_go)
    return d


def exact_objective(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """J(theta) = E[sum_{t<H} gamma^t r_t] = sum_s rho0(s) V_0(s): [] for theta [d], [S] for [S, d]."""
    pi, _ = _policy_tables(mdp, policy, theta)
    _, V = action_values(mdp, pi, gamma)
    return V[0] @ mdp.rho0


def _score_times_q(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """E[grad log pi(a_t | s_t) Q_t(s_t, a_t); step t taken] = sum_s d_t(s) sum_a pi Q_t score.

    [H, ..., d]: one term per time step t, not yet discounted by gamma^t."""
    pi, score = _policy_tables(mdp, policy, theta)
    Q, _ = action_values(mdp, pi, gamma)
    d = state_occupancy(mdp, pi)
    return np.einsum("t...s,...sa,t...sa,...sad->t...d", d, pi, Q, score)


def exact_gradient(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """grad J(theta) by the policy gradient theorem with exact occupancies:

    grad J = sum_{t<H} gamma^t sum_s d_t(s) sum_a pi(a | s) grad log pi(a | s) Q_t(s, a),

    where gamma^t Q_t(s_t, a_t) = E[sum_{t' >= t} gamma^{t'} r_{t'} | s_t, a_t] is what the
    ``reward_to_go`` weighting estimates.  [d] for theta [d], [S, d] for [S, d].
    """
    per_step = _score_times_q(mdp, policy, theta, gamma)
    t = np.arange(mdp.horizon, dtype=np.float64).reshape((-1,) + (1,) * (per_step.ndim - 1))
    return (gamma**t * per_step).sum(axis=0)


def exact_from_t_mean(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """What the ``reward_to_go_from_t`` estimator converges to (its exact expectation):

    E[sum_t grad log pi(a_t | s_t) sum_{t' >= t} gamma^{t'-t} r_{t'}]
        = sum_{t<H} sum_s d_t(s) sum_a pi(a | s) grad log pi(a | s) Q_t(s, a),

    grad J without the factor gamma^t: equal to grad J at gamma = 1, different for gamma < 1.
    """
    return _score_times_q(mdp, policy, theta, gamma).sum(axis=0)


def _discounted_step_weights(mdp: FiniteMDP, pi: np.ndarray, gamma: float) -> np.ndarray:
    """gamma^t d_t(s) pi(a | s), the weight of (t, s, a) in grad J, F and the compatible fit:
    [H, ..., N, A]."""
    _check_gamma(gamma)
    d = state_occupancy(mdp, pi)
    t = np.arange(mdp.horizon, dtype=np.float64).reshape((-1,) + (1,) * (d.ndim - 1))
    return (gamma**t * d)[..., None] * pi


def fisher_matrix(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """The Fisher matrix weighted like grad J, with psi(s, a) = grad log pi(a | s):

    F(theta) = sum_{t<H} gamma^t sum_s d_t(s) sum_a pi(a | s) psi(s, a) psi(s, a)^T,

    symmetric positive semi-definite: [d, d] for theta [d], [S, d, d] for [S, d].
    """
    pi, score = _policy_tables(mdp, policy, theta)
    weight = _discounted_step_weights(mdp, pi, gamma).sum(axis=0)
    return np.einsum("...sa,...sai,...saj->...ij", weight, score, score)


def natural_gradient(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float,
                     damping: float = 0.0) -> np.ndarray:
    """The exact natural gradient F^+ grad J (pseudo-inverse, ``pgrad.natural.solve_fisher``), or
    (F + damping I)^-1 grad J: [d] for theta [d], [S, d] for [S, d]."""
    return solve_fisher(fisher_matrix(mdp, policy, theta, gamma), exact_gradient(mdp, policy, theta, gamma),
                        damping)


def compatible_weights(mdp: FiniteMDP, policy: DiscretePolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """The compatible critic Q_w(s, a) = psi(s, a)^T w fitted to the exact Q_t by weighted least squares:

    w* = argmin_w sum_{t<H} gamma^t sum_s d_t(s) sum_a pi(a | s) (psi(s, a)^T w - Q_t(s, a))^2,

    the minimum-norm minimiser (singular values below sqrt(PINV_RTOL) sigma_max dropped, the same
    cut as F^+). Setting the gradient to 0 gives F w* = grad J (Sutton et al., 1999; Kakade, 2001),
    so w* = F^+ grad J, the natural gradient. [d] for theta [d], [S, d] for [S, d].
    """
    pi, score = _policy_tables(mdp, policy, theta)
    Q, _ = action_values(mdp, pi, gamma)
    root = np.sqrt(_discounted_step_weights(mdp, pi, gamma))  # [H, ..., N, A]
    X, y = np.moveaxis(root[..., None] * score, 0, -4), np.moveaxis(root * Q, 0, -3)  # [..., H, N, A(, d)]
    X, y = X.reshape(*X.shape[:-4], -1, X.shape[-1]), y.reshape(*y.shape[:-3], -1)
    if theta.ndim == 1:
        return np.linalg.lstsq(X, y, rcond=np.sqrt(PINV_RTOL))[0]
    return np.stack([np.linalg.lstsq(X_s, y_s, rcond=np.sqrt(PINV_RTOL))[0]
                     for X_s, y_s in zip(X, y, strict=True)])


def _inverse_cdf_table(p: np.ndarray) -> np.ndarray:
    """Cumulative sums of p over its last axis, set to exactly 1 from the last state with
    positive probability on, so that s = #{i : cdf_i <= u} for u ~ U[0, 1) has law p."""
    cdf = np.cumsum(p, axis=-1)
    last = p.shape[-1] - 1 - np.argmax(p[..., ::-1] > 0, axis=-1)
    return np.where(np.arange(p.shape[-1]) >= last[..., None], 1.0, np.minimum(cdf, 1.0))


def to_dynamics(mdp: FiniteMDP, env_id: str = "FiniteMDP") -> Dynamics:
    """The MDP as a :class:`pgrad.envs.Dynamics`, for the rollout and the estimators.

    The state is the index s held in a float array [1, *batch]. ``reset`` (1 uniform per
    episode) and ``step`` (``step_draws = 1`` uniform per step) sample by inverse CDF;
    ``terminated`` is true on entering a terminal state; ``max_episode_steps`` is the
    horizon, so the rollout truncates after H actions. ``observe`` gives
    ``mdp.observations()`` per state, component first: [obs_dim, *batch].
    """
    rho_cdf = _inverse_cdf_table(mdp.rho0)
    P_cdf = _inverse_cdf_table(mdp.P)
    obs_table = np.ascontiguousarray(mdp.observations().T)  # [obs_dim, N]
    R, terminal = mdp.R, cast(np.ndarray, mdp.terminal)  # never None after __post_init__

    def reset(u: np.ndarray) -> np.ndarray:
        if u.shape[0] != 1:
            raise ValueError(f"reset draws must have shape [1, *batch], got {u.shape}")
        return (rho_cdf <= u[0][..., None]).sum(axis=-1)[None].astype(u.dtype)

    def step(state: np.ndarray, action: np.ndarray,
             u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s, a = state[0].astype(np.intp), action.astype(np.intp)
        s_next = (P_cdf[s, a] <= u[0][..., None]).sum(axis=-1)
        reward = R[s, a] if R.ndim == 2 else R[s, a, s_next]
        return s_next[None].astype(state.dtype), reward.astype(state.dtype), terminal[s_next]

    def observe(state: np.ndarray) -> np.ndarray:
        return obs_table[:, state[0].astype(np.intp)].astype(state.dtype, copy=False)

    return Dynamics(
        id=env_id,
        obs_dim=obs_table.shape[0],
        state_dim=1,
        reset_draws=1,
        num_actions=mdp.n_actions,
        max_episode_steps=mdp.horizon,
        obs_high=tuple(float(h) for h in np.abs(obs_table).max(axis=1)),
        reset=reset,
        step=step,
        observe=observe,
        step_draws=1,
    )


def random_mdp(rng: np.random.Generator, n_states: int, n_actions: int, horizon: int, *,
               n_terminal: int = 0, feature_dim: int | None = None, concentration: float = 0.5) -> FiniteMDP:
    """A random MDP: Dirichlet(concentration) transition rows and start distribution (over the
    non-terminal states), rewards R[s, a, s'] ~ U[0, 1), the last ``n_terminal`` states
    terminal, and with ``feature_dim`` standard-normal state features [N, feature_dim]."""
    if not 0 <= n_terminal < n_states:
        raise ValueError(f"need 0 <= n_terminal < n_states, got {n_terminal} and {n_states}")
    N, A = n_states, n_actions
    P = rng.dirichlet(np.full(N, concentration), size=(N, A))
    R = rng.random((N, A, N))
    live = N - n_terminal
    rho0 = np.concatenate([rng.dirichlet(np.full(live, concentration)), np.zeros(n_terminal)])
    terminal = np.arange(N) >= live
    P[terminal] = np.eye(N)[terminal][:, None, :]
    features = None if feature_dim is None else rng.standard_normal((N, feature_dim))
    return FiniteMDP(P, R, rho0, horizon, terminal, features)


def aliased_mdp(horizon: int) -> FiniteMDP:
    """Two states that look the same (feature 1.0), built to expose the missing gamma^t.

    Start in state 0, where action 0 pays 1; every action leads to state 1 and stays there,
    where action 1 pays 1. A policy that cannot tell the states apart (``LogisticPolicy(1)``:
    p = pi(0) = sigmoid(theta)) has J = p + (1 - p) sum_{t=1}^{H-1} gamma^t, so

        dJ/dtheta = p (1 - p) (1 - sum_{t=1}^{H-1} gamma^t),

    while ``reward_to_go_from_t`` estimates p (1 - p) (1 - (H - 1)): for gamma = 1/2 and
    H = 4 the two even have opposite signs.
    """
    P = np.zeros((2, 2, 2))
    P[:, :, 1] = 1.0
    R = np.array([[1.0, 0.0], [0.0, 1.0]])
    return FiniteMDP(P, R, np.array([1.0, 0.0]), horizon, features=np.ones((2, 1)))
