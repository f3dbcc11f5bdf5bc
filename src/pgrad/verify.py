"""``pgrad verify``: every gradient estimator against the exact gradient, and its variance.

For each case (an environment, a policy at fixed theta, a discount gamma) we draw M
independent batches of K episodes, compute every estimator (weighting x baseline) on each
batch, and compare the mean of the M estimates with grad J from :mod:`pgrad.exact`:

    bias_i = mean_m g^m_i - (grad J)_i,   se_i = std_m(g^m_i) / sqrt(M),   z = max_i |bias_i| / se_i,
    variance = trace Cov_m(g^m)  (the total variance of one batch's estimate).

Theory says which estimators are unbiased (``theory_unbiased``): those must have z < 4.
A biased one is "shown" biased when z > 6. Cart-pole has no exact gradient, so its rows
report the variance only.

Continuous actions (``lqr_cases``, docs/theorem.md section 12): a linear-quadratic regulator with
the exact gradient of :mod:`pgrad.lqr`, a Gaussian-linear policy (every weighting and baseline,
and the reparameterisation estimator with the exact critic grad_a Q_t), a deterministic linear
policy (the deterministic policy gradient with the exact critic) and the Gaussian policy on SAC's
soft objective J_alpha (SAC's actor gradient with the exact soft critic, against grad J_alpha), all
through the same rollout.

Every case with an MDP also gets four natural-gradient rows (``check_natural``): the sample
Fisher is unbiased for the exact F (every entry within 4 SE), F_hat^+ g approaches F^+ grad J
like 1/sqrt(K), the compatible least-squares critic is F^+ grad J to machine precision, and
conjugate gradient reaches the direct solve.

The cases themselves are built in :mod:`pgrad.verify_cases` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from pgrad import continuous, estimators, natural
from pgrad.envs import CARTPOLE
from pgrad.exact import compatible_weights, exact_gradient, fisher_matrix, natural_gradient
from pgrad.lqr import LQR, LinearPolicy, lqr_action_value_grad, lqr_values
from pgrad.policies import DeterministicLinearPolicy
from pgrad.returns import WEIGHTINGS
from pgrad.rollout import Batch, rollout
from pgrad.verify_cases import CARTPOLE_THETA as CARTPOLE_THETA
from pgrad.verify_cases import LQR_THETA as LQR_THETA
from pgrad.verify_cases import VERIFY_LQR as VERIFY_LQR
from pgrad.verify_cases import Case, _mdp_policy, default_cases, lqr_cases
from pgrad.verify_cases import lqr_case as lqr_case
from pgrad.verify_cases import mdp_case as mdp_case

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table

ESTIMATORS: tuple[tuple[str, str], ...] = tuple((w, b) for w in WEIGHTINGS for b in estimators.BASELINES)
"""Every (weighting, baseline) pair pgrad ships."""
DPG = ("deterministic_pg", "exact_critic")
"""The row of the deterministic policy gradient with the exact critic (``lqr_cases``)."""
REPARAMETERISED = ("reparameterised", "exact_critic")
"""The row of the reparameterisation estimator with the exact critic (``lqr_cases``)."""
SOFT_REPARAMETERISED = ("soft_reparameterised", "exact_critic")
"""The row of SAC's actor gradient with the exact soft critic, on a case with ``alpha`` (``lqr_cases``)."""

Z_PASS = 4.0
"""An estimator that theory calls unbiased passes when every component is within 4 SE."""
Z_SHOWN = 6.0
"""A biased estimator is shown biased when some component is off by more than 6 SE."""

DEFAULT_BATCHES = 10000
"""M, independent batches per case, for ``pgrad verify``."""
DEFAULT_EPISODES = 4
"""K, episodes per batch: small, so that the O(1/K) bias of the plain baselines shows."""
CHUNK = 1000
"""Batches rolled out together (memory grows with CHUNK x K x T x d)."""


def theory_unbiased(weighting: str, baseline: str, gamma: float) -> bool:
    """Whether E[g] = grad J (grad J_alpha for ``SOFT_REPARAMETERISED``): the weighting must keep
    gamma^t (``reward_to_go_from_t`` drops it, harmless only at gamma = 1) and the baseline must not
    use the episode's own rewards (``batch_mean`` and ``time_mean`` include them; their leave-one-out
    forms do not); the pathwise rows with the exact critic (``DPG``, ``REPARAMETERISED``,
    ``SOFT_REPARAMETERISED``) are unbiased."""
    if (weighting, baseline) in (DPG, REPARAMETERISED, SOFT_REPARAMETERISED):
        return True
    return (weighting != "reward_to_go_from_t" or gamma == 1.0) and baseline not in (
        "batch_mean", "time_mean")


