"""Twin delayed deep deterministic policy gradient, TD3 (Fujimoto et al., 2018):

    for update = 0, 1, 2, ...:
        sample T steps of N environments: a = clip(mu(s) + sigma eps, -1, 1)    (uniform at first)
        store (s, a, r, s', terminated, truncated) in the seed's replay buffer
        for each of G gradient steps, on B transitions drawn uniformly:
            a' = clip(mu'(s') + clip(sigma' eps', -c, c), -1, 1)          (target policy smoothing)
            y = r + gamma (1 - terminated) min_k Q'_k(s', a')             (twin critics; truncation
                                                                           bootstraps, termination not)
            descend sum_k mean (Q_k(s, a) - y)^2
            every d-th step (delayed):  ascend mean Q_1(s, mu(s));
                                        theta' <- (1 - tau) theta' + tau theta for mu' and Q'_k

DDPG (:mod:`~pgrad.algorithms.ddpg`) is the same step with one critic, no smoothing and d = 1.
Networks and their seed axis: :mod:`~pgrad.algorithms.off_nets`; buffer, sampling and
checkpoints: :mod:`~pgrad.algorithms.offpolicy`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgrad.algorithms import offpolicy as off
from pgrad.algorithms.off_nets import all_rows, critic_forward, rows_of, torch_forward
from pgrad.config import param, redefault
from pgrad.noise import NOISE_TYPES
from pgrad.policies.mlp import require_torch
from pgrad.replay import td_target
from pgrad.training import loop
from pgrad.training.loop import TrainResult

__all__ = ["ALGORITHM", "TD3Config", "action_noise_field", "deterministic_step", "make_policy", "train"]
make_policy = off.make_policy
Base = off.OffPolicyConfig


def action_noise_field() -> Any:
    """The ``action_noise`` field DDPG and TD3 share."""
    return param(0.1, "sigma of the Gaussian exploration noise added to the actor's action, in [-1, 1] units")


def noise_type_field() -> Any:
    """The ``noise_type`` field DDPG and TD3 share (:mod:`pgrad.noise`)."""
    return param("normal", "exploration noise: normal (independent at every step) or ornstein-uhlenbeck "
                 "(correlated in time, sigma = action_noise)", NOISE_TYPES)


def noise_theta_field() -> Any:
    return param(0.15, "theta, the Ornstein-Uhlenbeck noise's pull back to 0")


def noise_dt_field() -> Any:
    return param(0.01, "dt, the Ornstein-Uhlenbeck noise's time step")


@dataclass(frozen=True)
class TD3Config(Base):
    """TD3 on any environment with Box actions.

    Defaults: rl-baselines3-zoo's Pendulum-v1 settings (gamma 0.98, buffer 200000, Gaussian
    exploration noise 0.1, lr 1e-3, one gradient step per environment step) with
    Stable-Baselines3's TD3 defaults (batch 256, tau 0.005, d = 2, sigma' = 0.2, c = 0.5), except
    two, by measurement on Pendulum-v1 (seeds 0-9 in one run, 20000 steps per seed, final
    evaluation: 10 episodes per seed from its evaluation stream; IQM over the 10 seeds):

    - net 64,64 instead of the zoo's 400,300: the zoo's critics cost about 27 times the
      multiply-adds per gradient step (0.75 GFLOP per seed and step), which on the 2 shared
      cores of the development machine put a 10-seed run of 20000 steps beyond hours; 64,64
      learns Pendulum as well (below);
    - learning_starts 1000 instead of 10000: 19000 gradient steps instead of 10000. The recorded
      sweep ``pgrad sweep --algo td3 --grid learning_starts=100,1000,10000 --seeds 0-4`` (20000
      steps per seed) cannot tell the three apart: IQM -152.0 [95% CI -195.2, -122.6], -148.0
      [-179.4, -119.2] and -145.2 [-172.9, -121.6]; probability that 10000 beats 1000: 0.52 [0.16,
      0.88]. 1000 stays (the 10-seed runs below use it); 10000 trains in about 40% of the time.

    ``pgrad train --algo td3 --net-arch 64,64 --learning-starts 1000 --seeds 0-9`` (the defaults):
    IQM -155.0 greedy (mean action), -156.0 with exploration noise; every seed's greedy mean
    between -189 and -112 (seeds 0-9: -112, -133, -158, -153, -189, -133, -155, -170, -167, -164);
    training returns (IQM over seeds of each one's last 5 episodes) -937 at 5000 steps, -194 at
    10000, -125 at 15000. 2850 s for the 10 seeds on 1 thread of a heavily shared 2-core machine.
    """

    buffer_size: int = redefault(Base, "buffer_size", 200_000)
    learning_starts: int = redefault(Base, "learning_starts", 1000)
    gamma: float = redefault(Base, "gamma", 0.98)
    action_noise: float = action_noise_field()
    noise_type: str = noise_type_field()
    noise_theta: float = noise_theta_field()
    noise_dt: float = noise_dt_field()
    policy_delay: int = param(2, "d: the actor and the targets are updated every d-th critic step")
    target_noise: float = param(0.2, "sigma' of the target policy smoothing noise (0: none)")
    target_noise_clip: float = param(0.5, "c: the smoothing noise is clipped to [-c, c]")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_deterministic(self)
        if self.policy_delay < 1:
            raise ValueError(f"policy_delay must be a positive integer, got {self.policy_delay}")
        for name in ("target_noise", "target_noise_clip"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")

    @property
    def critics(self) -> int:
        """K = 2 twin critics."""
        return 2


def check_deterministic(config: Any) -> None:
    """DDPG's and TD3's own check: a non-negative exploration noise, theta >= 0 and dt > 0."""
    if config.action_noise < 0:
        raise ValueError(f"action_noise must be non-negative, got {config.action_noise}")
    if config.noise_theta < 0:
        raise ValueError(f"noise_theta must be non-negative, got {config.noise_theta}")
    if not config.noise_dt > 0:
        raise ValueError(f"noise_dt must be positive, got {config.noise_dt}")


def init(config: Any, rngs: list[np.random.Generator]) -> off.OffPolicyState:
    """The actor, K critics and both targets of each seed (:func:`offpolicy.init`)."""
    return off.init(config, rngs, critics=config.critics, actor_target=True)


def draws(config: Any, state: off.OffPolicyState, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Minibatch rows, then (with smoothing) the smoothing noise eps' [S, G, B, m]."""
    return off.draw_rows(config, state, idx, *((1,) if config.target_noise > 0 else ()))


def deterministic_step(config: Any, state: off.OffPolicyState, idx: np.ndarray, noise: dict[str, np.ndarray],
                       g: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The g-th gradient step of DDPG / TD3 for the seeds idx (module docstring); returns
    (finite critic loss [len(idx)], per-seed metrics: critic_loss, q)."""
    torch = require_torch()
    nets, opts = state.nets, state.opts
    actor_net, q_net = state.actor.net, off.critic_net(config, state.spec)
    batch = state.buffer.take(idx, noise["rows"][:, g])
    obs, act, rew, next_obs, terminated = off.to_torch(batch.obs, batch.act, batch.rew, batch.next_obs,
                                                       batch.terminated)
    with torch.no_grad():
        next_act = torch.tanh(torch_forward(actor_net, rows_of(nets["actor_target"], idx), next_obs))
        if config.target_noise > 0:
            smooth = (config.target_noise * off.to_torch(noise["eps0"][:, g])[0]).clamp(
                -config.target_noise_clip, config.target_noise_clip)
            next_act = (next_act + smooth).clamp(-1.0, 1.0)
        next_q = critic_forward(q_net, rows_of(nets["critic_target"], idx), next_obs, next_act).amin(dim=1)
        y = td_target(rew, terminated, next_q, config.gamma)
    critic = rows_of(nets["critic"], idx).detach().requires_grad_(True)
    q = critic_forward(q_net, critic, obs, act)  # [S, K, B]
    critic_loss = (q - y[:, None]).square().mean(dim=2).sum(dim=1)
    (grad,) = torch.autograd.grad(critic_loss.sum(), critic)
    loss = critic_loss.detach().numpy().astype(np.float64)
    finite = np.isfinite(loss)
    if not finite.all():
        keep = torch.from_numpy(np.flatnonzero(finite))
        idx, grad, obs = idx[finite], grad[keep], obs[keep]
    opts["critic"].step(nets["critic"], grad, config.lr, idx)
    state.updates[idx] += 1
    delayed = state.updates[idx] % config.policy_delay == 0
    if delayed.any():
        update_actor(config, state, idx[delayed],
                     obs if delayed.all() else obs[torch.from_numpy(np.flatnonzero(delayed))])
    metrics = {"critic_loss": np.where(finite, loss, np.nan),
               "q": q.detach().mean(dim=(1, 2)).numpy().astype(np.float64)}
    return finite, metrics


def update_actor(config: Any, state: off.OffPolicyState, idx: np.ndarray, obs: Any) -> None:
    """Ascend mean Q_1(s, mu(s)) for the seeds idx (obs [len(idx), B, n]), then move the targets."""
    torch = require_torch()
    nets = state.nets
    actor = rows_of(nets["actor"], idx).detach().requires_grad_(True)
    act = torch.tanh(torch_forward(state.actor.net, actor, obs))
    critic_1 = rows_of(nets["critic"], idx)[:, :1].contiguous()  # (contiguous: see off_nets)
    q1 = critic_forward(off.critic_net(config, state.spec), critic_1, obs, act)
    actor_loss = -q1[:, 0].mean(dim=1)
    (grad,) = torch.autograd.grad(actor_loss.sum(), actor)
    state.opts["actor"].step(nets["actor"], grad, config.lr, idx)
    move_targets(nets, idx, config.tau, ("critic", "actor"))


def move_targets(nets: dict[str, Any], idx: np.ndarray, tau: float, names: Sequence[str]) -> None:
    """theta' <- (1 - tau) theta' + tau theta (``replay.polyak``) for the seeds idx, in place."""
    from pgrad.replay import polyak

    torch = require_torch()
    full = all_rows(idx, nets["actor"].shape[0])
    rows = slice(None) if full else torch.from_numpy(idx)
    for name in names:
        target = nets[f"{name}_target"]
        target[rows] = polyak(target[rows], nets[name][rows], tau)


def train(config: TD3Config, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own."""
    return loop.train("td3", ALGORITHM, config, seeds, logger)


ALGORITHM = off.make_algorithm(init, draws, deterministic_step)
"""TD3 as the training loop runs it."""
