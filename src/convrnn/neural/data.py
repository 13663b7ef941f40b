"""Neural responses as a dense trial array.

The long table (one row per stimulus x site x time bin x repetition) is pivoted once into
``trials`` (R, N, S, B). HvM has unequal repetition counts per stimulus, so absent
repetitions are NaN and every reduction over R is a nanmean.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LONG_COLUMNS = ("stimulus_id", "site", "region", "time_bin_start_ms", "time_bin_end_ms", "repetition", "response")
BIN_COLUMNS = ["time_bin_start_ms", "time_bin_end_ms"]


@dataclass
class NeuralData:
    trials: np.ndarray          # float32 (R, N, S, B): repetitions x stimuli x sites x bins, NaN = no trial
    stimulus_ids: np.ndarray    # (N,)
    sites: pd.DataFrame         # (S rows) site, region
    bins: pd.DataFrame          # (B rows) time_bin_start_ms, time_bin_end_ms

    def __post_init__(self):
        self.trials = np.asarray(self.trials, np.float32)
        self.stimulus_ids = np.asarray(self.stimulus_ids)
        self.sites = self.sites.reset_index(drop=True)
        self.bins = self.bins.reset_index(drop=True)
        if self.trials.ndim != 4:
            raise ValueError(f"trials must be (R, N, S, B), got shape {self.trials.shape}")
        _, n, s, b = self.trials.shape
        for name, got, want in [("stimulus_ids", len(self.stimulus_ids), n), ("sites", len(self.sites), s),
                                ("bins", len(self.bins), b)]:
            if got != want:
                raise ValueError(f"{name} has {got} entries but trials has {want} along that axis")
        for name, df, cols in [("sites", self.sites, ["site", "region"]), ("bins", self.bins, BIN_COLUMNS)]:
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise ValueError(f"{name} is missing column(s) {missing}")

    @classmethod
    def from_long(cls, df: pd.DataFrame, stimulus_ids=None) -> "NeuralData":
        """Pivot the long response table. ``stimulus_ids`` fixes the stimulus order (and subset);
        by default stimuli are sorted. Sites and bins are sorted; repetitions keep their labels' order."""
        missing = [c for c in LONG_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"neural responses: missing column(s) {missing}; has {list(df.columns)}")
        if stimulus_ids is None:
            stimulus_ids = np.sort(df["stimulus_id"].unique())
        else:
            stimulus_ids = np.asarray(stimulus_ids)
            if len(pd.unique(stimulus_ids)) != len(stimulus_ids):
                raise ValueError("stimulus_ids contains duplicates")
            absent = pd.Index(stimulus_ids).difference(pd.Index(df["stimulus_id"].unique()))
            if len(absent):
                raise ValueError(f"neural responses: no rows for {len(absent)} stimulus_id(s), e.g. {list(absent[:5])}")
            df = df[df["stimulus_id"].isin(stimulus_ids)]

        regions = df.groupby("site", sort=True)["region"].agg(["nunique", "first"])
        if (regions["nunique"] > 1).any():
            raise ValueError(f"neural responses: site(s) {list(regions.index[regions['nunique'] > 1][:5])} have >1 region")
        sites = pd.DataFrame({"site": regions.index.to_numpy(), "region": regions["first"].to_numpy()})

        # Integer codes per axis (vectorised; ~10M rows pivot in a few seconds).
        n_idx = pd.Index(stimulus_ids).get_indexer(df["stimulus_id"])
        s_idx = pd.Index(sites["site"]).get_indexer(df["site"])
        bin_keys = pd.MultiIndex.from_frame(df[BIN_COLUMNS])
        bins = bin_keys.unique().sort_values()
        b_idx = bins.get_indexer(bin_keys)
        r_labels, r_idx = np.unique(df["repetition"].to_numpy(), return_inverse=True)
        if pd.isna(df["response"]).any() and not np.issubdtype(df["response"].dtype, np.floating):
            raise ValueError("neural responses: column 'response' must be numeric")

        trials = np.full((len(r_labels), len(stimulus_ids), len(sites), len(bins)), np.nan, np.float32)
        flat = np.ravel_multi_index((r_idx, n_idx, s_idx, b_idx), trials.shape)
        ordered = np.sort(flat)  # a sort beats np.unique's hashing ~10x here
        if (ordered[1:] == ordered[:-1]).any():
            raise ValueError("neural responses: duplicate rows for the same (stimulus_id, site, time bin, repetition)")
        trials.reshape(-1)[flat] = df["response"].to_numpy(np.float32)
        bins_df = pd.DataFrame(bins.tolist(), columns=BIN_COLUMNS)
        return cls(trials, stimulus_ids, sites, bins_df)

    def to_long(self) -> pd.DataFrame:
        """Inverse of :meth:`from_long` (absent trials are dropped; repetitions are numbered 0..R-1)."""
        r, n, s, b = np.nonzero(np.isfinite(self.trials))
        return pd.DataFrame({
            "stimulus_id": self.stimulus_ids[n],
            "site": self.sites["site"].to_numpy()[s],
            "region": self.sites["region"].to_numpy()[s],
            "time_bin_start_ms": self.bins["time_bin_start_ms"].to_numpy()[b],
            "time_bin_end_ms": self.bins["time_bin_end_ms"].to_numpy()[b],
            "repetition": r,
            "response": self.trials[r, n, s, b],
        })

    @property
    def n_repetitions(self) -> np.ndarray:
        """(N,) number of recorded repetitions per stimulus (max over sites and bins)."""
        return np.isfinite(self.trials).sum(0).max(axis=(1, 2))

    def mean(self) -> np.ndarray:
        """Trial average (N, S, B), NaN-aware."""
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
            return np.nanmean(self.trials, axis=0)

    def select(self, region=None, sites=None, stimulus_ids=None) -> "NeuralData":
        """Subset by region name(s), site name(s) and/or stimulus ids (in the given order)."""
        keep = np.ones(len(self.sites), bool)
        if region is not None:
            regions = [region] if isinstance(region, str) else list(region)
            unknown = set(regions) - set(self.sites["region"])
            if unknown:
                raise ValueError(f"region {sorted(unknown)} not in data (has {sorted(self.sites['region'].unique())})")
            keep &= self.sites["region"].isin(regions).to_numpy()
        if sites is not None:
            keep &= self.sites["site"].isin(list(sites)).to_numpy()
        n_idx = slice(None)
        ids = self.stimulus_ids
        if stimulus_ids is not None:
            n_idx = pd.Index(self.stimulus_ids).get_indexer(np.asarray(stimulus_ids))
            if (n_idx < 0).any():
                raise ValueError(f"stimulus_ids not in data: {list(np.asarray(stimulus_ids)[n_idx < 0][:5])}")
            ids = self.stimulus_ids[n_idx]
        return NeuralData(self.trials[:, n_idx][:, :, keep], ids, self.sites[keep], self.bins)
