"""A sweep's ``report.md`` and ``sensitivity.png``.

The finished trials are ranked by the IQM over seeds of each seed's final evaluation return
(summary.json ``final_eval_mean``; ``pgrad.stats.iqm``), with a 95% stratified percentile-bootstrap
interval (``pgrad.stats.iqm_ci``, rliable's method); beside it the seeds solved, the training
environment steps and the training wall time (summary.json), as ``pgrad report`` reads them.
A :class:`Ranking` can start while the sweep runs (the local backend ranks its first trials on
a core its last ones leave free) and gives the same figures as one made at the end.

Probability of improvement of the best trial X over the runner-up Y (rliable, Agarwal et al.
2021), from their per-seed final returns x [n] and y [m]:

    P(X > Y) = 1/(n m) sum_i sum_j (1[x_i > y_j] + 1/2 1[x_i = y_j]) = U_x / (n m)

with U_x the Mann-Whitney U statistic of x (``scipy.stats.mannwhitneyu``), and a percentile
bootstrap interval that resamples each trial's seeds on their own (unpaired).

sensitivity.png has one panel per swept field: at each value of the field, the IQM of the final
returns of every seed of every finished trial with that value (pooled over the other fields),
and its band from a bootstrap stratified by trial.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pgrad import folders
from pgrad.report import Run, load_run
from pgrad.stats import iqm, iqm_ci
from pgrad.sweeps.layout import SETTLED, Trial
from pgrad.sweeps.spec import SweepSpec, command_line, format_value

CONFIDENCE = 0.95
RESAMPLES = 10_000
BAND_RESAMPLES = 2_000
"""Bootstrap replicates at each point of a sensitivity band."""


@dataclass(frozen=True)
class Ranked:
    """A finished trial with its run folder, seeds solved and IQM with its interval."""

    trial: Trial
    run: Run
    solved: int
    iqm: float
    ci: tuple[float, float]


def probability_of_improvement(x: ArrayLike, y: ArrayLike, axis: int = -1) -> Any:
    """P(X > Y) + 1/2 P(X = Y) of the scores x [..., n] and y [..., m] along ``axis``: the
    Mann-Whitney U statistic of x over n m (a float for 1-D inputs)."""
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim == 0 or y.ndim == 0 or x.shape[axis] == 0 or y.shape[axis] == 0:
        raise ValueError(f"probability_of_improvement needs scores along axis {axis}, got shapes {x.shape} "
                         f"and {y.shape}")
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # p-values of tied data: unused
        warnings.simplefilter("ignore")
        u = mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic
    return u / (x.shape[axis] * y.shape[axis])


def improvement_ci(x: ArrayLike, y: ArrayLike, rng: np.random.Generator, *, confidence: float = CONFIDENCE,
                   n_resamples: int = RESAMPLES) -> tuple[float, float]:
    """Percentile-bootstrap interval of :func:`probability_of_improvement`, resampling x and y
    each on its own (``scipy.stats.bootstrap``, unpaired); (nan, nan) with fewer than 2 scores."""
    from scipy.stats import bootstrap

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or y.size < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # a degenerate distribution (all seeds tied) is still an answer
        warnings.simplefilter("ignore")
        result = bootstrap((x, y), probability_of_improvement, n_resamples=n_resamples, vectorized=True,
                           paired=False, axis=-1, confidence_level=confidence, method="percentile", rng=rng)
    low, high = result.confidence_interval
    return float(low), float(high)


def _solved(run: Run) -> int:
    solved = folders.read_json(run.path / "summary.json").get("solved")
    return int(np.sum(np.atleast_1d(np.asarray(solved, dtype=bool))))


def _import_report_modules() -> None:
    """Import scipy.stats and matplotlib's Figure (a failure shows where the report uses them)."""
    with contextlib.suppress(Exception):
        import matplotlib.figure  # noqa: F401
        import scipy.stats  # noqa: F401


