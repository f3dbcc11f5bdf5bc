"""pgrad: policy-gradient reinforcement learning, from the theorem to PPO."""

from pgrad.envs import make_vec
from pgrad.training.agent import Agent, load

__version__ = "0.1.0"
__all__ = ["Agent", "load", "make_vec"]
