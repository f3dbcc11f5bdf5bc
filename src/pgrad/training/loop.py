"""The one training loop every algorithm runs through.

    while some seed is still training:
        sample   the seeds still training                       (the algorithm)
        record   finished episodes; stop seeds by the rule      (the log: solved, budget)
        learn    estimate and ascend for the seeds that go on   (the algorithm; diverged seeds stop)
        log      the update's metrics; callbacks may ask to checkpoint or to stop

An algorithm is an :class:`Algorithm`: a bundle of pure-ish functions over its own state
(parameters, optimiser moments, value parameters, sampler). The loop owns the seeds, their
generators, the stopping rule, the metrics and the callbacks; :class:`TrainState` is all of
it, and a checkpoint (:mod:`pgrad.training.checkpoint`) writes it whole, so that a run resumed
from one continues bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pgrad.config import solve_threshold
from pgrad.training.log import PER_SEED, EpisodeLog

STOP = "stop"
CHECKPOINT = "checkpoint"
REQUESTS = (STOP, CHECKPOINT)
"""What a callback may ask of the loop after an update."""


@dataclass(frozen=True)
class Sample:
    """One update's samples of the seeds ``idx``: per seed, the returns and lengths of the
    episodes that finished, the environment steps taken [len(idx)], and the algorithm's data
    (a Batch of whole episodes, a Segment, ...)."""

    returns: Sequence[np.ndarray]
    lengths: Sequence[np.ndarray]
    steps: np.ndarray
    data: Any


@dataclass(frozen=True)
class Algorithm:
    """An algorithm as the loop runs it.

    init(config, rngs) -> state                     fresh state of len(rngs) seeds
    sample(config, state, idx) -> Sample            sample the seeds idx (their generators in state)
    learn(config, state, idx, sample, steps) -> (ok [len(idx)], metrics)
                                                    estimate and ascend for the seeds idx (a subset of
                                                    the sampled ones; sample.data still holds all);
                                                    ok: the seed's numbers stayed finite (else its
                                                    parameters are left as they were); steps [S]: the
                                                    environment steps of every seed so far;
                                                    metrics may hold "per_seed": {name: [len(idx)]},
                                                    each seed's own diagnostics (the others: over seeds)
    save(state) -> {name: array}                    what a checkpoint must hold
    load(config, rngs, arrays) -> state             the state of a checkpoint
    params(state) -> (theta [S, d], value parameters [S, F] or None)
    close(state)                                    release environments
    restorable(config) -> str | None                why a checkpoint of this config cannot resume
                                                    bit for bit (None if it can)
    """

    init: Callable[[Any, list[np.random.Generator]], Any]
    sample: Callable[[Any, Any, np.ndarray], Sample]
    learn: Callable[[Any, Any, np.ndarray, Sample, np.ndarray], tuple[np.ndarray, dict]]
    save: Callable[[Any], dict[str, np.ndarray]]
    load: Callable[[Any, list[np.random.Generator], dict[str, np.ndarray]], Any]
    params: Callable[[Any], tuple[np.ndarray, np.ndarray | None]]
    close: Callable[[Any], None] = lambda state: None
    restorable: Callable[[Any], str | None] = lambda config: None


@dataclass
class TrainState:
    """Everything a run needs to go on: the config, the seeds and each seed's training generator,
    the log, the algorithm's state and the number of updates done."""

    algo: str
    config: Any
    seeds: tuple[int, ...]
    rngs: list[np.random.Generator]
    log: EpisodeLog
    algo_state: Any
    update: int = 0

    @property
    def done(self) -> bool:
        return not self.log.active.any()


class Callback(Protocol):
    """Called after every update with its metrics and read access to the state; may return
    ``"checkpoint"`` (write a snapshot now) or ``"stop"`` (end the run here, resumable). Where some
    seed learned, ``metrics["per_seed"]`` holds "index" (the positions of the seeds that learned)
    and each one's own diagnostics (:data:`~pgrad.training.log.PER_SEED`)."""

    def __call__(self, metrics: dict, state: TrainState) -> str | None: ...


def training_streams(seeds: Sequence[int]) -> list[np.random.Generator]:
    """Each seed's training generator (the first of its two streams)."""
    from pgrad.rollout import seed_streams

    return [seed_streams(s)[0] for s in seeds]


