"""pgrad: policy-gradient reinforcement learning, from the theorem to PPO."""

__version__ = "0.1.0"
