"""Limiting dynamics of SGD (Kunin et al.): distance from a late reference point vs. number of updates.

Long after the loss plateaus, parameters keep moving; ||theta_k - theta_k0|| grows as (k - k0)^c.
c = 0.5 is ordinary diffusion (a random walk), c = 1 ballistic drift, c < 0.5 sub-diffusion (a walk held
in a basin, e.g. by weight decay), 0.5 < c < 1 super-diffusion.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

DYNAMICS_COLUMNS = ["step", "steps_since_ref", "distance"]


class DistanceTracker:
    """Keeps theta_k0 as one flat float32 copy and computes ||theta_k - theta_k0|| without building theta_k."""

    def __init__(self, params: Iterable[torch.nn.Parameter]):
        self.params = [p for p in params if p.requires_grad]
        self.reference: torch.Tensor | None = None

    @torch.no_grad()
    def set_reference(self) -> None:
        self.reference = torch.cat([p.detach().float().flatten() for p in self.params])

    @torch.no_grad()
    def distance(self) -> float:
        if self.reference is None:
            raise RuntimeError("DistanceTracker.distance() called before set_reference()")
        total = torch.zeros((), dtype=torch.float64, device=self.reference.device)
        offset = 0
        for p in self.params:
            n = p.numel()
            total += (p.detach().float().flatten() - self.reference[offset : offset + n]).pow(2).sum().double()
            offset += n
        return float(total.sqrt())


def fit_diffusion_exponent(steps: Sequence[float], distance: Sequence[float]) -> dict:
    """Least-squares fit of log(distance) = log(prefactor) + c * log(steps).

    ``steps`` are steps since the reference (k - k0); points with steps <= 0 (the reference itself) or
    distance <= 0 have no logarithm and are skipped. Returns exponent, prefactor, r2, n_points.
    """
    s = np.asarray(steps, dtype=np.float64)
    d = np.asarray(distance, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 1:
        raise ValueError(f"steps and distance must be 1-D and equally long, got {s.shape} and {d.shape}")
    keep = (s > 0) & (d > 0) & np.isfinite(s) & np.isfinite(d)
    n = int(keep.sum())
    if n < 2:
        raise ValueError(f"need >= 2 points with steps > 0 and distance > 0 to fit an exponent, got {n}")
    x, y = np.log(s[keep]), np.log(d[keep])
    c, log_a = np.polyfit(x, y, 1)
    resid = y - (c * x + log_a)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {"exponent": float(c), "prefactor": float(np.exp(log_a)), "r2": r2, "n_points": n}


def classify_exponent(c: float, tol: float = 0.05) -> str:
    if c < 0.5 - tol:
        return "sub-diffusive"
    if c <= 0.5 + tol:
        return "diffusive"
    if c < 1.0 - tol:
        return "super-diffusive"
    return "ballistic"


def anomalous_diffusion_summary(
    dynamics: pd.DataFrame | str | os.PathLike, min_steps_since_ref: int = 1, tol: float = 0.05
) -> dict:
    """Exponent fit of a dynamics table (or dynamics.parquet) plus a regime label.

    Also fits the early and late halves (in log-steps) separately: a late exponent well below the early one
    is the signature of a walk that saturates (bounded / sub-diffusive) rather than a clean power law.
    """
    if not isinstance(dynamics, pd.DataFrame):
        from convrnn.io import read_parquet

        dynamics = read_parquet(dynamics, required=DYNAMICS_COLUMNS)
    missing = [c for c in DYNAMICS_COLUMNS if c not in dynamics.columns]
    if missing:
        raise ValueError(f"dynamics table: missing column(s) {missing}")
    df = dynamics[dynamics["steps_since_ref"] >= min_steps_since_ref].sort_values("steps_since_ref")
    fit = fit_diffusion_exponent(df["steps_since_ref"].to_numpy(), df["distance"].to_numpy())
    out = {**fit, "regime": classify_exponent(fit["exponent"], tol), "max_steps_since_ref": int(df["steps_since_ref"].max())}
    logs = np.log(df["steps_since_ref"].to_numpy(dtype=np.float64))
    mid = 0.5 * (logs.min() + logs.max())
    for name, part in (("early", df[logs <= mid]), ("late", df[logs > mid])):
        try:
            out[f"exponent_{name}"] = fit_diffusion_exponent(part["steps_since_ref"], part["distance"])["exponent"]
        except ValueError:
            out[f"exponent_{name}"] = float("nan")
    return out
