"""Every estimator pgrad ships against the exact gradient on finite MDPs.

M independent batches of K episodes per case (fixed seeds); z = |mean - target| / SE per
component. Theory-unbiased estimators must be within 4 SE in every component; the biased
ones must be shown biased (> 6 SE) where the case is built to expose them. Variances are
compared on the same batches, cart-pole included.
"""

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from pgrad.exact import exact_from_t_mean, random_mdp
from pgrad.policies import LogisticPolicy, TabularSoftmaxPolicy
from pgrad.verify import (
    ESTIMATORS,
    Z_PASS,
    Z_SHOWN,
    bias_of,
    default_cases,
    mdp_case,
    sample_estimates,
    theory_unbiased,
    total_variance,
)

M, K = 8000, 4
VARIANCE_K, VARIANCE_M, VARIANCE_M_CARTPOLE = 16, 2000, 1000


@cache
def cases() -> dict:
    """The cases ``pgrad verify`` runs, plus two more random MDPs (one at gamma = 1)."""
    rng = np.random.default_rng(12345)
    found = {case.name: case for case in default_cases(rng)}
    extra = [
        mdp_case("random logistic γ=0.95", random_mdp(rng, 4, 2, 7, n_terminal=2, feature_dim=3),
                 LogisticPolicy(3, bias=True), 0.5 * rng.standard_normal(4), 0.95),
        mdp_case("random tabular R[s,a] γ=1", replace(random_mdp(rng, 4, 2, 5), R=rng.random((4, 2))),
                 TabularSoftmaxPolicy(4, 2), 0.5 * rng.standard_normal(8), 1.0),
    ]
    found.update((case.name, case) for case in extra)
    return found


@cache
def estimates(name: str, num_episodes: int = K, num_batches: int = M) -> dict:
    """{(weighting, baseline): [M, d]} for the named case, from its own fixed seed."""
    return sample_estimates(cases()[name], num_batches, num_episodes,
                            seed=sum(map(ord, name)) + num_episodes)


def ascii_id(name: str) -> str:
    return name.replace("γ=", "gamma=")


EXACT_CASES = [name for name, case in cases().items() if case.mdp is not None]


@pytest.mark.parametrize("name", EXACT_CASES, ids=ascii_id)
def test_theory_unbiased_estimators_are_within_4_standard_errors(name):
    case, found = cases()[name], estimates(name)
    checked = [(w, b) for w, b in ESTIMATORS if theory_unbiased(w, b, case.gamma)]
    assert len(checked) == (9 if case.gamma == 1.0 else 6)
    z = {key: bias_of(found[key], case.exact).max_z for key in checked}
    assert max(z.values()) < Z_PASS, {k: round(v, 2) for k, v in z.items() if v >= Z_PASS}


def test_reward_to_go_from_t_is_biased_below_gamma_one():
    """On the aliased MDP at gamma = 1/2 the common practice even points the wrong way."""
    case, found = cases()["aliased H=4 γ=0.5"], estimates("aliased H=4 γ=0.5")
    target = exact_from_t_mean(case.mdp, case.policy, case.theta, case.gamma)
    assert case.exact[0] > 0 > target[0]
    for baseline in ("none", "batch_mean_loo", "time_mean_loo"):
        g = found["reward_to_go_from_t", baseline]
        assert bias_of(g, case.exact).max_z > Z_SHOWN
        assert bias_of(g, target).max_z < Z_PASS  # it estimates grad J without the gamma^t
        assert g.mean() < 0


def test_reward_to_go_from_t_is_unbiased_at_gamma_one():
    for name in ("aliased H=4 γ=1", "random tabular R[s,a] γ=1"):
        case, found = cases()[name], estimates(name)
        for baseline in ("none", "batch_mean_loo", "time_mean_loo"):
            assert bias_of(found["reward_to_go_from_t", baseline], case.exact).max_z < Z_PASS


@pytest.mark.parametrize("name", ["random tabular γ=0.9", "random linear γ=0.9", "random logistic γ=0.95"],
                         ids=ascii_id)
def test_reward_to_go_from_t_estimates_grad_j_without_the_gamma_t(name):
    """Its mean is sum_t E[score_t Q_t] (``exact_from_t_mean``), not grad J = sum_t gamma^t E[...]."""
    case, found = cases()[name], estimates(name)
    target = exact_from_t_mean(case.mdp, case.policy, case.theta, case.gamma)
    assert np.abs(target - case.exact).max() > 0.01 * np.abs(case.exact).max()
    for baseline in ("none", "batch_mean_loo", "time_mean_loo"):
        assert bias_of(found["reward_to_go_from_t", baseline], target).max_z < Z_PASS


@pytest.mark.parametrize("k", [2, 8])
def test_plain_batch_mean_shrinks_the_gradient_by_one_over_K(k):
    """Fixed-length episodes, total-return weighting: b = mean_j G^j contains G^k / K, so
    E[g] = (1 - 1/K) grad J exactly; leaving episode k out removes the bias."""
    name = "aliased H=4 γ=1"
    case, found = cases()[name], estimates(name, k)
    g = found["total_return", "batch_mean"]
    assert bias_of(g, (1 - 1 / k) * case.exact).max_z < Z_PASS
    assert bias_of(g, case.exact).max_z > Z_SHOWN
    assert bias_of(found["total_return", "batch_mean_loo"], case.exact).max_z < Z_PASS


def test_baselines_that_see_the_own_episode_are_biased_at_small_K():
    name = "aliased H=4 γ=1"
    case, found = cases()[name], estimates(name)
    for weighting in ("total_return", "reward_to_go"):
        for baseline in ("batch_mean", "time_mean"):
            assert bias_of(found[weighting, baseline], case.exact).max_z > Z_SHOWN
            assert bias_of(found[weighting, baseline + "_loo"], case.exact).max_z < Z_PASS


@pytest.mark.parametrize("name", list(cases()), ids=ascii_id)
def test_reward_to_go_and_baselines_cut_the_variance(name):
    """At K = 16: with only K - 1 = 3 other episodes (K = 4) a leave-one-out baseline is too
    noisy to help much on cart-pole's reward-to-go (see the verify table)."""
    found = estimates(name, VARIANCE_K, VARIANCE_M if cases()[name].mdp else VARIANCE_M_CARTPOLE)
    var = {key: total_variance(g) for key, g in found.items()}
    assert var["reward_to_go", "none"] < var["total_return", "none"]
    for weighting, baseline in ESTIMATORS:
        if baseline != "none":
            assert var[weighting, baseline] < var[weighting, "none"], (weighting, baseline)