def new_log(config: Any, seeds: Sequence[int], wall_before: float = 0.0) -> EpisodeLog:
    """The log of a run of ``config``: its window, threshold and budget (episodes or steps)."""
    return EpisodeLog(seeds, config.solve_window, solve_threshold(config),
                      max_episodes=getattr(config, "max_episodes", None),
                      max_steps=getattr(config, "max_steps", None), wall_before=wall_before)


def start(algo: str, algorithm: Algorithm, config: Any, seeds: Sequence[int]) -> TrainState:
    """A fresh run of ``config`` on ``seeds``."""
    rngs = training_streams(seeds)
    algo_state = algorithm.init(config, rngs)  # set-up first: the clock starts with the log
    return TrainState(algo, config, tuple(seeds), rngs, new_log(config, seeds), algo_state)


def run(algorithm: Algorithm, state: TrainState, callbacks: Sequence[Callback] = (),
        checkpoint: Callable[[TrainState], None] | None = None) -> bool:
    """Train until every seed has stopped (True) or a callback asks to stop (False: the state is
    at an update boundary and can be checkpointed and resumed). ``checkpoint`` writes a
    snapshot when a callback asks for one."""
    log, config = state.log, state.config
    while log.active.any():
        idx = np.flatnonzero(log.active)
        sample = algorithm.sample(config, state.algo_state, idx)                      # sample
        metrics = log.record(idx, sample.returns, sample.lengths, sample.steps, state.update)
        keep = log.active[idx]  # seeds that just stopped take no further step
        if keep.any():
            learned = idx[keep]
            ok, diagnostics = algorithm.learn(config, state.algo_state, learned, sample, log.steps)  # learn
            log.diverge(learned[~ok])
            metrics |= diagnostics | {PER_SEED: {"index": learned, **diagnostics.get(PER_SEED, {})}}
        log.log(metrics)                                                              # log
        state.update += 1
        requests = [r for cb in callbacks if (r := cb(metrics, state)) is not None]
        if CHECKPOINT in requests and checkpoint is not None:
            checkpoint(state)
        if STOP in requests:
            return False
    return True


@dataclass(frozen=True)
class TrainResult:
    """What training returns, for every algorithm. Per seed (axis 0): final theta [S, d] (a
    diverged seed's last finite one), value parameters [S, F] (None where the algorithm keeps
    none), solved flags, the episode count and environment steps when solved (-1 if not),
    environment steps taken, episode records (return, length, update, wall), diverged flags and
    statuses (solved, budget, diverged, running); ``updates``: one row of metrics per update."""

    seeds: tuple[int, ...]
    theta: np.ndarray
    value_params: np.ndarray | None
    solved: np.ndarray
    solved_at_episode: np.ndarray
    solved_at_step: np.ndarray
    steps: np.ndarray
    episodes: list[dict[str, np.ndarray]]
    wall_seconds: float
    updates: list[dict]
    diverged: np.ndarray
    status: tuple[str, ...]


def result(algorithm: Algorithm, state: TrainState, running: str = "running") -> TrainResult:
    """The result of a run so far; seeds still training get the status ``running``."""
    log = state.log
    theta, value = algorithm.params(state.algo_state)
    return TrainResult(state.seeds, theta.copy(), None if value is None else value.copy(),
                       log.solved_at_episode >= 0, log.solved_at_episode.copy(), log.solved_at_step.copy(),
                       log.steps.copy(), log.tables(), log.wall, list(log.updates), log.diverged.copy(),
                       tuple(log.status(running)))


def logger_callback(logger: Callable[[dict], None]) -> Callback:
    """A callback that hands every update's metrics to ``logger`` (the older logger argument), the
    per-seed diagnostics left out."""
    def callback(metrics: dict, state: TrainState) -> None:
        logger({k: v for k, v in metrics.items() if k != PER_SEED})
    return callback


def train(algo: str, algorithm: Algorithm, config: Any, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``config`` on ``seeds`` to the end and return the result."""
    state = start(algo, algorithm, config, seeds)
    try:
        run(algorithm, state, [*callbacks, *([logger_callback(logger)] if logger else [])])
    finally:
        algorithm.close(state.algo_state)
    return result(algorithm, state)