class Ranking:
    """The ranking of a sweep's done trials, built trial by trial in the sweep's order from one
    generator (``numpy.random.default_rng(seed)``), so that a sweep can rank its first trials while
    its last ones train: the bootstrap draws are those of ranking them all at the end."""

    def __init__(self, folder: Path, *, seed: int = 0, n_resamples: int = RESAMPLES) -> None:
        self.folder, self.seed, self.n_resamples = folder, seed, n_resamples
        self.rng = np.random.default_rng(seed)
        self.ranked: list[Ranked] = []
        self.unreadable: list[tuple[Trial, str]] = []
        self.next = 0
        """Trials looked at so far, in the sweep's order."""
        self.importing: threading.Thread | None = None
        """The thread importing what the report computes and draws with, once started."""
        self.warm = False

    def step(self, trials: Sequence[Trial]) -> bool:
        """One short step ahead of the report, if there is one to take now: first start importing
        what it computes and draws with (scipy.stats, matplotlib: seconds) on a thread of its own,
        so that the caller goes on handing out trials meanwhile; once that is done, rank the next
        trial once it is settled (a done one: its final run folder; others are skipped). Whether
        it took one."""
        if self.importing is None:
            self.importing = threading.Thread(target=_import_report_modules, name="pgrad-report-imports")
            self.importing.start()
            return True
        if not self.warm:
            if self.importing.is_alive():
                return False
            self.warm = True
        if self.next < len(trials) and trials[self.next].status in SETTLED:
            self._take(trials[self.next])
            return True
        return False

    def finish(self, trials: Sequence[Trial]) -> tuple[list[Ranked], list[tuple[Trial, str]]]:
        """Every trial not yet ranked, then the done trials of the sweep, best IQM first (ties in
        trial order), and those whose run folder cannot be read, with the reason."""
        if self.importing is not None:
            self.importing.join()
        for trial in trials[self.next:]:
            self._take(trial)
        return sorted(self.ranked, key=lambda r: -r.iqm), self.unreadable

    def _take(self, trial: Trial) -> None:
        self.next += 1
        if trial.status != "done":
            return
        try:
            run = load_run(self.folder / trial.run_dir, curves=False)  # the report needs no curves
            solved = _solved(run)
        except (ValueError, AttributeError) as e:
            self.unreadable.append((trial, str(e).splitlines()[0]))
            return
        low, high = iqm_ci([run.final_eval], self.rng, confidence=CONFIDENCE, n_resamples=self.n_resamples)
        self.ranked.append(Ranked(trial, run, solved, float(iqm(run.final_eval)), (float(low), float(high))))


def rank(folder: Path, trials: Sequence[Trial], *, seed: int = 0,
         n_resamples: int = RESAMPLES) -> tuple[list[Ranked], list[tuple[Trial, str]]]:
    """The done trials, best IQM first (ties in trial order), and those whose run folder cannot
    be read, with the reason (:class:`Ranking` all at once)."""
    return Ranking(folder, seed=seed, n_resamples=n_resamples).finish(trials)


def _num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:,.{digits}f}"


