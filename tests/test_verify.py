"""pgrad verify: the rows, the table, the verdicts and the command's exit codes."""

from dataclasses import replace

import numpy as np
import pytest

import pgrad.verify
from pgrad.cli import main
from pgrad.exact import aliased_mdp, lqr_dynamics, to_dynamics
from pgrad.policies import GaussianLinearPolicy, LogisticPolicy
from pgrad.verify import (
    DPG,
    ESTIMATORS,
    LQR_THETA,
    NATURAL_EPISODES,
    REPARAMETERISED,
    SOFT_REPARAMETERISED,
    VERIFY_LQR,
    Case,
    NaturalRow,
    Row,
    check_case,
    format_table,
    lqr_cases,
    sample_estimates,
    summary,
    theory_unbiased,
    verify,
)


def test_theory_table():
    assert theory_unbiased("total_return", "none", 0.9)
    assert theory_unbiased("reward_to_go", "batch_mean_loo", 0.9)
    assert theory_unbiased("reward_to_go", "time_mean_loo", 0.9)
    assert not theory_unbiased("reward_to_go_from_t", "none", 0.9)
    assert theory_unbiased("reward_to_go_from_t", "none", 1.0)
    assert not theory_unbiased("total_return", "batch_mean", 1.0)
    assert not theory_unbiased("reward_to_go", "time_mean", 1.0)
    for row in (DPG, REPARAMETERISED, SOFT_REPARAMETERISED):
        assert theory_unbiased(*row, 0.8)


def test_rows_cover_every_estimator_on_every_case():
    all_rows = verify(num_batches=200, num_episodes=4, seed=3)
    rows = [r for r in all_rows if isinstance(r, Row)]
    natural_rows = [r for r in all_rows if isinstance(r, NaturalRow)]
    assert all_rows == rows + natural_rows  # the estimators' table first
    cases = list(dict.fromkeys(r.case for r in rows))
    # 4 MDPs and cart-pole, then the LQR: the Gaussian policy (+ reparameterised), the deterministic (DPG),
    # the Gaussian with SAC's entropy term (soft_reparameterised alone)
    assert len(cases) == 8 and len(rows) == 6 * len(ESTIMATORS) + 3
    assert [r.case for r in natural_rows] == [c for c in cases[:4] for _ in range(4)]  # the 4 MDP cases
    assert all(r.passed for r in natural_rows)
    cartpole = [r for r in rows if r.case.startswith("CartPole")]
    assert all(r.bias is None and r.unbiased_in_theory is None and r.passed for r in cartpole)
    lqr = [r for r in rows if r.case.startswith("LQR")]
    assert [(r.weighting, r.baseline) for r in lqr] == [*ESTIMATORS, REPARAMETERISED, DPG,
                                                        SOFT_REPARAMETERISED]
    assert all(r.bias is not None and r.passed for r in lqr)
    for r in rows:
        assert r.variance > 0 and (r.weighting, r.baseline) in (*ESTIMATORS, REPARAMETERISED, DPG,
                                                                SOFT_REPARAMETERISED)
        if (r.weighting, r.baseline) == ("total_return", "none"):
            assert r.variance_ratio == 1.0
    text = format_table(all_rows, "title")
    assert text.startswith("title") and all(c in text for c in cases)
    assert "ok: unbiased" in text and "variance only" in text and "exact_critic" in text
    assert "soft_reparameterised" in text and "LQR Gaussian soft α=0.2 γ=0.8" in text
    assert "ok: 1/sqrt(K)" in text and "ok: identity" in text and "ok: reaches solve" in text
    assert summary(rows).endswith("(> 6 SE)")
    assert summary(all_rows).endswith("; 16 of 16 natural-gradient checks passed")


