"""Real Brain-Score data: sha1-checked download, and netCDF / csv+zip -> project Parquet.

Brain-Score stores assemblies as netCDF written from xarray with every MultiIndex reset, so on disk
each dimension (``presentation``, ``neuroid``, ``time_bin``, ``decoder``) carries plain coordinate
variables (``stimulus_id`` or the older ``image_id``, ``repetition``, ``object_name``, ``region``,
``neuroid_id``, ``time_bin_start``/``time_bin_end``) and there is one data variable (``data`` or
``__xarray_dataarray_variable__``). Stimulus sets are a csv (one row per image, ``filename`` = path
inside the zip) plus a zip of images. See docs/real_data.md.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from convrnn.data.brainscore_catalog import (FAULTY_SITES, TIME_ALIGN_MODES, CatalogEntry, aligned_step_bins,
                                             lookup, model_step_bins, time_align_kwargs, time_align_weights)
from convrnn.data.staged import check_cache_file, sha1_of
from convrnn.io import atomic_path, write_parquet

log = logging.getLogger(__name__)

#: Window given to assemblies without time-bin coordinates. 70-170 ms is the Brain-Score static
#: window (Schrimpf et al. 2018); not checked against the files here (docs/references.md, Real data).
STATIC_WINDOW_MS = (70, 170)
NEURAL_COLUMNS = ["stimulus_id", "site", "region", "time_bin_start_ms", "time_bin_end_ms", "repetition", "response"]
_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------- fetch
def brainio_home() -> Path:
    """Brain-Score's cache root: ``$BRAINIO_HOME``, default ``~/.brainio``."""
    return Path(os.path.expanduser(os.environ.get("BRAINIO_HOME", "~/.brainio")))


def staged_paths(entry: CatalogEntry) -> list[Path]:
    """Where a pre-staged copy of ``entry`` is looked for, in order: today's brainscore-core layout
    ``$BRAINIO_HOME/<sha1>/<file>``, then the brainio 2021-2024 layout ``$BRAINIO_HOME/<file stem>/<file>``
    (e.g. ``~/.brainio/assy_dicarlo_MajajHong2015_temporal-10ms/assy_dicarlo_MajajHong2015_temporal-10ms.nc``);
    in each, the current file name first, then the legacy ones."""
    home = brainio_home()
    out = []
    for name in (entry.filename, *entry.legacy_filenames):
        out.append(home / entry.sha1 / name)
    for name in (entry.filename, *entry.legacy_filenames):
        out.append(home / name.rsplit(".", 1)[0] / name)
    return out


class PrivateFileError(PermissionError):
    """The server refused the file (403): it is not public and the request had no (valid) credentials."""


def fetch(entry: str | CatalogEntry, cache_dir: str | os.PathLike, *,
          opener: Callable | None = None, timeout_s: float = 60.0) -> Path:
    """Return ``cache_dir/<filename>`` holding the entry's file, with its sha1 verified.

    Order: (1) a file already in ``cache_dir``: returned if its sha1 is right, refused (``StagedFileError``, the file
    left as it is) otherwise, since it may be a copy someone staged by hand; (2) a correct pre-staged Brain-Score
    cache file (``staged_paths``: ``$BRAINIO_HOME/<sha1>/<file>`` or ``$BRAINIO_HOME/<file stem>/<file>``), linked into
    ``cache_dir`` rather than copied (assemblies are GBs); a staged file with the wrong sha1 is refused (logged,
    named in any later error, and left where it is); (3) a streamed download of ``entry.url`` to a temp file,
    moved into place only when its length and sha1 match. ``opener(url, timeout=...)`` returns a response with
    ``headers`` and ``read``; default ``open_url``: boto3 with Brain-Score credentials when boto3 is installed,
    urllib otherwise. A wrong file never ends up at the returned path; a partial download is removed.
    """
    entry = lookup(entry) if isinstance(entry, str) else entry
    target = Path(cache_dir) / entry.filename
    if target.exists():
        check_cache_file(target, entry=entry)
        return target

    refused = []
    for staged in staged_paths(entry):
        if staged.is_file():
            actual = sha1_of(staged)
            if actual == entry.sha1:
                target.parent.mkdir(parents=True, exist_ok=True)
                _link(staged.resolve(), target)
                return target
            refused.append(f"{staged} (sha1 {actual}, expected {entry.sha1})")
            log.warning("%s: refusing pre-staged file %s: sha1 %s, expected %s (left untouched; replace it with "
                        "the right file or remove it)", entry.filename, staged, actual, entry.sha1)

    try:
        _download(entry, target, opener or open_url, timeout_s)
    except (OSError, ValueError) as e:
        if refused:
            note = f"; refused pre-staged file(s) with the wrong sha1: {'; '.join(refused)}"
            raise type(e)(f"{e}{note}") from e
        raise
    return target


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same filesystem: no copy, survives deletion of the brainio cache
    except OSError:
        dst.symlink_to(src)


