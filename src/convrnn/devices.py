"""The torch device a job runs on, from the config's ``device`` (auto | cpu | cuda)."""
from __future__ import annotations

import torch


def resolve_device(requested="auto", local_rank: int = 0) -> torch.device:
    """``auto``: the GPU of this rank when there is one, else the CPU; ``cuda`` without a GPU is an error. A
    ``torch.device`` passes through."""
    if isinstance(requested, torch.device):
        return requested
    requested = "auto" if requested is None else str(requested)
    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, got {requested!r}")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device: {requested!r} requested but no CUDA device is available (use 'auto' or 'cpu')")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return torch.device(requested if requested.startswith("cuda:") else "cpu")
