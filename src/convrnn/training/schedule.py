"""Learning rate as a pure function of the global step.

A function of the step (rather than a stateful torch scheduler) makes resuming trivial: the only
scheduler state is the step counter, which the checkpoint already holds.
"""
from __future__ import annotations

import math

from .config import TrainConfig


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """LR for the update that moves the step counter from ``step`` to ``step + 1``."""
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        epoch = step / steps_per_epoch
        return cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
    span = max(total_steps - warmup, 1)  # cosine: from lr after warmup to 0 at the last update
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * (step - warmup) / span))