def memory_bytes(num_batches: int, num_episodes: int) -> int:
    """About the memory ``verify`` needs (bytes): one chunk's rollout at cart-pole's horizon, the
    longest of the cases (observations, scores [T, M, K, d] and weights), every estimate [M, d]
    and every sample Fisher [M, d, d]."""
    episodes = min(num_batches, CHUNK) * num_episodes
    horizon, d = CARTPOLE.max_episode_steps, 16
    return 2 * (episodes * horizon * 8 * (2 * d + 8) + num_batches * d * 8 * (len(ESTIMATORS) + d))


def sample_estimates(case: Case, num_batches: int, num_episodes: int,
                     seed: np.random.SeedSequence | int) -> dict[tuple[str, str], np.ndarray]:
    """M = num_batches independent estimates of every estimator: {(weighting, baseline): [M, d]}.

    Batch m (K = num_episodes episodes) runs as seed m of one lockstep rollout, with its own
    generator spawned from ``seed``; every estimator is computed from the same M batches.
    """
    return _sample(case, num_batches, num_episodes, seed, fisher=False)[0]


def _sample(case: Case, num_batches: int, num_episodes: int, seed: np.random.SeedSequence | int,
            fisher: bool) -> tuple[dict[tuple[str, str], np.ndarray], np.ndarray | None]:
    """``sample_estimates`` and, with ``fisher``, the sample Fisher of each batch [M, d, d] from the
    same episodes (``natural.sample_fisher`` at the case's gamma)."""
    if num_batches < 2 or num_episodes < 2:
        raise ValueError(f"need at least 2 batches of 2 episodes (the leave-one-out baselines), got "
                         f"{num_batches} and {num_episodes}")
    seeds = np.random.SeedSequence(seed) if isinstance(seed, int) else seed
    rngs = [np.random.default_rng(s) for s in seeds.spawn(num_batches)]
    parts: list[dict[tuple[str, str], np.ndarray]] = []
    fishers = []
    for start in range(0, num_batches, CHUNK):  # bounded memory; batch m's numbers do not change
        chunk = rngs[start:start + CHUNK]
        theta = np.broadcast_to(case.theta, (len(chunk), case.theta.shape[-1]))
        batch = rollout(case.dynamics, case.policy, theta, chunk, num_episodes)
        parts.append({})
        if case.alpha is None and not isinstance(case.policy, DeterministicLinearPolicy):
            # a score function exists, and it estimates the case's target grad J (not grad J_alpha)
            score = case.policy.grad_log_prob(theta, batch.obs, batch.act)
            parts[-1].update({
                (w, b): estimators.policy_gradient(
                    score, estimators.weights(batch.rew, batch.alive, case.gamma, w, b), batch.alive)
                for w, b in ESTIMATORS
            })
            if fisher:
                fishers.append(natural.sample_fisher(score, batch.alive, case.gamma))
        if case.lqr is not None:
            parts[-1].update(critic_estimates(case, theta, batch))
    estimates = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return estimates, np.concatenate(fishers) if fisher else None


def critic_estimates(case: Case, theta: np.ndarray, batch: Batch) -> dict[tuple[str, str], np.ndarray]:
    """The pathwise estimate of each batch with the exact critic grad_a Q_t of the case's LQR:
    {DPG: [S, d]} for a deterministic policy (a_t = mu(x_t), jac = grad_theta mu), else
    {REPARAMETERISED: [S, d]} (eps_t = (a_t - mu(x_t)) / sigma read back from the sampled action),
    or with ``case.alpha`` {SOFT_REPARAMETERISED: [S, d]}, SAC's actor gradient with the score and
    grad_a log pi = -eps_t / sigma (grad_a Q_t is the exact soft critic's action gradient too)."""
    lqr, policy = cast(LQR, case.lqr), cast(LinearPolicy, case.policy)
    grad_q = lqr_action_value_grad(lqr, lqr_values(lqr, policy, case.theta, case.gamma), batch.obs, batch.act)
    if isinstance(policy, DeterministicLinearPolicy):
        jac = policy.grad_mean(theta, batch.obs)
        return {DPG: continuous.deterministic_policy_gradient(jac, grad_q, batch.alive, case.gamma)}
    noise, sigma, _ = policy.standardize(theta, batch.obs, batch.act)
    jac = continuous.gaussian_action_jacobian(policy, theta, batch.obs, noise)
    if case.alpha is not None:
        score = policy.grad_log_prob(theta, batch.obs, batch.act)
        return {SOFT_REPARAMETERISED: continuous.soft_reparameterised_gradient(
            jac, grad_q, score, -noise / sigma, batch.alive, case.gamma, case.alpha)}
    return {REPARAMETERISED: continuous.reparameterised_gradient(jac, grad_q, batch.alive, case.gamma)}


