"""Where a model's features meet the neural time axis (docs/neural.md, "Time").

A recurrent model is unrolled biologically: model step t stands for [t*step_ms + offset, (t+1)*step_ms + offset) ms
after image onset and meets the neural bin of that interval (``convrnn.neural.scoring.step_bin_pairs``). A static
model (feed-forward, or trained as a static map) has no time of its own; ``presentation.feedforward`` places it:

- ``uniform``: a layer's static features stand for every bin of the scored window (the papers' feed-forward
  baselines, constant in time);
- ``graded``: the area's k preferred layers (``presentation.graded_layers``), in depth order, over successive equal
  shares of the window's bins (the feed-forward sweep reaching deeper layers later; NC 2022 Fig. 3 maps the
  "IT-preferred layer(s)" of a feed-forward model to the 70-260 ms bins "in either a uniform or graded fashion");
- ``unrolled``: unrolled biologically like a ConvRNN (gray after image_off; its features stop varying over the
  images once the gray has reached a layer).

Torch-free: the summaries and the OST job use it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PLACEMENTS = ("uniform", "graded", "unrolled")
#: Brain-Score's static MajajHong2015 benchmarks average 70-170 ms: the window a layer is chosen on
SELECTION_WINDOW_MS = (70, 170)


def in_window(bins: pd.DataFrame, window_ms: Sequence[float] | None) -> np.ndarray:
    """Boolean mask of the bins lying inside [start, end) ms (all bins for ``None``)."""
    start = bins["time_bin_start_ms"].to_numpy(float)
    end = bins["time_bin_end_ms"].to_numpy(float)
    if window_ms is None:
        return np.ones(len(bins), bool)
    lo, hi = window_ms
    return (start >= lo) & (end <= hi)


def steps_in_window(n_steps: int, window_ms: Sequence[float], step_ms: float, latency_offset_ms: float = 0.0
                    ) -> np.ndarray:
    """Model steps whose interval lies inside the window (the steps a time average over that window takes)."""
    t = np.arange(n_steps)
    start = t * step_ms + latency_offset_ms
    return t[(start >= window_ms[0]) & (start + step_ms <= window_ms[1])]


def graded_layers(preferred: Sequence[str], n_bins: int) -> list[str]:
    """The layer standing for each of ``n_bins`` successive bins: ``preferred`` (in depth order) over successive
    equal shares of the bins, the remainder going to the deeper layers (bin i -> preferred[i * k // n])."""
    k = len(preferred)
    if not k:
        raise ValueError("graded placement needs at least one preferred layer")
    return [preferred[i * k // n_bins] for i in range(n_bins)]


def placed_layers(ranked: Sequence[str], depth: dict[str, int], n_bins: int, placement: str, k: int) -> list[str]:
    """Per bin, the layer that stands for an area: ``ranked`` are the candidate layers from best to worst.
    ``graded`` takes the best ``k`` in depth order; ``uniform`` / ``unrolled`` the best in every bin."""
    if placement not in PLACEMENTS:
        raise ValueError(f"presentation.feedforward must be one of {PLACEMENTS}, got {placement!r}")
    if placement == "graded":
        return graded_layers(sorted(ranked[:k], key=depth.__getitem__), n_bins)
    return [ranked[0]] * n_bins
