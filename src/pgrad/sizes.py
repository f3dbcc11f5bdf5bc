"""Up-front memory estimates: a request that cannot fit in this machine's memory is refused
before anything is allocated, with the estimate in the message.

The estimates count the large arrays each piece of pgrad holds at once (bytes, Python ints,
so that absurd sizes cannot overflow); they are meant to be right within a small factor, not
exact. Below them, training allocates what it needs as it goes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from pgrad.folders import format_bytes

if TYPE_CHECKING:
    from pgrad.policies import Policy

GYM_ENV_BYTES = 64 * 1024
"""What one Gymnasium environment instance is taken to hold (its state, spaces and wrappers)."""
SLACK = 2
"""Temporaries beside the counted arrays."""


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(what: str, nbytes: int, hint: str = "") -> None:
    """A one-line ValueError if ``nbytes`` exceed this machine's memory."""
    total = machine_memory()
    if nbytes > total:
        raise ValueError(f"{what} needs about {format_bytes(nbytes)} of memory; this machine has "
                         f"{format_bytes(total)}{hint}")


def rollout_bytes(num_envs: int, horizon: int, obs_dim: int, params: int, step_draws: int = 0,
                  itemsize: int = 8) -> int:
    """The lockstep episodic rollout of ``num_envs`` = S * K episodes of at most ``horizon`` steps:
    observations, actions, rewards, flags, noise and transition draws per step, and one row of
    parameters per environment."""
    per_step = itemsize * obs_dim + 8 + itemsize + 2 + 8 * (1 + step_draws)
    return SLACK * (horizon * num_envs * per_step + num_envs * params * itemsize)


def reinforce_bytes(config: Any, num_seeds: int) -> int:
    """REINFORCE: the rollout of S * K episodes (on Gymnasium ids also the S * K environments),
    the episode records, the value baseline's parameters and fit, the full score of policies
    without a factored one (Gaussian), and the evaluation."""
    from pgrad.algorithms.reinforce import horizon, make_policy
    from pgrad.rollout import _pgrad_dynamics, env_spec
    from pgrad.values import LinearValue

    spec = env_spec(config.env_id)
    policy = make_policy(config, spec)
    d, n, m = policy.dim, spec.obs_dim, spec.action_dim
    S, K, E = num_seeds, config.episodes_per_update, config.eval_episodes
    H = horizon(config)
    dynamics = _pgrad_dynamics(config.env_id)
    if dynamics is not None:
        itemsize, q = (4 if config.float32 else 8), dynamics.step_draws
        train = rollout_bytes(S * K, H, n, d, q, itemsize)
        evaluation = rollout_bytes(S * E, H, n, d, q)
    else:  # gym_rollout: float64 rows, K Gymnasium environments per seed
        train = rollout_bytes(S * K, H, n, d) + S * K * GYM_ENV_BYTES
        evaluation = S * E * (GYM_ENV_BYTES + 8 * (n + d))
    actions = SLACK * H * S * K * 8 * 2 * m  # Box actions and their noise: m numbers a step
    records = S * (config.max_episodes + config.episodes_per_update) * 40
    F = LinearValue(n + 1).dim
    value = S * F * 8  # V's parameters, held whatever the baseline
    if config.baseline == "value":  # one seed's fit at a time: features of its K * H steps, F x F
        value += SLACK * 8 * (K * H * F + F * F)
    score = 0 if hasattr(policy, "score_factors") else SLACK * 8 * max(1 << 16, K * H) * d
    return max(train + actions + records + value + score, evaluation)