@dataclass(frozen=True)
class Bias:
    """mean_m g^m - grad J per component [d], its standard error [d], and z = |bias| / se [d]
    (0 where both are exactly 0, as for parameters of states the policy never visits)."""

    bias: np.ndarray
    se: np.ndarray
    z: np.ndarray

    @property
    def worst(self) -> int:
        """The component with the largest z."""
        return int(np.argmax(self.z))

    @property
    def max_z(self) -> float:
        return float(self.z.max())


def bias_of(estimates: np.ndarray, target: np.ndarray) -> Bias:
    """Bias of the mean of M independent estimates [M, d] relative to target [d]."""
    if estimates.ndim != 2 or estimates.shape[1:] != target.shape:
        raise ValueError(f"estimates must be [M, {target.shape}], got {estimates.shape}")
    bias = estimates.mean(axis=0) - target
    se = estimates.std(axis=0, ddof=1) / np.sqrt(estimates.shape[0])
    exact_zero = np.abs(bias) <= 1e-12 * (1.0 + np.abs(target))
    z = np.divide(np.abs(bias), se, out=np.where(exact_zero, 0.0, np.inf), where=se > 0)
    return Bias(bias, se, z)


def total_variance(estimates: np.ndarray) -> float:
    """trace Cov(g) = sum_i Var(g_i) over the M estimates [M, d]."""
    return float(estimates.var(axis=0, ddof=1).sum())


@dataclass(frozen=True)
class Row:
    """One line of the table: an estimator on a case.

    bias and se are those of the worst component (largest z); all three are None where
    the exact gradient is unknown. variance_ratio is relative to (total_return, none), None
    where the case has no score-function estimator (a deterministic policy).
    passed is False only for an estimator that theory calls unbiased and that missed by 4 SE.
    """

    case: str
    weighting: str
    baseline: str
    unbiased_in_theory: bool | None
    bias: float | None
    se: float | None
    z: float | None
    variance: float
    variance_ratio: float | None
    verdict: str
    passed: bool


def _verdict(unbiased_in_theory: bool, z: float) -> tuple[str, bool]:
    if unbiased_in_theory:
        return ("ok: unbiased", True) if z < Z_PASS else ("FAIL: biased", False)
    return ("ok: bias shown", True) if z > Z_SHOWN else ("bias not resolved", True)


def check_case(case: Case, estimates: dict[tuple[str, str], np.ndarray]) -> list[Row]:
    """The table rows of one case from its estimates (``sample_estimates``)."""
    plain = estimates.get(("total_return", "none"))
    reference = None if plain is None else total_variance(plain)
    exact = case.exact
    rows = []
    for (w, b), g in estimates.items():
        variance = total_variance(g)
        ratio = None if reference is None else variance / reference
        if exact is None:
            rows.append(Row(case.name, w, b, None, None, None, None, variance, ratio, "variance only", True))
            continue
        unbiased = theory_unbiased(w, b, case.gamma)
        result = bias_of(g, exact)
        i = result.worst
        verdict, passed = _verdict(unbiased, result.max_z)
        rows.append(Row(case.name, w, b, unbiased, float(result.bias[i]), float(result.se[i]),
                        result.max_z, variance, ratio, verdict, passed))
    return rows


# ---------------------------------------------------------------------------------------------
# The natural gradient against the exact Fisher matrix (docs/theorem.md, section 11).
# ---------------------------------------------------------------------------------------------

