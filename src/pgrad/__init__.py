"""pgrad: policy-gradient reinforcement learning, from the theorem to PPO."""

from pgrad.envs import make_vec

__version__ = "0.1.0"
__all__ = ["make_vec"]