def _stage_hint(entry: CatalogEntry) -> str:
    home = brainio_home()
    return f"{home / entry.sha1 / entry.filename} (or {home / entry.stem / entry.filename})"


def _private_message(entry: CatalogEntry, how: str) -> str:
    return (f"{entry.filename}: access denied (403) for {entry.url} ({how}). Brain-Score marks "
            f"{entry.identifier} as not publicly available: it needs credentials for Brain-Score's S3 bucket "
            f"(request access through a Brain-Score account / the Brain-Score team, or ask the data owners, "
            f"the DiCarlo lab), set up for boto3 (pip install boto3; AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or "
            f"~/.aws/credentials). Or stage a copy (sha1 {entry.sha1}) at {_stage_hint(entry)}. "
            f"Without credentials, the public assemblies work: see config/public.yaml and docs/real_data.md")


def _download(entry: CatalogEntry, target: Path, opener: Callable, timeout_s: float) -> None:
    with atomic_path(target) as tmp:  # the temp file is removed on any error below
        h, n = hashlib.sha1(), 0
        try:
            with opener(entry.url, timeout=timeout_s) as resp, open(tmp, "wb") as out:
                expected_len = resp.headers.get("Content-Length")
                while block := resp.read(_CHUNK):
                    out.write(block)
                    h.update(block)
                    n += len(block)
        except PrivateFileError as e:
            raise PrivateFileError(_private_message(entry, str(e))) from e
        except urllib.error.HTTPError as e:
            if e.code == 403:
                raise PrivateFileError(_private_message(entry, "anonymous download; install boto3 to use "
                                                               "credentials")) from e
            raise OSError(f"{entry.filename}: download from {entry.url} failed ({e}); to work offline, "
                          f"stage the file as {_stage_hint(entry)}") from e
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, IncompleteRead
            raise OSError(f"{entry.filename}: download from {entry.url} failed ({e}); to work offline, "
                          f"stage the file as {_stage_hint(entry)}") from e
        if expected_len is not None and n != int(expected_len):
            raise OSError(f"{entry.filename}: truncated download from {entry.url}: got {n} of {expected_len} bytes")
        actual = h.hexdigest()
        if actual != entry.sha1:
            raise ValueError(f"{entry.filename}: sha1 mismatch for {entry.url}: expected {entry.sha1}, got {actual}")


_S3_URL = re.compile(r"https://(?P<bucket>[a-z0-9.-]+)\.s3\.amazonaws\.com/(?P<key>.+)")


def open_url(url: str, timeout: float = 60.0):
    """Open ``url`` for streaming, as brainio does: an S3 object goes through boto3 when it is installed (signed
    with the default credential chain, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws/credentials, when
    credentials are found; unsigned otherwise, and again unsigned when signed access is refused, since a public
    object may refuse foreign credentials); anything else, or no boto3, goes through urllib. A refusal is raised
    as ``PrivateFileError``."""
    m = _S3_URL.fullmatch(url)
    if m is not None:
        try:
            import boto3  # optional: only needed for private files
        except ImportError:
            boto3 = None
        if boto3 is not None:
            return _S3Response.open(boto3, m["bucket"], m["key"], timeout)
    return urllib.request.urlopen(url, timeout=timeout)


class _S3Response:
    """A boto3 ``get_object`` body with the two things ``_download`` uses: ``headers`` and ``read``."""

    def __init__(self, obj: dict):
        self._body = obj["Body"]
        length = obj.get("ContentLength")
        self.headers = {} if length is None else {"Content-Length": str(length)}

    @classmethod
    def open(cls, boto3, bucket: str, key: str, timeout: float) -> "_S3Response":
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        session = boto3.session.Session()
        signed = session.get_credentials() is not None
        attempts = ([Config(connect_timeout=timeout, read_timeout=timeout)] if signed else []) + [
            Config(signature_version=UNSIGNED, connect_timeout=timeout, read_timeout=timeout)]
        denied = None
        for config in attempts:
            try:
                return cls(session.client("s3", config=config).get_object(Bucket=bucket, Key=key))
            except ClientError as e:
                err = e.response.get("Error", {})
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 403 or err.get("Code") in ("403", "AccessDenied", "Forbidden"):
                    denied = e
                    continue
                raise OSError(f"s3://{bucket}/{key}: {e}") from e
            except BotoCoreError as e:
                raise OSError(f"s3://{bucket}/{key}: {e}") from e
        how = ("boto3 with the default credentials, then unsigned" if signed else
               "boto3 found no credentials; unsigned request")
        raise PrivateFileError(how) from denied

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._body.close()

    def read(self, n: int = -1) -> bytes:
        return self._body.read(n) if n >= 0 else self._body.read()