NATURAL_EPISODES = (4, 16, 64, 256)
"""K for the convergence row: the natural-gradient estimate from K episodes."""
NATURAL_BATCHES = 100
"""B, independent batches behind each K (the first K of each batch's 256 episodes)."""
SLOPE_TOL = 0.2
"""The fitted log-log slope of the error over K must be within this of -1/2."""
MACHINE_TOL = 1e-10
"""The compatible fit must satisfy F w = grad J and equal F^+ grad J to this relative error."""
CG_TOL = 1e-8
"""Conjugate gradient must reach the direct solve to this relative error."""
CG_DAMPING = 0.1
"""lambda in (F_bar + lambda I) x = g for the CG row (TRPO's usual damping)."""


@dataclass(frozen=True)
class NaturalRow:
    """One line of the natural-gradient table: a check on a case, what it measured, its target."""

    case: str
    check: str
    result: str
    target: str
    verdict: str
    passed: bool


def _sci(x: float) -> str:
    """1e-08 -> '1e-8'."""
    return f"{x:.0e}".replace("e-0", "e-")


def fisher_row(case: Case, fishers: np.ndarray) -> NaturalRow:
    """The sample Fisher of M batches [M, d, d] against F(theta): every entry F_ij (i <= j)
    within 4 SE (``bias_of``)."""
    mdp, policy = _mdp_policy(case)
    exact = fisher_matrix(mdp, policy, case.theta, case.gamma)
    upper = np.triu_indices(exact.shape[0])
    result = bias_of(fishers[:, upper[0], upper[1]], exact[upper])
    k, z = result.worst, result.max_z
    worst = f"F[{upper[0][k]},{upper[1][k]}] {result.bias[k]:+.4f} ± {result.se[k]:.4f}"
    verdict, passed = _verdict(True, z)
    entries = f"{len(result.z)} entr{'y' if len(result.z) == 1 else 'ies'}"
    return NaturalRow(case.name, "sample Fisher = F", f"max z {z:.1f} over {entries} ({worst})",
                      f"z < {Z_PASS:g}", verdict, passed)


def natural_errors(case: Case, batch: Batch, score: np.ndarray) -> np.ndarray:
    """Median over the B batches of ||x_K - x*||_F / ||x*||_F for each K in ``NATURAL_EPISODES``:
    x_K = F_hat^+ g from the batch's first K episodes (g: reward-to-go, leave-one-out baseline),
    x* = F^+ grad J, ||v||_F^2 = v^T F v (the metric itself). [len(NATURAL_EPISODES)]."""
    mdp, policy = _mdp_policy(case)
    F = fisher_matrix(mdp, policy, case.theta, case.gamma)
    target = natural_gradient(mdp, policy, case.theta, case.gamma)
    errors = []
    for K in NATURAL_EPISODES:
        alive, score_K = batch.alive[:, :, :K], score[:, :, :K]
        w = estimators.weights(batch.rew[:, :, :K], alive, case.gamma, "reward_to_go", "batch_mean_loo")
        x = natural.solve_fisher(natural.sample_fisher(score_K, alive, case.gamma),
                                 estimators.policy_gradient(score_K, w, alive))
        gap = x - target
        errors.append(np.median(np.sqrt(np.einsum("bi,ij,bj->b", gap, F, gap) / (target @ F @ target))))
    return np.array(errors)


def convergence_row(case: Case, batch: Batch, score: np.ndarray) -> NaturalRow:
    """The errors of ``natural_errors`` and their least-squares slope on log-log axes, which
    must be -1/2 +- ``SLOPE_TOL`` (and the errors must fall at every K)."""
    errors = natural_errors(case, batch, score)
    slope = float(np.polyfit(np.log(NATURAL_EPISODES), np.log(errors), 1)[0])
    passed = abs(slope + 0.5) <= SLOPE_TOL and bool(np.all(np.diff(errors) < 0))
    shown = ", ".join(f"{K}: {e:.3f}" for K, e in zip(NATURAL_EPISODES, errors, strict=True))
    return NaturalRow(case.name, "F_hat^+ g → F^+ ∇J", f"median error K={shown}; slope {slope:+.2f}",
                      f"slope -0.5 ± {SLOPE_TOL:g}", "ok: 1/sqrt(K)" if passed else "FAIL: no 1/sqrt(K)",
                      passed)


