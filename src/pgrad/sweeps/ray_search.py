"""The searcher and the scheduler of a Ray sweep: Optuna's TPE through Ray Tune's OptunaSearch, and
Ray Tune's ASHA.

Optuna (``--search optuna``): ``OptunaSearch`` over the ``--space`` distributions (log / uniform:
``FloatDistribution``, int: ``IntDistribution``, choice: ``CategoricalDistribution``), with
``optuna.samplers.TPESampler(seed=--search-seed)``, maximising the trials' final window_mean
(:func:`pgrad.sweeps.ray_trial.tune_metrics`). It proposes rounds of ``batch`` trials (Tune's
``ConcurrencyLimiter(batch=True)``: a round only once the last one has ended), so that each
proposal depends only on the seed, the round size and the results of the rounds before it: a
seeded sweep draws the same trials again (TPE's first 10 are its random start-up draws). Each
proposal is registered with the sweep as a trial (named after its values) before it runs. A
resumed sweep runs its unsettled trials again first and tells Optuna the settled ones (done:
their final window_mean; stopped: pruned; failed: failed); its later draws are not those of an
uninterrupted sweep.

ASHA (``--scheduler asha``): ``ASHAScheduler`` on window_mean (max) with env steps (the most any
seed of the trial took) as its time: rungs at 1/65, 4/65, 16/65 and 64/65 of the step budget of
the sweep's trials (:func:`step_budget`), reduction factor 4; a trial past the last rung is
never stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher

from pgrad.sweeps import Task
from pgrad.sweeps.layout import Trial
from pgrad.sweeps.ray_trial import METRIC, TASK
from pgrad.sweeps.spec import Space, SweepSpec


@dataclass(frozen=True)
class OptunaPlan:
    """An Optuna search's part of a sweep: the values of the unsettled trials, run first and each
    claimed back as itself; the settled ones Optuna is told about (values, final window_mean or
    None, status); how many new trials to draw; and ``claim``: values -> the task of their trial
    (registered with the sweep)."""

    points: list[dict[str, Any]]
    known: list[tuple[dict[str, Any], float | None, str]]
    draws: int
    claim: Callable[[dict[str, Any]], Task]


# ---------------------------------------------------------------------------------------------

class Named(ConcurrencyLimiter):
    """A searcher proposing rounds of ``max_concurrent`` trials (``batch``: the next round once the
    last one ended), each proposal registered with the sweep (``claim``) and given its task."""

    def __init__(self, searcher: Searcher, max_concurrent: int, claim: Callable[[dict[str, Any]], Task]):
        super().__init__(searcher, max_concurrent, batch=True)
        self.claim = claim

    def suggest(self, trial_id: str) -> dict | None:
        values = super().suggest(trial_id)
        if not isinstance(values, dict):
            return values
        return {**values, TASK: dataclasses.asdict(self.claim(values))}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "claim": None}  # the sweep's own function: not in Tune's pickled copies

    def get_state(self) -> dict:
        claim = self.__dict__.pop("claim")  # nor in Tune's saved searcher state
        try:
            return super().get_state()
        finally:
            self.claim = claim


def distribution(space: Space) -> Any:
    """Optuna's distribution of a ``--space``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if space.kind == "choice":
        return CategoricalDistribution(space.values)
    assert space.low is not None and space.high is not None
    if space.kind == "int":
        return IntDistribution(int(space.low), int(space.high))
    return FloatDistribution(float(space.low), float(space.high), log=space.kind == "log")


def optuna_search(spec: SweepSpec, plan: OptunaPlan, batch: int) -> Named:
    """Tune's OptunaSearch with Optuna's TPE sampler seeded by ``spec.search_seed``, told the settled
    trials, in rounds of ``batch``."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {k: distribution(s) for k, s in spec.space.items()}
    search = OptunaSearch(space=space, metric=METRIC, mode="max",
                          sampler=optuna.samplers.TPESampler(seed=spec.search_seed),
                          points_to_evaluate=plan.points or None)
    for values, value, status in plan.known:
        if status == "done" and value is None:
            continue  # a finished trial without a readable result: Optuna does without it
        search.add_evaluated_point(values, value if status == "done" else None,  # type: ignore[arg-type]
                                   error=status == "failed", pruned=status == "stopped")
    return Named(search, batch, plan.claim)


def final_window_mean(run: Path) -> float | None:
    """A finished run folder's window_mean (:func:`pgrad.sweeps.ray_trial.tune_metrics`): over its
    seeds, the mean return of each one's last ``solve_window`` episodes; None if unreadable."""
    import numpy as np

    from pgrad.runs import read_run

    try:
        folder = read_run(run)
    except ValueError:
        return None
    returns: dict[str, list[float]] = {}
    for row in folder.rows:
        returns.setdefault(row["seed"], []).append(float(row["return"]))
    means = [float(np.mean(r[-folder.config.solve_window:])) for r in returns.values()]
    return float(np.mean(means)) if means else None


def step_budget(spec: SweepSpec) -> int:
    """The most environment steps a seed of any trial can take: the largest ``max_steps`` plus one
    update's steps, or (the largest ``max_episodes`` + one update's episodes) x the longest episode
    (of the fixed environment and time limit)."""
    from pgrad.algorithms import config_class
    from pgrad.gym_rollout import episode_horizon

    defaults = {f.name: f.default for f in dataclasses.fields(config_class(spec.algo))}

    def largest(name: str) -> Any:
        space = spec.space.get(name)
        values = list(spec.grid.get(name, ()))
        values += [] if space is None else list(space.values) if space.kind == "choice" else [space.high]
        values = values or [spec.fixed.get(name, defaults.get(name))]
        return max((v for v in values if isinstance(v, int | float)), default=None)

    if "max_steps" in defaults:
        segment = (largest("num_envs") or 1) * (largest("num_steps") or 1)
        return int(largest("max_steps") + segment)
    config = {**defaults, **spec.fixed}
    horizon = episode_horizon(config["env_id"], config.get("time_limit"))
    return int((largest("max_episodes") + (largest("episodes_per_update") or 1)) * horizon)


def asha(spec: SweepSpec) -> ASHAScheduler:
    """ASHA on window_mean (max) in env steps: rungs at 1/65, 4/65, 16/65 and 64/65 of the step
    budget, reduction factor 4; a trial that reaches its budget is never stopped for it."""
    budget = step_budget(spec)
    return ASHAScheduler(time_attr="env_steps", metric=METRIC, mode="max", max_t=budget,
                         grace_period=max(1, budget // 65), reduction_factor=4, stop_last_trials=False)


def optuna_plan(folder: Path, trials: Sequence[Trial], tasks: Sequence[Task], spec: SweepSpec,
                claim: Callable[[dict[str, Any]], Task]) -> OptunaPlan:
    """The Optuna part of a sweep in ``folder``: its unsettled trials (those with ``tasks``) again
    first, the settled ones told to Optuna, new draws up to ``spec.trials``."""
    unsettled = {t.name for t in tasks}
    known = [(t.overrides, final_window_mean(folder / t.run_dir), t.status) for t in trials
             if t.name not in unsettled]
    points = [t.overrides for t in trials if t.name in unsettled]
    return OptunaPlan(points, known, max(0, (spec.trials or 0) - len(trials)), claim)
