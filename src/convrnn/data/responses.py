"""Neural responses as a dense trial array, and the time-bin-streamed Parquet table they live in.

The long table (one row per stimulus x site x time bin x repetition) is pivoted into
``trials`` (R, N, S, B). HvM has unequal repetition counts per stimulus, so absent
repetitions are NaN and every reduction over R is a nanmean.

At MajajHong size the long table has ~1e9 rows (far more than a job's memory), so it is written by
:func:`write_responses` with every Parquet row group holding one time bin, and read back one bin
(and one row group) at a time by :meth:`NeuralData.from_parquet` / :func:`iter_bins`. The file's
key-value metadata lists the stimuli, sites and repetition labels, so every bin pivots onto the
same axes without a pass over the whole table.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

LONG_COLUMNS = ("stimulus_id", "site", "region", "time_bin_start_ms", "time_bin_end_ms", "repetition", "response")
BIN_COLUMNS = ["time_bin_start_ms", "time_bin_end_ms"]
_KEY_COLUMNS = ("stimulus_id", "site", "region")
RESPONSE_SCHEMA = pa.schema([
    ("stimulus_id", pa.dictionary(pa.int32(), pa.string())),
    ("site", pa.dictionary(pa.int32(), pa.string())),
    ("region", pa.dictionary(pa.int32(), pa.string())),
    ("time_bin_start_ms", pa.int32()), ("time_bin_end_ms", pa.int32()),
    ("repetition", pa.int32()), ("response", pa.float32()),
])
ROW_GROUP_ROWS = 1 << 22  # ~100 MB of decoded rows: the most a reader holds besides the dense trials
_AXES_KEY = b"convrnn.responses.axes"


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

    @classmethod
    def from_parquet(cls, path, stimulus_ids=None, bins=None, regions=None) -> "NeuralData":
        """Read a :func:`write_responses` table, one row group at a time: only the row groups of the requested
        ``bins`` ((start, end) tuples; default all) are decoded. ``stimulus_ids`` fixes the stimulus order (default:
        all, sorted); ``regions`` keeps those regions' sites. Repetitions are every label in the file, sorted, so
        bins read separately share one trial axis."""
        f = _ResponseFile(path)
        ids = f.stimulus_ids if stimulus_ids is None else f.check_stimuli(stimulus_ids)
        sites = f.sites if regions is None else f.select_regions(regions)
        bins_df = f.bins if bins is None else f.select_bins(bins)
        seen = np.zeros(len(ids), bool)
        slabs = (f.read_bin(b, ids, sites["site"], seen) for b in bins_df.itertuples(index=False, name=None))
        if len(bins_df) == 1:  # the streaming case: a view, no second copy of the bin
            trials = next(slabs)[..., None]
        else:
            trials = np.full((len(f.repetitions), len(ids), len(sites), len(bins_df)), np.nan, np.float32)
            for k, slab in enumerate(slabs):
                trials[..., k] = slab
        if not seen.all():
            raise ValueError(f"{f.path}: no rows for {int((~seen).sum())} stimulus_id(s), "
                             f"e.g. {list(ids[~seen][:5])}")
        return cls(trials, ids, sites, bins_df)

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


# ------------------------------------------------------------------------------- streamed Parquet table
def write_responses(path, chunks: Iterable[pd.DataFrame | pa.Table] | pd.DataFrame | pa.Table) -> Path:
    """Write long response tables (``LONG_COLUMNS``) atomically, every row group holding exactly one time bin.

    ``chunks`` may be one DataFrame (or pyarrow Table) or any iterable of them (e.g. a converter's per-bin slices),
    so the caller
    never needs the whole table in memory; a chunk spanning several bins is split. Columns are stored as
    ``RESPONSE_SCHEMA`` (ids dictionary-encoded, bins and repetitions int32, responses float32)."""
    from convrnn.io import atomic_path

    if isinstance(chunks, (pd.DataFrame, pa.Table)):
        chunks = [chunks]
    path = Path(path)
    axes = _Axes()
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, RESPONSE_SCHEMA)
        try:
            for chunk in chunks:
                table = _chunk_to_arrow(chunk, path)
                axes.add(table, path)
                for part in _split_by_bin(table):
                    writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
            if not axes.stimuli:
                raise ValueError(f"{path}: no response rows to write")
            writer.add_key_value_metadata({_AXES_KEY: axes.to_json()})
        finally:
            writer.close()
    return path


def response_bins(path) -> pd.DataFrame:
    """The table's time bins (``time_bin_start_ms, time_bin_end_ms``), sorted, from row-group statistics."""
    return _ResponseFile(path).bins


def response_sites(path) -> pd.DataFrame:
    """The table's sites (``site, region``), sorted by site, from the file's metadata."""
    return _ResponseFile(path).sites


def iter_bins(path, stimulus_ids=None, regions=None) -> Iterator[NeuralData]:
    """One single-bin :class:`NeuralData` per time bin, in time order (see :meth:`NeuralData.from_parquet`)."""
    for b in response_bins(path).itertuples(index=False, name=None):
        yield NeuralData.from_parquet(path, stimulus_ids=stimulus_ids, bins=[b], regions=regions)


def _chunk_to_arrow(chunk: pd.DataFrame | pa.Table, path: Path) -> pa.Table:
    names = list(chunk.column_names if isinstance(chunk, pa.Table) else chunk.columns)
    missing = [c for c in LONG_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path}: response chunk is missing column(s) {missing}; has {names}")
    cols = []
    for field in RESPONSE_SCHEMA:
        # pa.array keeps a pandas categorical as dictionary codes: no Python string per row
        arr = chunk[field.name].combine_chunks() if isinstance(chunk, pa.Table) else pa.array(chunk[field.name])
        if arr.null_count and field.name != "response":
            raise ValueError(f"{path}: column {field.name!r} has missing values")
        if field.name in _KEY_COLUMNS:
            if pa.types.is_dictionary(arr.type):
                arr = pa.DictionaryArray.from_arrays(arr.indices, arr.dictionary.cast(pa.string()))
            else:
                arr = arr.cast(pa.string()).dictionary_encode()
            arr = arr.cast(field.type)
        elif not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
            raise ValueError(f"{path}: column {field.name!r} must be numeric, got {arr.type}")
        else:
            arr = arr.cast(field.type, safe=field.name != "response")
        cols.append(arr)
    table = pa.Table.from_arrays(cols, schema=RESPONSE_SCHEMA)
    if len(table) and (np.asarray(table["time_bin_end_ms"]) <= np.asarray(table["time_bin_start_ms"])).any():
        raise ValueError(f"{path}: time_bin_end_ms must exceed time_bin_start_ms")
    return table


def _split_by_bin(table: pa.Table) -> list[pa.Table]:
    if not len(table):
        return []
    if all(np.ptp(np.asarray(table[c])) == 0 for c in BIN_COLUMNS):  # the common case: a converter's one-bin chunk
        return [table]
    start = np.asarray(table["time_bin_start_ms"]).astype(np.int64)
    key = (start << 32) | np.asarray(table["time_bin_end_ms"]).astype(np.int64)
    codes, _ = pd.factorize(key)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))
    ordered = table.take(order)
    return [ordered.slice(lo, hi - lo) for lo, hi in zip(np.r_[0, bounds[:-1]], bounds)]