def actor_critic_bytes(config: Any, num_seeds: int) -> tuple[int, int]:
    """A2C / PPO: (total, the part that grows with the value features).

    The segment (observations and next observations, actions, rewards, flags), the seed-first
    copies of the samples, the value features of every sample and the normal equations of the
    linear fit (F^2 per seed), the parameters with Adam's moments, the MLP activations of a
    minibatch, the Gymnasium environments (for ids pgrad does not implement) and the evaluation.
    """
    from pgrad.algorithms.actor_critic import make_agent
    from pgrad.envs import get_dynamics
    from pgrad.rollout import env_spec

    spec = env_spec(config.env_id)
    agent = make_agent(config, spec)
    S, N, T, n = num_seeds, config.num_envs, config.num_steps, spec.obs_dim
    M = N * T
    F, d = agent.value.dim, cast("Policy", agent.policy).dim  # Agent.policy is typed object
    m = max(spec.action_dim, 1)
    segment = T * S * N * (2 * 8 * n + 8 * m + 8 + 2) + S * M * (8 * n + 8 * m + 5 * 8)
    features = 2 * S * M * F * 8 + (0 if agent.mlp else 2 * S * F * F * 8)
    params = 5 * S * (d + F) * 8
    batch = getattr(config, "minibatch_size", M)
    activations = 6 * S * batch * config.hidden * config.depth * 4 if agent.mlp else 0
    try:
        dynamics = get_dynamics(config.env_id)
    except ValueError:
        dynamics = None
    envs = 0 if dynamics is not None else S * N * GYM_ENV_BYTES
    if dynamics is not None:
        evaluation = rollout_bytes(S * config.eval_episodes, dynamics.max_episode_steps, n, d,
                                   dynamics.step_draws)
    else:
        evaluation = S * config.eval_episodes * (GYM_ENV_BYTES + 8 * (n + d))
    total = SLACK * (segment + features + params + activations + envs)
    return max(total, evaluation), SLACK * features


def offpolicy_bytes(config: Any, num_seeds: int) -> int:
    """DDPG / TD3 / SAC: the replay buffers (float32 observations and actions, float64 rewards,
    flags), the actor and critics with their targets and Adam's moments (float32), a minibatch's
    activations, and the evaluation (one row of actor parameters per episode)."""
    from pgrad.algorithms.offpolicy import critic_net, make_actor
    from pgrad.rollout import env_spec

    spec = env_spec(config.env_id)
    S, C, n, m = num_seeds, config.capacity, spec.obs_dim, spec.action_dim
    buffer = S * C * (4 * (2 * n + m) + 8 + 2)
    d_pi, d_q = make_actor(config, spec).dim, critic_net(config, spec).dim
    params = S * 4 * 4 * (d_pi + 2 * d_q)
    activations = 8 * S * config.batch_size * sum(config.hidden) * 4 * 3
    evaluation = rollout_bytes(S * config.eval_episodes, config.time_limit, n, d_pi)
    return SLACK * (buffer + params + activations) + evaluation


def check_training(algo: str, config: Any, num_seeds: int) -> None:
    """Refuse (one-line ValueError) a training run that cannot fit in this machine's memory."""
    what = f"training {num_seeds:,} seed{'s' if num_seeds != 1 else ''} of {algo} on {config.env_id}"
    if algo in ("ddpg", "td3", "sac"):
        check_fits(what, offpolicy_bytes(config, num_seeds),
                   "; lower --seeds, --buffer-size, --net-arch or --eval-episodes")
        return
    if algo in ("reinforce", "npg"):
        check_fits(what, reinforce_bytes(config, num_seeds),
                   "; lower --seeds, --episodes-per-update, --max-episodes or --eval-episodes")
        return
    total, features = actor_critic_bytes(config, num_seeds)
    hint = "; lower --seeds, --num-envs, --num-steps, --hidden or --eval-episodes"
    if features * 2 > total:
        hint = ("; the value features dominate: use --value-features linear (or --policy mlp)"
                if config.policy == "linear" and config.value_features == "quadratic" else hint)
    check_fits(what, total, hint)


def check_evaluation(config: Any, num_seeds: int, num_episodes: int, policy_dim: int) -> None:
    """Refuse an evaluation of ``num_episodes`` per seed that cannot fit in memory."""
    from pgrad.envs import get_dynamics

    try:
        dynamics = get_dynamics(config.env_id)
        nbytes = rollout_bytes(num_seeds * num_episodes, dynamics.max_episode_steps, dynamics.obs_dim,
                               policy_dim, dynamics.step_draws)
    except ValueError:
        nbytes = num_seeds * num_episodes * (GYM_ENV_BYTES + 8 * policy_dim)
    check_fits(f"evaluating {num_episodes:,} episodes of {num_seeds} seed(s)", nbytes,
               "; lower --episodes")