def test_natural_rows_report_what_they_measured():
    rows = [r for r in verify(num_batches=100, num_episodes=4, seed=0) if isinstance(r, NaturalRow)]
    checks = {r.check for r in rows}
    assert len(checks) == 4
    convergence = [r for r in rows if "slope" in r.result]
    assert len(convergence) == 4 and all(f"{K}: " in r.result for r in convergence for K in NATURAL_EPISODES)
    for r in convergence:
        slope = float(r.result.rsplit("slope ", 1)[1])
        assert -0.7 <= slope <= -0.3


def wrong_case() -> Case:
    """Episodes of the aliased MDP with H = 4 compared with the exact gradient for H = 6:
    every estimator theory calls unbiased must fail, which is what the exit code reports."""
    return Case("mismatched", to_dynamics(aliased_mdp(4)), LogisticPolicy(1), np.array([0.5]), 1.0,
                mdp=aliased_mdp(6))


def test_a_wrong_gradient_fails():
    rows = verify(num_batches=500, num_episodes=4, cases=[wrong_case()])
    unbiased = [r for r in rows if isinstance(r, Row) and r.unbiased_in_theory]
    assert unbiased and not any(r.passed for r in unbiased)
    assert all(r.verdict == "FAIL: biased" for r in unbiased)


def test_the_soft_row_is_judged_against_the_soft_gradient():
    """The soft case's estimates judged against grad J (alpha = 0 in the case) fail: the row measures
    grad J_alpha, which is off grad J by alpha c_H = 1 - 0.8^6 in log sigma."""
    soft = lqr_cases()[2]
    estimates = sample_estimates(soft, 500, 4, seed=4)
    assert list(estimates) == [SOFT_REPARAMETERISED]
    assert check_case(soft, estimates)[0].verdict == "ok: unbiased"
    [row] = check_case(replace(soft, alpha=0.0), estimates)
    assert row.verdict == "FAIL: biased" and row.bias == pytest.approx(1 - 0.8**6, abs=0.1)


def test_alpha_needs_an_lqr():
    with pytest.raises(ValueError, match="alpha, SAC's temperature, needs an LQR case") as info:
        Case("soft MDP", to_dynamics(aliased_mdp(4)), LogisticPolicy(1), np.array([0.5]), 1.0,
             mdp=aliased_mdp(4), alpha=0.2)
    assert "\n" not in str(info.value)
    lqr_case = Case("soft LQR", lqr_dynamics(VERIFY_LQR), GaussianLinearPolicy(2, 1), LQR_THETA, 0.8,
                    lqr=VERIFY_LQR, alpha=0.2)
    assert lqr_case.alpha == 0.2


def test_a_wrong_fisher_and_natural_gradient_fail():
    """With episodes of H = 4 against the exact F of H = 6, the sample Fisher is biased and the
    natural-gradient error stops shrinking; the exact identity and CG (one side each) still hold."""
    rows = {r.check: r for r in verify(num_batches=500, num_episodes=4, cases=[wrong_case()])
            if isinstance(r, NaturalRow)}
    assert rows["sample Fisher = F"].verdict == "FAIL: biased"
    assert not rows["F_hat^+ g → F^+ ∇J"].passed
    assert rows["compatible fit w = F^+ ∇J"].passed and rows["CG = solve"].passed


def test_command_prints_the_table_and_exits_0(capsys):
    assert main(["verify", "--size", "300", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "pgrad verify --size 300 --episodes 4 --seed 1" in out
    assert "reward_to_go_from_t" in out and "unbiased estimators within 4 SE" in out
    assert "16 of 16 natural-gradient checks passed" in out


def test_command_exits_1_when_an_unbiased_estimator_fails(monkeypatch, capsys):
    monkeypatch.setattr(pgrad.verify, "default_cases", lambda rng: [wrong_case()])
    assert main(["verify", "--size", "300"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--size", "1"], ["--episodes", "0"], ["--seed", "-1"], ["--size", "x"]])
def test_bad_input_exits_2_with_one_line(argv, capsys):
    assert main(["verify", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgrad: error:") and err.count("\n") == 1