def _used_values(column: pa.ChunkedArray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(dictionary values, used codes) per chunk, without decoding a string per row."""
    return [(c.dictionary.to_numpy(zero_copy_only=False), pd.unique(c.indices.to_numpy())) for c in column.chunks]


class _Axes:
    """Stimuli, sites (with their one region) and repetition labels seen across all chunks."""

    def __init__(self):
        self.stimuli, self.site_region, self.repetitions = set(), {}, set()

    def add(self, table: pa.Table, path: Path):
        for values, used in _used_values(table["stimulus_id"]):
            self.stimuli.update(values[used].tolist())
        self.repetitions.update(pd.unique(np.asarray(table["repetition"])).tolist())
        for site, region in zip(table["site"].chunks, table["region"].chunks):
            # hashing int64 pair keys: np.unique(axis=0) on ~1e7 rows takes tens of seconds
            key = pd.unique(site.indices.to_numpy().astype(np.int64) << 32 | region.indices.to_numpy())
            names = site.dictionary.to_numpy(zero_copy_only=False)[key >> 32]
            areas = region.dictionary.to_numpy(zero_copy_only=False)[key & 0xFFFFFFFF]
            for name, area in zip(names.tolist(), areas.tolist()):
                if self.site_region.setdefault(name, area) != area:
                    raise ValueError(f"{path}: site {name!r} has >1 region ({self.site_region[name]!r}, {area!r})")

    def to_json(self) -> str:
        sites = sorted(self.site_region)
        return json.dumps({"stimulus_ids": sorted(self.stimuli), "sites": sites,
                           "regions": [self.site_region[s] for s in sites],
                           "repetitions": sorted(self.repetitions)})


class _ResponseFile:
    """A :func:`write_responses` table: its axes (from metadata) and the time bin of each row group (statistics)."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such response table")
        try:
            self.file = pq.ParquetFile(self.path, read_dictionary=list(_KEY_COLUMNS))
        except (pa.ArrowException, OSError) as e:  # pyarrow's own message does not name the file
            raise ValueError(f"{self.path}: not a readable Parquet file ({e})") from e
        names = self.file.schema_arrow.names
        missing = [c for c in LONG_COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{self.path}: missing column(s) {missing}; has {names}")
        meta = self.file.metadata
        if _AXES_KEY not in (meta.metadata or {}):
            raise ValueError(f"{self.path}: no axes metadata; write the table with convrnn.data.responses.write_responses")
        axes = json.loads(meta.metadata[_AXES_KEY])
        self.stimulus_ids = np.asarray(axes["stimulus_ids"], dtype=object)
        self.sites = pd.DataFrame({"site": axes["sites"], "region": axes["regions"]})
        self.repetitions = np.asarray(axes["repetitions"])
        pos = {c: names.index(c) for c in BIN_COLUMNS}
        rows = []
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            stats = [rg.column(pos[c]).statistics for c in BIN_COLUMNS]
            if any(st is None or not st.has_min_max or st.min != st.max for st in stats):
                raise ValueError(f"{self.path}: row group {g} spans several time bins (or has no statistics); "
                                 "write the table with convrnn.data.responses.write_responses")
            rows.append((stats[0].min, stats[1].min, g))
        self.row_groups = pd.DataFrame(rows, columns=BIN_COLUMNS + ["row_group"])
        self.bins = (self.row_groups[BIN_COLUMNS].drop_duplicates().sort_values(BIN_COLUMNS, ignore_index=True)
                     .astype("int64"))

    def check_stimuli(self, stimulus_ids) -> np.ndarray:
        ids = np.asarray(stimulus_ids, dtype=object)
        if len(pd.unique(ids)) != len(ids):
            raise ValueError("stimulus_ids contains duplicates")
        absent = pd.Index(ids).difference(pd.Index(self.stimulus_ids))
        if len(absent):
            raise ValueError(f"{self.path}: no rows for {len(absent)} stimulus_id(s), e.g. {list(absent[:5])}")
        return ids

    def select_regions(self, regions) -> pd.DataFrame:
        regions = [regions] if isinstance(regions, str) else list(regions)
        unknown = sorted(set(regions) - set(self.sites["region"]))
        if unknown:
            raise ValueError(f"{self.path}: region(s) {unknown} not in data (has {sorted(self.sites.region.unique())})")
        return self.sites[self.sites["region"].isin(regions)].reset_index(drop=True)

    def select_bins(self, bins) -> pd.DataFrame:
        want = pd.DataFrame([tuple(b) for b in bins], columns=BIN_COLUMNS).astype("int64")
        known = pd.MultiIndex.from_frame(self.bins)
        absent = ~pd.MultiIndex.from_frame(want).isin(known)
        if absent.any():
            raise ValueError(f"{self.path}: no time bin(s) {want[absent].to_records(index=False).tolist()}; has "
                             f"{self.bins.to_records(index=False).tolist()}")
        return want

    def read_bin(self, b, ids, sites, seen) -> np.ndarray:
        """Dense (R, N, S) trials of one bin, scattered row group by row group; marks stimuli with rows in ``seen``."""
        groups = self.row_groups.loc[(self.row_groups.time_bin_start_ms == b[0])
                                     & (self.row_groups.time_bin_end_ms == b[1]), "row_group"]
        slab = np.full((len(self.repetitions), len(ids), len(sites)), np.nan, np.float32)
        filled = np.zeros(slab.shape, bool)
        id_index, site_index = pd.Index(ids), pd.Index(sites)
        for g in groups:
            t = self.file.read_row_group(int(g), columns=["stimulus_id", "site", "repetition", "response"])
            n = _codes(t["stimulus_id"], id_index)
            s = _codes(t["site"], site_index)
            r = np.searchsorted(self.repetitions, np.asarray(t["repetition"]))
            keep = (n >= 0) & (s >= 0)
            flat = np.ravel_multi_index((r[keep], n[keep], s[keep]), slab.shape)
            ordered = np.sort(flat)
            if (ordered[1:] == ordered[:-1]).any() or filled.reshape(-1)[flat].any():
                raise ValueError(f"{self.path}: duplicate rows for the same (stimulus_id, site, time bin {b}, "
                                 "repetition)")
            filled.reshape(-1)[flat] = True
            slab.reshape(-1)[flat] = np.asarray(t["response"])[keep]
            seen[np.unique(n[keep])] = True
        empty = filled.any(axis=(0, 2)) & ~np.isfinite(slab).any(axis=(0, 2))
        if empty.any():
            raise ValueError(f"{self.path}: stimulus_id(s) {list(np.asarray(ids)[empty][:5])} have rows but no finite "
                             f"response in time bin {tuple(b)} (no site, no repetition)")
        return slab


def _codes(column: pa.ChunkedArray, index: pd.Index) -> np.ndarray:
    """Positions in ``index`` (-1: not wanted) of a dictionary column's values, mapped through its small dictionary."""
    return np.concatenate([index.get_indexer(c.dictionary.to_numpy(zero_copy_only=False))[c.indices.to_numpy()]
                           for c in column.chunks]) if column.num_chunks else np.empty(0, np.intp)
