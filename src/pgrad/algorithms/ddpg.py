"""Deep deterministic policy gradient, DDPG (Lillicrap et al., 2016), as TD3 without its three
changes: one critic, no target policy smoothing, the actor updated at every step:

    for update = 0, 1, 2, ...:
        sample T steps of N environments: a = clip(mu(s) + sigma eps, -1, 1)    (uniform at first)
        for each of G gradient steps, on B transitions from the seed's replay buffer:
            y = r + gamma (1 - terminated) Q'(s', mu'(s'))
            descend mean (Q(s, a) - y)^2;  ascend mean Q(s, mu(s))
            theta' <- (1 - tau) theta' + tau theta for mu' and Q'

The step is :func:`pgrad.algorithms.td3.deterministic_step` (Stable-Baselines3's DDPG is its TD3
with the same three settings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pgrad.algorithms import offpolicy as off
from pgrad.algorithms import td3
from pgrad.config import redefault
from pgrad.training import loop
from pgrad.training.loop import TrainResult

__all__ = ["ALGORITHM", "DDPGConfig", "make_policy", "train"]
make_policy = off.make_policy
Base = off.OffPolicyConfig


@dataclass(frozen=True)
class DDPGConfig(Base):
    """DDPG on any environment with Box actions; defaults as TD3's (rl-baselines3-zoo's Pendulum-v1
    settings for DDPG are the same as its TD3 ones), with the same two changes (net 64,64,
    learning_starts 1000; see ``TD3Config``). Measured as TD3's (seeds 0-9 in one run, 20000
    steps per seed, 10 final evaluation episodes per seed, IQM over seeds):

    ``pgrad train --algo ddpg --net-arch 64,64 --learning-starts 1000 --seeds 0-9`` (the defaults):
    IQM -151.6 greedy (mean action), -155.8 with exploration noise; every seed's greedy mean
    between -187 and -114 (seeds 0-9: -114, -133, -163, -138, -187, -137, -155, -178, -158, -158);
    training returns (IQM over seeds of each one's last 5 episodes) -203 at 5000 steps, -152 at
    10000, -178 at 15000. 2487 s for the 10 seeds on 1 thread of a heavily shared 2-core machine.

    The recorded sweep ``pgrad sweep --algo ddpg --grid learning_starts=100,1000,10000 --seeds 0-4``
    (20000 steps per seed) cannot tell the three apart: IQM -141.1 [95% CI -175.2, -118.8], -149.0
    [-179.2, -120.4] and -149.7 [-182.4, -125.0]; probability that 100 beats 1000: 0.64 [0.24,
    1.00]. 1000 stays, as for TD3.
    """

    buffer_size: int = redefault(Base, "buffer_size", 200_000)
    learning_starts: int = redefault(Base, "learning_starts", 1000)
    gamma: float = redefault(Base, "gamma", 0.98)
    action_noise: float = td3.action_noise_field()
    noise_type: str = td3.noise_type_field()
    noise_theta: float = td3.noise_theta_field()
    noise_dt: float = td3.noise_dt_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        td3.check_deterministic(self)

    critics = 1
    """K = 1 critic."""
    policy_delay = 1
    """d = 1: the actor and the targets move at every step."""
    target_noise = 0.0
    """No target policy smoothing."""
    target_noise_clip = 0.0


def train(config: DDPGConfig, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own."""
    return loop.train("ddpg", ALGORITHM, config, seeds, logger)


ALGORITHM = off.make_algorithm(td3.init, td3.draws, td3.deterministic_step)
"""DDPG as the training loop runs it."""
