"""The pipeline's trial objective: build the sampled ConvRNN, train it briefly, return val top-1.

The paper trained each sampled model for a short time at low resolution (~5 epochs at 128 px, unverified:
docs/references.md, Architecture search). Here resolution and length are the caller's: pass low-resolution
datasets and a ``train_config`` with a small ``max_steps`` / ``epochs``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping


def training_objective(base_name: str, train_set, val_set, train_config: Mapping, out_root: str | os.PathLike,
                       model_kwargs: Mapping | None = None) -> Callable[[Mapping], float]:
    """-> ``objective(trial) -> val_top1`` for ``run_worker``; NaN when training diverged.

    ``trial`` is ``{"number": n, "cell": {...}, "edges": [...]}``; the model is
    ``build(base_name, cell=..., edges=..., **model_kwargs)`` (e.g. width, num_classes, times, image_off)
    and trains into ``out_root/trial_<n>``. Build/training errors propagate: the worker records them as FAIL.
    """
    from convrnn.models import build
    from convrnn.training import TrainConfig, fit

    model_kwargs = dict(model_kwargs or {})
    clash = sorted({"cell", "edges"} & set(model_kwargs))
    if clash:
        raise ValueError(f"model_kwargs must not set {clash}: the search samples them")
    cfg = TrainConfig.from_dict(dict(train_config))   # validate once, before any trial runs
    seed = int(train_config.get("seed", 0))

    def objective(trial: Mapping) -> float:
        import torch

        torch.manual_seed(seed + trial["number"])  # reproducible initial weights per trial
        model = build(base_name, cell=dict(trial["cell"]), edges=[list(e) for e in trial["edges"]], **model_kwargs)
        result = fit(model, train_set, val_set, cfg, Path(out_root) / f"trial_{trial['number']:05d}")
        if result.get("diverged"):
            return float("nan")
        return float(result["val_top1"])

    return objective