def compatible_row(case: Case) -> NaturalRow:
    """The compatible least-squares weights w (exact Q) satisfy F w = grad J and equal F^+ grad J."""
    mdp, policy = _mdp_policy(case)
    F = fisher_matrix(mdp, policy, case.theta, case.gamma)
    grad = exact_gradient(mdp, policy, case.theta, case.gamma)
    w = compatible_weights(mdp, policy, case.theta, case.gamma)
    x = natural_gradient(mdp, policy, case.theta, case.gamma)
    residual = float(np.linalg.norm(F @ w - grad) / np.linalg.norm(grad))
    gap = float(np.linalg.norm(w - x) / np.linalg.norm(x))
    passed = max(residual, gap) < MACHINE_TOL
    return NaturalRow(case.name, "compatible fit w = F^+ ∇J",
                      f"|Fw - ∇J| {residual:.1e}, |w - F^+∇J| {gap:.1e}",
                      f"< {_sci(MACHINE_TOL)} relative", "ok: identity" if passed else "FAIL: identity",
                      passed)


def cg_row(case: Case, batch: Batch, score: np.ndarray) -> NaturalRow:
    """Conjugate gradient on Fisher-vector products, (F_bar + lambda I) x = g batched over the B
    batches (2d iterations), against numpy.linalg.solve on F_bar formed column by column."""
    theta = np.ascontiguousarray(np.broadcast_to(case.theta, (batch.alive.shape[1], case.theta.shape[-1])))
    fvp = natural.fisher_operator(case.policy, theta, batch.obs, batch.alive)
    g = estimators.policy_gradient(score, estimators.weights(batch.rew, batch.alive, case.gamma,
                                                             "reward_to_go", "batch_mean_loo"), batch.alive)
    dense = np.stack([fvp(np.broadcast_to(e, g.shape).copy()) for e in np.eye(g.shape[1])], axis=-1)
    direct = np.linalg.solve(dense + CG_DAMPING * np.eye(g.shape[1]), g[..., None])[..., 0]
    x = natural.conjugate_gradient(fvp, g, iterations=2 * g.shape[1], damping=CG_DAMPING, tol=1e-12)
    error = float(np.max(np.linalg.norm(x - direct, axis=1) / np.linalg.norm(direct, axis=1)))
    passed = error < CG_TOL
    return NaturalRow(case.name, "CG = solve",
                      f"max error {error:.1e} over {g.shape[0]} batches, λ = {CG_DAMPING:g}",
                      f"< {_sci(CG_TOL)} relative", "ok: reaches solve" if passed else "FAIL: CG off", passed)


def check_natural(case: Case, fishers: np.ndarray, seed: np.random.SeedSequence) -> list[NaturalRow]:
    """The four natural-gradient rows of a case with an MDP: the sample Fisher of the M batches
    (``fishers``, from ``_sample``), then B = ``NATURAL_BATCHES`` fresh batches of 256 episodes
    (generators spawned from ``seed``) for convergence and CG, and the exact compatible fit."""
    rngs = [np.random.default_rng(s) for s in seed.spawn(NATURAL_BATCHES)]
    theta = np.broadcast_to(case.theta, (NATURAL_BATCHES, case.theta.shape[-1]))
    batch = rollout(case.dynamics, case.policy, theta, rngs, max(NATURAL_EPISODES))
    score = case.policy.grad_log_prob(theta, batch.obs, batch.act)
    return [fisher_row(case, fishers), convergence_row(case, batch, score), compatible_row(case),
            cg_row(case, batch, score)]


