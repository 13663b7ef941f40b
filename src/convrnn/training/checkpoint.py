"""Pickle-free, atomic training checkpoints.

Everything in a checkpoint is a tensor, a state dict or a primitive, so it loads with
``torch.load(weights_only=True)``. RNG states are stored as tensors for the same reason.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convrnn.io import atomic_path

CHECKPOINT_FORMAT = 1


def capture_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()  # ('MT19937', keys uint32[624], pos, has_gauss, cached_gaussian)
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_cached_gaussian": float(np_state[4]),
        "python_version": int(py_version),
        "python_internal": torch.tensor(py_internal, dtype=torch.int64),
        "python_gauss": py_gauss,
    }


def restore_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])
    np.random.set_state(
        ("MT19937", s["numpy_keys"].numpy().astype(np.uint32), s["numpy_pos"], s["numpy_has_gauss"], s["numpy_cached_gaussian"])
    )
    random.setstate((s["python_version"], tuple(int(v) for v in s["python_internal"].tolist()), s["python_gauss"]))


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None if there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file cannot come from atomic_path, but say which file if it happens
        raise ValueError(f"{path}: unreadable checkpoint ({e})") from e
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    return state