# ------------------------------------------------------------------------------------------ netCDF
def open_assembly(nc_path: str | os.PathLike) -> xr.DataArray:
    """Open a Brain-Score assembly lazily, with ``image_id`` renamed to ``stimulus_id``."""
    nc_path = Path(nc_path)
    if not nc_path.is_file():
        raise FileNotFoundError(f"{nc_path}: no such netCDF assembly")
    with open(nc_path, "rb") as f:
        magic = f.read(4)
    # Brain-Score writes netCDF4 (HDF5); netCDF3 ("CDF") only appears in hand-made files.
    engine = "h5netcdf" if magic == b"\x89HDF" else "scipy" if magic[:3] == b"CDF" else None
    if engine is None:
        raise ValueError(f"{nc_path}: not a netCDF file (magic bytes {magic!r})")
    ds = xr.open_dataset(nc_path, engine=engine)
    if len(ds.data_vars) != 1:
        raise ValueError(f"{nc_path}: expected one data variable, found {list(ds.data_vars)}")
    da = ds[next(iter(ds.data_vars))]
    if "stimulus_id" not in da.coords and "image_id" in da.coords:
        da = da.rename(image_id="stimulus_id")
    return da


def _coord(da: xr.DataArray, name: str, dim: str, nc_path) -> np.ndarray:
    if name not in da.coords or da[name].dims != (dim,):
        raise ValueError(f"{nc_path}: assembly needs coordinate {name!r} along {dim!r}; "
                         f"has {sorted(str(c) for c in da.coords)}")
    return da[name].values


