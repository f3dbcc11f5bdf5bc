"""Sampling trajectories from an environment under a policy pi_theta, for S seeds at once.

This package is the only place that turns environment flags into masks: the dynamics' and
Gymnasium's ``terminated`` and ``truncated`` become the ``alive`` mask and the kept-apart
flags of :class:`Batch` and :class:`Segment`. Each seed draws its randomness from its own
generator (:func:`seed_streams`), so seed s gives the same samples whether it runs alone or
beside other seeds.

- :mod:`~pgrad.rollout.episodes`: :func:`rollout`, K whole episodes per seed in lockstep,
  time first -> :class:`Batch` [T, S, K, ...] (reset draws, then action noise for every
  possible step, per seed); :func:`split_seeds`.
- :mod:`~pgrad.rollout.segments`: fixed-length segments of N autoresetting environments per
  seed -> :class:`Segment` [T, S, N, ...] (:func:`make_segments`: :class:`DynamicsSegments`
  on pgrad's fused dynamics, :class:`GymSegments` on any Gymnasium id).
- :mod:`~pgrad.rollout.evaluation`: returns of fresh episodes (:func:`evaluate`, :func:`evaluate_env`).
- :mod:`~pgrad.rollout.spaces`: :class:`EnvSpec`, the spaces as policies see them, and the
  action the environment receives (:func:`to_env_action`).
- :mod:`~pgrad.rollout.streams`: :func:`seed_streams`, each seed's (training, evaluation) generators.

Tunables such as ``COMPACT_MIN`` are read where they are defined: patch
``pgrad.rollout.episodes``, not this package.
"""

from pgrad.rollout.episodes import Batch, Workspace, draw_noise, rollout, split_seeds
from pgrad.rollout.evaluation import evaluate, evaluate_env
from pgrad.rollout.segments import DynamicsSegments, GymSegments, Segment, make_segments
from pgrad.rollout.spaces import EnvSpec, check_spaces, check_time_limit, env_spec, to_env_action
from pgrad.rollout.spaces import _dynamics_spec as _dynamics_spec
from pgrad.rollout.spaces import _make_gym_vec as _make_gym_vec
from pgrad.rollout.spaces import _pgrad_dynamics as _pgrad_dynamics
from pgrad.rollout.streams import seed_streams

__all__ = ["Batch", "DynamicsSegments", "EnvSpec", "GymSegments", "Segment", "Workspace", "check_spaces",
           "check_time_limit", "draw_noise", "env_spec", "evaluate", "evaluate_env", "make_segments",
           "rollout", "seed_streams", "split_seeds", "to_env_action"]
