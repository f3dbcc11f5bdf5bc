"""The public face of a trained run: ``pgrad.load(run_dir, seed=None) -> Agent``.

    agent = pgrad.load("runs/pend", seed=0)        # the agent of seed 0 of that run
    action = agent.act(obs, greedy=True)           # obs [N, obs_dim] -> actions [N, ...]
    returns = agent.evaluate(num_episodes=20, seed=123)

An Agent is one seed's policy and parameters, checked on load (:func:`pgrad.runs.read_run`:
every file, type, shape and number; damaged or non-finite parameters are a one-line
ValueError). Its actions are the environment's: discrete actions shifted by the space's start,
Box actions clipped to the bounds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pgrad.rollout import EnvSpec


@dataclass(frozen=True)
class Agent:
    """One seed of a trained run: its algorithm and config, the seed, theta [d] and the policy."""

    algo: str
    config: Any
    seed: int
    theta: np.ndarray
    policy: Any

    @property
    def env_id(self) -> str:
        return str(self.config.env_id)

    @functools.cached_property
    def spec(self) -> EnvSpec:
        """The environment's spaces as the policy sees them (looked up once)."""
        from pgrad.rollout import env_spec

        return env_spec(self.env_id)

    def act(self, obs: np.ndarray, greedy: bool = False,
            rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for observations ``obs`` [N, obs_dim] (as the policy sees them: Discrete
        observations one-hot): [N] integers for discrete actions, [N, m] floats for Box actions,
        ready for ``env.step``. ``greedy`` takes the modal action; otherwise actions are sampled
        with ``rng`` (default: a fresh ``numpy.random.default_rng()``)."""
        from pgrad.rollout import to_env_action

        obs = np.asarray(obs, dtype=np.float64)
        spec = self.spec
        if obs.ndim != 2 or obs.shape[1] != spec.obs_dim:
            raise ValueError(f"obs must be [N, {spec.obs_dim}] for {self.env_id}, got shape {obs.shape}")
        theta = self.theta[None]
        if greedy:
            act = self.policy.mode(theta, obs[None])[0]
        else:
            rng = np.random.default_rng() if rng is None else rng
            act = self.policy.act(theta, obs[None], self.policy.noise(rng, (1, len(obs))))[0]
        return to_env_action(spec, act)

    def evaluate(self, num_episodes: int = 100, seed: int | None = None, greedy: bool = False) -> np.ndarray:
        """Undiscounted returns of ``num_episodes`` fresh episodes [E], from the evaluation stream of
        ``seed`` (default: the agent's own seed, as ``pgrad eval`` and the run's summary use)."""
        from pgrad.rollout import evaluate_env, seed_streams

        if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
            raise ValueError(f"num_episodes must be a positive integer, got {num_episodes!r}")
        stream = seed_streams(self.seed if seed is None else seed)[1]
        return evaluate_env(self.env_id, self.policy, self.theta[None], [stream], num_episodes, greedy=greedy,
                            time_limit=getattr(self.config, "time_limit", None))[0]


def agents(run_dir: str | Path, seeds: Sequence[int] | None = None) -> list[Agent]:
    """The agents of a run folder: every seed's in the order of its seeds, or those of ``seeds`` in
    that order (a one-line ValueError for a seed the run does not hold)."""
    from pgrad.rollout import env_spec
    from pgrad.runs import read_run

    run = read_run(Path(run_dir))
    held = list(run.seeds)
    absent = [s for s in seeds or () if s not in held]
    if absent:
        raise ValueError(f"{run_dir} holds no seed {absent[0]}; it holds {_seed_list(held)}")
    policy = run.module.make_policy(run.config, env_spec(run.config.env_id))
    return [Agent(run.algo, run.config, seed, run.theta[held.index(seed)].copy(), policy)
            for seed in (held if seeds is None else seeds)]


def load(run_dir: str | Path, seed: int | None = None) -> Agent:
    """The agent of ``seed`` in a run folder (``seed=None``: the run's only seed); a one-line
    ValueError for a damaged folder, non-finite parameters, or a seed the run does not hold."""
    if seed is not None:
        return agents(run_dir, [seed])[0]
    found = agents(run_dir)
    if len(found) != 1:
        raise ValueError(f"{run_dir} holds seeds {_seed_list([a.seed for a in found])}; pass seed=...")
    return found[0]


def _seed_list(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds[:10])) + (", ..." if len(seeds) > 10 else "")