def convert_assembly(nc_path: str | os.PathLike, out_path: str | os.PathLike, region: str | None = None, *,
                     drop_sites: Iterable[str] = FAULTY_SITES, rows_per_block: int = 8_000_000,
                     time_align: str = "none", time_bins: Iterable[tuple[float, float]] | None = None) -> Path:
    """Write a neural assembly as the project's long response table (``convrnn.data.responses.write_responses``).

    One pass over the file: blocks of presentations are read with all sites and bins at once (the on-disk layout is
    neuroid x presentation x time_bin, so a per-bin read would reread the whole file once per bin) and written as
    one row group per (block, bin); at most ``rows_per_block`` values are in memory. ``region`` keeps only sites of
    that region; sites in ``drop_sites`` (default: Brain-Score's 40 faulty sites) are removed. Assemblies without
    ``time_bin`` coordinates (static assemblies) get one bin ``STATIC_WINDOW_MS``.

    ``time_align``: ``none`` (default) writes the bins as stored. ``portion`` or ``center`` re-bins every trial to
    ``time_bins`` (``(start, end)`` ms, usually the model's steps, ``model_step_bins``) with Brain-Score's
    ``assembly_time_align`` rule (``brainscore_catalog.time_align_weights``): each target bin is the weighted mean of
    the stored bins that overlap it. For ``MajajHong2015.temporal*`` (20 ms windows every 10 ms) a 10 ms step
    ``[a, a+10)`` becomes the mean of the windows ``[a-10, a+10)`` and ``[a, a+20)``. Target bins the assembly does
    not cover are left out (logged); none covered is an error. A NaN in a contributing bin gives NaN, as in
    Brain-Score.
    """
    from convrnn.data.responses import write_responses

    if time_align not in TIME_ALIGN_MODES:
        raise ValueError(f"time_align must be one of {TIME_ALIGN_MODES}, got {time_align!r}")
    if time_align != "none" and time_bins is None:
        raise ValueError(f"time_align={time_align!r} needs time_bins (the target (start, end) ms bins)")

    da = open_assembly(nc_path)
    for dim in ("presentation", "neuroid"):
        if dim not in da.dims:
            raise ValueError(f"{nc_path}: assembly needs dimension {dim!r}; has {da.dims}")
    if extra := set(da.dims) - {"presentation", "neuroid", "time_bin"}:
        raise ValueError(f"{nc_path}: unexpected dimension(s) {sorted(extra)}")
    stim = _coord(da, "stimulus_id", "presentation", nc_path).astype(str)
    rep = _coord(da, "repetition", "presentation", nc_path).astype(np.int32)
    sites = _coord(da, "neuroid_id", "neuroid", nc_path).astype(str)
    regions = _coord(da, "region", "neuroid", nc_path).astype(str)

    keep = ~np.isin(sites, list(drop_sites))
    if (dropped := int((~keep).sum())):
        log.info("%s: dropping %d faulty site(s)", nc_path, dropped)
    if region is not None:
        keep &= regions == region
        if not keep.any():
            raise ValueError(f"{nc_path}: no sites with region={region!r}; regions are {sorted(set(regions))}")
    neuroid_idx = np.flatnonzero(keep)
    sites, regions = sites[neuroid_idx], regions[neuroid_idx]

    has_bin_coords = "time_bin_start" in da.coords and "time_bin_end" in da.coords
    if "time_bin" in da.dims and (has_bin_coords or da.sizes["time_bin"] > 1):
        bins = np.stack([_coord(da, "time_bin_start", "time_bin", nc_path),
                         _coord(da, "time_bin_end", "time_bin", nc_path)], axis=1).astype(np.int32)
    else:  # static assembly, with or without a size-1 time_bin dim
        da = da.squeeze("time_bin", drop=True) if "time_bin" in da.dims else da
        da = da.expand_dims("time_bin", axis=-1)
        bins = np.array([STATIC_WINDOW_MS], dtype=np.int32)
    var = da.transpose("presentation", "neuroid", "time_bin").variable  # plain Variable: cheap lazy slicing

    mix = None  # (target bins, [(source indices, normalised weights)]) when re-binning
    if time_align != "none":
        target = np.asarray(list(time_bins), dtype=float).reshape(-1, 2)
        w = time_align_weights(bins, target, time_align)
        ok = w.sum(axis=1) > 0
        if not ok.any():
            raise ValueError(f"{nc_path}: time_align={time_align!r}: the assembly's bins "
                             f"[{bins[:, 0].min()}, {bins[:, 1].max()}) ms cover none of the target bins "
                             f"[{target[0, 0]:g}, {target[-1, 1]:g}) ms")
        if (~ok).any():
            log.info("%s: %d target bin(s) not covered by the assembly, left out: %s", nc_path, int((~ok).sum()),
                     [tuple(b) for b in target[~ok][:5]])
        mix = [(np.flatnonzero(row > 0), row[row > 0] / row[row > 0].sum()) for row in w[ok]]
        bins = np.rint(target[ok]).astype(np.int32)

    n_pres, n_sites, n_bins = len(stim), len(sites), len(bins)
    per_block = max(1, rows_per_block // max(n_sites * n_bins, 1))
    # Dictionary columns: one string per distinct id, integer codes per row.
    site_dict, region_dict = pa.array(sites), pa.array(regions)
    site_codes = np.arange(n_sites, dtype=np.int32)

    def blocks():
        for p0 in range(0, n_pres, per_block):
            p1 = min(p0 + per_block, n_pres)
            values = np.asarray(var[p0:p1].values, dtype=np.float32)[:, neuroid_idx]   # (P, S, B)
            if mix is not None:  # weighted mean over the contributing stored bins only (0 * NaN would leak NaN)
                values = np.stack([(values[..., idx].astype(np.float64) @ wts).astype(np.float32)
                                   for idx, wts in mix], axis=-1)
            p = p1 - p0
            # Rows ordered bin-major so that write_responses' split by bin is a contiguous slice.
            stim_codes, stim_dict = pd.factorize(stim[p0:p1])
            shape = (n_bins, p, n_sites)
            yield pa.table({
                "stimulus_id": pa.DictionaryArray.from_arrays(
                    np.broadcast_to(stim_codes.astype(np.int32)[None, :, None], shape).ravel(), pa.array(stim_dict)),
                "site": pa.DictionaryArray.from_arrays(np.broadcast_to(site_codes, shape).ravel(), site_dict),
                "region": pa.DictionaryArray.from_arrays(np.broadcast_to(site_codes, shape).ravel(), region_dict),
                "time_bin_start_ms": np.repeat(bins[:, 0], p * n_sites),
                "time_bin_end_ms": np.repeat(bins[:, 1], p * n_sites),
                "repetition": np.broadcast_to(rep[p0:p1][None, :, None], shape).ravel(),
                "response": np.ascontiguousarray(values.transpose(2, 0, 1)).ravel(),
            })

    return write_responses(out_path, blocks())


def _single_coord(da: xr.DataArray, dim: str, nc_path) -> np.ndarray:
    """The labels of a dimension that has one coordinate. Brain-Score's writers (xarray <= 2022 ``reset_index``) store
    such a coordinate as ``<dim>_``; today's xarray keeps ``<dim>``. Either is accepted."""
    for name in (dim, f"{dim}_"):
        if name in da.coords and da[name].dims == (dim,):
            return da[name].values
    along = sorted(str(c) for c in da.coords if da[c].dims == (dim,))
    if len(along) == 1:
        return da[along[0]].values
    raise ValueError(f"{nc_path}: assembly needs coordinate {dim!r} (or {dim + '_'!r}) along {dim!r}; "
                     f"has {sorted(str(c) for c in da.coords)}")


def convert_kar2019(nc_path: str | os.PathLike, out_path: str | os.PathLike, decoder: str = "svm") -> Path:
    """Kar2019 OST assembly (dims ``decoder`` x ``presentation``) -> ``stimulus_id, i1, ost_ms[, object]``.

    ``decoder`` picks the OST variant (``svm``, Brain-Score's choice, or ``logistic``). 2 of the 1320
    images are duplicates; like Brain-Score we keep the first row of each ``stimulus_id``.
    Images whose OST is undefined stay NaN. The files on Brain-Score's server store the decoder labels as
    ``decoder_`` and no ``image_label`` (the 2020 repackaging moved it to the stimulus-set csv, where the
    pipeline reads object labels from), so ``object`` is written only when the assembly has it.
    """
    da = open_assembly(nc_path)
    if "decoder" not in da.dims:
        raise ValueError(f"{nc_path}: assembly needs dimension 'decoder'; has {da.dims}")
    decoders = [str(d) for d in _single_coord(da, "decoder", nc_path)]
    if decoder not in decoders:
        raise ValueError(f"{nc_path}: decoder {decoder!r} not in {decoders}")
    stim = _coord(da, "stimulus_id", "presentation", nc_path).astype(str)
    df = pd.DataFrame({
        "stimulus_id": stim,
        "i1": _coord(da, "i1", "presentation", nc_path).astype(np.float64),
        "ost_ms": da.isel(decoder=decoders.index(decoder)).transpose("presentation").values.astype(np.float64),
    })
    if "image_label" in da.coords:
        df["object"] = _coord(da, "image_label", "presentation", nc_path).astype(str)
    dup = df.duplicated("stimulus_id")
    if dup.any():
        log.info("%s: dropping %d duplicate stimulus_id row(s)", nc_path, int(dup.sum()))
    return write_parquet(df[~dup].reset_index(drop=True), out_path)


# ---------------------------------------------------------------------------------- stimulus sets
_ALIASES = {  # project column <- csv columns, first present wins
    "stimulus_id": ("stimulus_id", "image_id"),
    "object": ("object_name", "image_label", "object"),
    "category": ("category_name", "category"),
    "variation": ("variation",),
}


def convert_stimulus_set(csv_path: str | os.PathLike, zip_path: str | os.PathLike,
                         out_meta_path: str | os.PathLike, images_dir: str | os.PathLike) -> Path:
    """Stimulus-set csv + zip -> metadata Parquet and extracted images.

    Columns: ``stimulus_id, object, category, variation, image_path, object_id, category_id`` plus
    every other csv column. ``image_path`` is ``images_dir/<filename>`` as given (relative paths
    stay relative to the working directory). Sets packaged by today's brainscore-core have no ``filename``
    column: their zip members are ``<stimulus_path_within_store or stimulus_id>.<ext>`` (``create_stimulus_zip``),
    which is what ``filename`` then becomes. ``category``/``variation`` are null when the csv has
    none (Kar2019). ``*_id`` are indices into the sorted unique names. The metadata file is written
    last, so its presence means every image is extracted.
    """
    csv_path, zip_path, images_dir = Path(csv_path), Path(zip_path), Path(images_dir)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such stimulus-set csv")
    meta = pd.read_csv(csv_path)
    for col, aliases in _ALIASES.items():
        src = next((a for a in aliases if a in meta.columns), None)
        if src is None and col in ("stimulus_id", "object"):
            raise ValueError(f"{csv_path}: missing column, one of {list(aliases)}; has {list(meta.columns)}")
        meta[col] = meta[src] if src is not None else pd.Series(pd.NA, index=meta.index, dtype="object")
    meta["stimulus_id"] = meta["stimulus_id"].astype(str)
    meta["object"] = meta["object"].astype(str)
    meta["variation"] = meta["variation"].astype("Int64")
    if meta["stimulus_id"].duplicated().any():
        dups = meta.loc[meta["stimulus_id"].duplicated(), "stimulus_id"].unique()[:5].tolist()
        raise ValueError(f"{csv_path}: duplicate stimulus_id values, e.g. {dups}")
    if "filename" not in meta.columns:
        meta["filename"] = _member_names(zip_path, meta, csv_path)
    meta["object_id"] = pd.Categorical(meta["object"], sorted(meta["object"].unique())).codes.astype(np.int64)
    if meta["category"].notna().all():
        cats = meta["category"].astype(str)
        meta["category_id"] = pd.Categorical(cats, sorted(cats.unique())).codes.astype(np.int64)
    else:
        meta["category_id"] = pd.Series(pd.NA, index=meta.index, dtype="Int64")

    _extract(zip_path, meta["filename"].astype(str).tolist(), images_dir)
    meta["image_path"] = [str(images_dir / f) for f in meta["filename"].astype(str)]
    first = ["stimulus_id", "object", "category", "variation", "image_path", "object_id", "category_id"]
    return write_parquet(meta[first + [c for c in meta.columns if c not in first]], out_meta_path)


def _member_names(zip_path: Path, meta: pd.DataFrame, csv_path: Path) -> list[str]:
    """Zip member of each row of a brainscore-core stimulus set: its store path (or stimulus_id) plus an extension."""
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path}: no such stimulus-set zip")
    with zipfile.ZipFile(zip_path) as zf:
        by_stem = {os.path.splitext(n)[0]: n for n in zf.namelist() if not n.endswith("/")}
    keys = (meta["stimulus_path_within_store"] if "stimulus_path_within_store" in meta.columns
            else meta["stimulus_id"]).astype(str)
    missing = [k for k in keys if k not in by_stem]
    if missing:
        raise ValueError(f"{csv_path}: no column 'filename', and {len(missing)} stimulus id(s) have no "
                         f"'<id>.<ext>' member in {zip_path}, e.g. {missing[:3]}")
    return [by_stem[k] for k in keys]


