"""Per-seed randomness: every seed owns its generators, so a seed's run does not depend on
which other seeds run beside it."""

from __future__ import annotations

import numpy as np


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Seed s owns two independent streams: (training, evaluation)."""
    train_seq, eval_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train_seq), np.random.default_rng(eval_seq)
