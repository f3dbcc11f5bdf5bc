"""pgrad verify: the rows, the table, the verdicts and the command's exit codes."""

import numpy as np
import pytest

import pgrad.verify
from pgrad.cli import main
from pgrad.exact import aliased_mdp, to_dynamics
from pgrad.policies import LogisticPolicy
from pgrad.verify import (
    DPG,
    ESTIMATORS,
    NATURAL_EPISODES,
    REPARAMETERISED,
    Case,
    NaturalRow,
    Row,
    format_table,
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


def test_rows_cover_every_estimator_on_every_case():
    all_rows = verify(num_batches=200, num_episodes=4, seed=3)
    rows = [r for r in all_rows if isinstance(r, Row)]
    natural_rows = [r for r in all_rows if isinstance(r, NaturalRow)]
    assert all_rows == rows + natural_rows  # the estimators' table first
    cases = list(dict.fromkeys(r.case for r in rows))
    # 4 MDPs and cart-pole, then the LQR: the Gaussian policy (+ reparameterised), the deterministic (DPG)
    assert len(cases) == 7 and len(rows) == 6 * len(ESTIMATORS) + 2
    assert [r.case for r in natural_rows] == [c for c in cases[:4] for _ in range(4)]  # the 4 MDP cases
    assert all(r.passed for r in natural_rows)
    cartpole = [r for r in rows if r.case.startswith("CartPole")]
    assert all(r.bias is None and r.unbiased_in_theory is None and r.passed for r in cartpole)
    lqr = [r for r in rows if r.case.startswith("LQR")]
    assert [(r.weighting, r.baseline) for r in lqr] == [*ESTIMATORS, REPARAMETERISED, DPG]
    assert all(r.bias is not None and r.passed for r in lqr)
    for r in rows:
        assert r.variance > 0 and (r.weighting, r.baseline) in (*ESTIMATORS, REPARAMETERISED, DPG)
        if (r.weighting, r.baseline) == ("total_return", "none"):
            assert r.variance_ratio == 1.0
    text = format_table(all_rows, "title")
    assert text.startswith("title") and all(c in text for c in cases)
    assert "ok: unbiased" in text and "variance only" in text and "exact_critic" in text
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