def verify(num_batches: int = DEFAULT_BATCHES, num_episodes: int = DEFAULT_EPISODES,
           seed: int = 0, cases: list[Case] | None = None) -> list[Row | NaturalRow]:
    """Run every estimator on every case (``default_cases`` built from ``seed``, then ``lqr_cases``):
    the rows, then the natural-gradient checks of every case with an MDP (``check_natural``).

    M = num_batches independent batches of K = num_episodes episodes per case; a one-line
    ValueError for M < 2, K < 2 or a negative seed.
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    case_seed, sample_seed, natural_seed = np.random.SeedSequence(seed).spawn(3)
    if cases is None:
        cases = default_cases(np.random.default_rng(case_seed)) + lqr_cases()
    rows: list[Row | NaturalRow] = []
    natural_rows: list[Row | NaturalRow] = []
    seeds = zip(sample_seed.spawn(len(cases)), natural_seed.spawn(len(cases)), strict=True)
    for case, (s, s_natural) in zip(cases, seeds, strict=True):
        estimates, fishers = _sample(case, num_batches, num_episodes, s, fisher=case.mdp is not None)
        rows.extend(check_case(case, estimates))
        if fishers is not None:
            natural_rows.extend(check_natural(case, fishers, s_natural))
    return rows + natural_rows


LEGEND = (
    f"bias ± SE: mean estimate - grad J in the worst component (largest z = |bias| / SE); theory-unbiased "
    f"passes at z < {Z_PASS:g}, biased is shown at z > {Z_SHOWN:g}.",
    "tr Cov: total variance of one batch's estimate; ratio: tr Cov / tr Cov of (total_return, none).",
    "LQR: deterministic_pg and reparameterised are the chain rule through the action, sum_t gamma^t "
    "grad_theta a_t grad_a Q_t, with the exact critic (exact_critic); soft_reparameterised adds SAC's "
    "entropy term and is checked against grad J_alpha.",
)
NATURAL_LEGEND = (
    "Natural gradient: the sample Fisher of the M batches against the exact F; F_hat^+ g from the first K "
    f"of {max(NATURAL_EPISODES)} episodes in {NATURAL_BATCHES} batches (error in the F-norm, median over "
    "batches);",
    f"the compatible least-squares critic with the exact Q; CG with {CG_DAMPING:g} damping on Fisher-vector "
    "products against numpy.linalg.solve.",
)


def _estimator_table(rows: list[Row], title: str | None) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in (("case", "left"), ("weighting", "left"), ("baseline", "left"),
                            ("theory", "left"), ("bias ± SE", "right"), ("z", "right"),
                            ("tr Cov", "right"), ("ratio", "right"), ("verdict", "left")):
        table.add_column(header, justify=cast("JustifyMethod", justify), no_wrap=True)
    for i, r in enumerate(rows):
        first = i == 0 or rows[i - 1].case != r.case
        last = i + 1 == len(rows) or rows[i + 1].case != r.case
        theory = "—" if r.unbiased_in_theory is None else ("unbiased" if r.unbiased_in_theory else "biased")
        bias = "—" if r.bias is None else f"{r.bias:+.4f} ± {r.se:.4f}"
        z = "—" if r.z is None else f"{r.z:.1f}"
        ratio = "—" if r.variance_ratio is None else f"{r.variance_ratio:.2f}"
        table.add_row(r.case if first else "", r.weighting, r.baseline, theory, bias, z,
                      f"{r.variance:.4g}", ratio, r.verdict, end_section=last)
    return table


def _natural_table(rows: list[NaturalRow]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for header in ("case", "check", "result", "target", "verdict"):
        table.add_column(header, no_wrap=True)
    for i, r in enumerate(rows):
        first = i == 0 or rows[i - 1].case != r.case
        last = i + 1 == len(rows) or rows[i + 1].case != r.case
        table.add_row(r.case if first else "", r.check, r.result, r.target, r.verdict, end_section=last)
    return table


def format_table(rows: Sequence[Row | NaturalRow], title: str | None = None) -> str:
    """The rows as plain-text tables, the estimators' then the natural gradient's (rendered with
    rich, imported here only)."""
    from rich.console import Console

    estimator_rows = [r for r in rows if isinstance(r, Row)]
    natural_rows = [r for r in rows if isinstance(r, NaturalRow)]
    console = Console(width=200, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(_estimator_table(estimator_rows, title))
    parts = [_plain(capture.get()), "", *LEGEND]
    if natural_rows:
        with console.capture() as capture:
            console.print(_natural_table(natural_rows))
        parts += ["", _plain(capture.get()), "", *NATURAL_LEGEND]
    return "\n".join(parts) + "\n"


def _plain(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def summary(rows: Sequence[Row | NaturalRow]) -> str:
    """One line: how many theoretically unbiased estimators passed, how many biased were shown,
    and how many natural-gradient checks passed."""
    estimator_rows = [r for r in rows if isinstance(r, Row)]
    unbiased = [r for r in estimator_rows if r.unbiased_in_theory]
    biased = [r for r in estimator_rows if r.unbiased_in_theory is False]
    shown = sum(r.z is not None and r.z > Z_SHOWN for r in biased)
    passed = sum(r.passed for r in unbiased)
    natural_rows = [r for r in rows if isinstance(r, NaturalRow)]
    checks = (f"; {sum(r.passed for r in natural_rows)} of {len(natural_rows)} natural-gradient checks passed"
              if natural_rows else "")
    return (f"{passed} of {len(unbiased)} unbiased estimators within {Z_PASS:g} SE of grad J; "
            f"{shown} of {len(biased)} biased ones shown biased (> {Z_SHOWN:g} SE){checks}")