def _extract(zip_path: Path, filenames: list[str], images_dir: Path) -> None:
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path}: no such stimulus-set zip")
    root = images_dir.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        members = set(zf.namelist())
        missing = [f for f in filenames if f not in members]
        if missing:
            raise ValueError(f"{zip_path}: {len(missing)} csv filename(s) not in the zip, e.g. {missing[:3]}")
        for name in filenames:
            dst = (root / name).resolve()
            if not dst.is_relative_to(root):  # a hostile "../" member must not escape images_dir
                raise ValueError(f"{zip_path}: member {name!r} points outside {images_dir}")
            if dst.is_file() and dst.stat().st_size == zf.getinfo(name).file_size:
                continue
            with zf.open(name) as src, atomic_path(dst) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)


def load_images(meta: pd.DataFrame, image_size: int, *, root: str | os.PathLike | None = None) -> np.ndarray:
    """Images of ``meta.image_path`` (in row order) as uint8 ``(N, image_size, image_size, 3)``.

    Shorter side resized to ``image_size`` (bilinear, antialiased), then centre crop; greyscale
    images become RGB. For the square 256-px HvM images this is a plain resize, which keeps the
    8-degree field of view across the whole model input. Relative paths are taken from ``root``.
    """
    from PIL import Image

    if "image_path" not in meta.columns:
        raise ValueError(f"meta: missing column 'image_path'; has {list(meta.columns)}")
    out = np.empty((len(meta), image_size, image_size, 3), np.uint8)
    for i, p in enumerate(meta["image_path"]):
        path = Path(root) / p if root is not None else Path(p)
        try:
            im = Image.open(path).convert("RGB")
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read image ({e})") from e
        w, h = im.size
        scale = image_size / min(w, h)
        nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        im = im.resize((nw, nh), Image.BILINEAR)  # Pillow filters are antialiased when downscaling
        left, top = (nw - image_size) // 2, (nh - image_size) // 2
        out[i] = np.asarray(im.crop((left, top, left + image_size, top + image_size)))
    return out