def markdown(spec: SweepSpec, trials: Sequence[Trial], ranked: Sequence[Ranked],
             unreadable: Sequence[tuple[Trial, str]], improvement: tuple[float, float, float] | None, *,
             seed: int, n_resamples: int = RESAMPLES) -> str:
    """The report: what ran, the ranking, the probability of improvement, what did not finish."""
    pct = f"{CONFIDENCE:.0%}"
    counts = {s: sum(t.status == s for t in trials) for s in dict.fromkeys(t.status for t in trials)}
    lines = ["# pgrad sweep", "", f"`{command_line(spec)}`", "",
             f"{len(trials)} trials ({', '.join(f'{n} {s}' for s, n in counts.items())}), each on seeds "
             f"{spec.seeds}; {spec.search} search over {', '.join(spec.fields)}.", "",
             f"| rank | trial | IQM final return | {pct} CI | seeds solved | env steps | wall time (s) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for i, r in enumerate(ranked, start=1):
        ci = f"[{_num(r.ci[0])}, {_num(r.ci[1])}]" if np.isfinite(r.ci[0]) else "n/a (1 seed)"
        steps = "n/a" if r.run.env_steps is None else f"{r.run.env_steps:,}"
        lines.append(f"| {i} | `{r.trial.name}` | {_num(r.iqm)} | {ci} | {r.solved}/{len(r.run.seeds)} | "
                     f"{steps} | {_num(r.run.wall_seconds, 2)} |")
    if not ranked:
        lines.append("| | no trial finished | | | | | |")
    lines += ["", "IQM final return: interquartile mean over seeds (`scipy.stats.trim_mean(x, 0.25)`) of "
              "each seed's final evaluation return (`final_eval_mean` in the trial's summary.json). "
              f"{pct} CI: stratified percentile bootstrap over seeds (rliable's method, Agarwal et al. "
              f"2021), {n_resamples:,} resamples, seed {seed}. Env steps: training environment steps summed "
              "over seeds; wall time: the trial's training time (summary.json)."]
    if improvement is not None:
        p, low, high = improvement
        ci = f"[{low:.2f}, {high:.2f}]" if np.isfinite(low) else "n/a (1 seed)"
        lines += ["", f"Probability of improvement of `{ranked[0].trial.name}` over "
                  f"`{ranked[1].trial.name}`: **{p:.2f}**, {pct} CI {ci}: P(X > Y) + 0.5 P(X = Y) for a "
                  "seed's final return X of the first and Y of the second (the Mann-Whitney U statistic "
                  "over n m, `scipy.stats.mannwhitneyu`; rliable's probability of improvement), percentile "
                  "bootstrap resampling each trial's seeds."]
    unsettled = [t for t in trials if t.status not in SETTLED]
    if unreadable or any(t.status != "done" for t in trials):
        lines += ["", "Not ranked:", ""]
        lines += [f"- `{t.name}`: {t.status}" + (f": {t.reason}" if t.reason else "")
                  for t in trials if t.status != "done"]
        lines += [f"- `{t.name}`: run folder unreadable: {why}" for t, why in unreadable]
    if unsettled:
        lines += ["", "Finish the sweep with `pgrad sweep --resume DIR`."]
    lines += ["", "![IQM final return against each swept field](sensitivity.png)", "",
              "Trials and their run folders: `sweep.json`."]
    return "\n".join(lines) + "\n"


def _key(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def sensitivity(spec: SweepSpec, ranked: Sequence[Ranked], path: Path, rng: np.random.Generator) -> Path:
    """Save the figure: per swept field, IQM and band against the field's values (log x for a
    log space, or positive numbers spanning a factor of 20 or more)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    names = spec.fields
    fig = Figure(figsize=(4.5 * len(names), 3.6), dpi=110)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        groups: dict[str, list[Ranked]] = {}
        for r in ranked:
            groups.setdefault(_key(r.trial.overrides[name]), []).append(r)
        values = [members[0].trial.overrides[name] for members in groups.values()]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        order = sorted(range(len(values)), key=lambda i: values[i] if numeric else i)
        x = [values[i] if numeric else k for k, i in enumerate(order)]
        centre, low, high = [], [], []
        for i in order:
            strata = [r.run.final_eval for r in groups[_key(values[i])]]
            lo, hi = iqm_ci(strata, rng, confidence=CONFIDENCE, n_resamples=BAND_RESAMPLES)
            centre.append(float(iqm(np.concatenate(strata))))
            low.append(float(lo))
            high.append(float(hi))
        if x:
            ax.plot(x, centre, "o-", color="C0", lw=2, label="IQM final return")
            ax.fill_between(x, low, high, color="C0", alpha=0.25, lw=0, label=f"{CONFIDENCE:.0%} CI")
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no trial finished", ha="center", va="center", transform=ax.transAxes)
        if not numeric:
            ax.set_xticks(x, [format_value(values[i]) for i in order])
        elif x and (name in spec.space and spec.space[name].kind == "log"
                    or min(x) > 0 and max(x) >= 20 * min(x)):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("IQM of final evaluation return")
        ax.grid(alpha=0.3)
    fig.suptitle("IQM over seeds, pooled over the other fields; band: bootstrap stratified by trial",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return Path(path)


def write_report(folder: Path, spec: SweepSpec, trials: Sequence[Trial], *, seed: int = 0,
                 n_resamples: int = RESAMPLES, ranking: Ranking | None = None) -> tuple[str, list[Ranked]]:
    """Write report.md and sensitivity.png into the sweep folder (each beside and renamed in);
    returns the markdown and the ranking. All randomness: ``numpy.random.default_rng(seed)``,
    through ``ranking`` (a :class:`Ranking` of this folder with this seed, perhaps begun while
    the sweep ran; by default a new one)."""
    if ranking is None:
        ranking = Ranking(folder, seed=seed, n_resamples=n_resamples)
    if (ranking.folder, ranking.seed, ranking.n_resamples) != (folder, seed, n_resamples):
        raise ValueError(f"a ranking of {ranking.folder} (seed {ranking.seed}, {ranking.n_resamples} "
                         f"resamples) for {folder} (seed {seed}, {n_resamples})")
    ranked, unreadable = ranking.finish(trials)
    rng = ranking.rng
    improvement = None
    if len(ranked) >= 2:
        x, y = ranked[0].run.final_eval, ranked[1].run.final_eval
        improvement = (float(probability_of_improvement(x, y)),
                       *improvement_ci(x, y, rng, n_resamples=n_resamples))
    text = markdown(spec, trials, ranked, unreadable, improvement, seed=seed, n_resamples=n_resamples)
    folders.replace_file(folder / "report.md", lambda tmp: tmp.write_text(text))
    folders.replace_file(folder / "sensitivity.png", lambda tmp: sensitivity(spec, ranked, tmp, rng))
    return text, ranked
