"""Identifiers, SHA-1s and URLs of the Brain-Score files this project can use.

Source: brain-score/vision @ c642dbe4, ``brainscore_vision/data/majajhong2015/__init__.py`` and
``data/kar2019/__init__.py`` (full 40-hex hashes read there; the abbreviated hvm-private zip hash in
our reference notes, "d7b1ca18…d3d2", is a typo of the value below). URL pattern: brain-score/core
@ 7436003b ``brainio/s3.py::get_path``: ``https://{bucket}.s3.amazonaws.com/{folder}/{prefix}{id with
'.'->'_'}.{ext}``, prefix ``assy_`` for assemblies and ``stimulus_`` for stimulus-set csv/zip; bucket
``brainscore-storage``, folder ``brainio-brainscore``, unversioned objects. The URLs were not fetched
from here (no network); the SHA-1 check is what guarantees the content.

Access: the ``*.public`` assemblies and ``hvm-public`` are public. Brain-Score marks the full MajajHong2015
assemblies (``MajajHong2015``, ``.temporal``, ``.temporal-10ms``), the ``.private`` ones and ``Kar2019`` as
``data_publicly_available: false``: an anonymous download gets 403. They need Brain-Score credentials (boto3's
default chain, see ``convrnn.data.brainscore.fetch``) or a copy staged by hand into ``$BRAINIO_HOME/<sha1>/<filename>``
or ``$BRAINIO_HOME/<file stem>/<filename>`` (see docs/real_data.md).

Time axis: ``CatalogEntry.time_bins`` holds an assembly's bin layout where it is known without the file, so that a
config whose bins cannot be paired with the model's steps fails before any job (``check_time_bins``). The re-binning
rule (``time_align_weights``) is Brain-Score's ``assembly_time_align`` (see its docstring); it lives here, with numpy
only, so that config checks stay cheap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from convrnn.errors import ConfigError

S3_ROOT = "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore"


@dataclass(frozen=True)
class CatalogEntry:
    """One remote file: ``name`` is our key, ``filename`` the remote/cache file name."""

    name: str
    identifier: str
    kind: str  # "assembly" | "stimulus_csv" | "stimulus_zip"
    filename: str
    sha1: str
    url: str
    stimulus_set: str | None = None  # for assemblies: the stimulus set they index
    legacy_filenames: tuple[str, ...] = ()  # names used by older brainio caches
    public: bool = True  # False: Brain-Score marks it data_publicly_available: false (anonymous GET: 403)
    time_bins: tuple[tuple[int, int], ...] | None = None  # assemblies: (start, end) ms of each bin; None = unknown

    def __post_init__(self):
        if not re.fullmatch(r"[0-9a-f]{40}", self.sha1):
            raise ValueError(f"catalog entry {self.name!r}: sha1 must be 40 lowercase hex digits, got {self.sha1!r}")


    @property
    def stem(self) -> str:
        """Folder of the file in the 2021-2024 brainio cache layout ``$BRAINIO_HOME/<stem>/<filename>``."""
        return self.filename.rsplit(".", 1)[0]


#: ``MajajHong2015.temporal`` (and its public/private splits): 39 overlapping 20 ms windows every 10 ms, starts
#: -100..280 ms (Brain-Score's 2018 test ``test_majaj2015TemporalLowvar``: ``range(-100, 281, 10)``,
#: ``range(-80, 301, 10)``).
TEMPORAL_20MS_WINDOWS = tuple((s, s + 20) for s in range(-100, 281, 10))
#: Static assemblies: one 70-170 ms window (a real 2019 slice of the file).
STATIC_WINDOW = ((70, 170),)


def _assembly(identifier: str, sha1: str, stimulus_set: str, *, public: bool = True,
              time_bins: tuple[tuple[int, int], ...] | None = None) -> CatalogEntry:
    name = identifier.removeprefix("dicarlo.")
    filename = f"assy_{identifier.replace('.', '_')}.nc"
    return CatalogEntry(name, identifier, "assembly", filename, sha1, f"{S3_ROOT}/{filename}", stimulus_set,
                        public=public, time_bins=time_bins)


def _stimulus_set(identifier: str, csv_sha1: str, zip_sha1: str) -> list[CatalogEntry]:
    out = []
    for ext, sha1 in (("csv", csv_sha1), ("zip", zip_sha1)):
        filename = f"stimulus_{identifier.replace('.', '_')}.{ext}"
        legacy = (f"image_dicarlo_{identifier.replace('.', '_')}.{ext}",)  # pre-2024 brainio naming
        out.append(CatalogEntry(f"{identifier}.{ext}", identifier, f"stimulus_{ext}", filename, sha1,
                                f"{S3_ROOT}/{filename}", legacy_filenames=legacy))
    return out


_ENTRIES = [  # public=False: vision data/majajhong2015/test.py, data/kar2019/test.py (private_access)
    _assembly("dicarlo.MajajHong2015", "bf8f8d01010d727e3db3f85a9bd5f95f9456b7ec", "hvm",
              public=False, time_bins=STATIC_WINDOW),
    _assembly("dicarlo.MajajHong2015.temporal", "4c5cfe25ad53162c5c716d64004de269162eff38", "hvm",
              public=False, time_bins=TEMPORAL_20MS_WINDOWS),
    _assembly("dicarlo.MajajHong2015.temporal-10ms", "3a43db05db722b456d156f53b7215413c994e5b5", "hvm",
              public=False),  # bin edges not published: checked when the file is read
    _assembly("dicarlo.MajajHong2015.public", "13d28ca0ce88ee550b54db3004374ae19096e9b9", "hvm-public",
              time_bins=STATIC_WINDOW),
    _assembly("dicarlo.MajajHong2015.private", "7a40d16148d6f82939155f0bd976d310857fb156", "hvm-private",
              public=False, time_bins=STATIC_WINDOW),
    _assembly("dicarlo.MajajHong2015.temporal.public", "093ac35b3e8464c676d24cf38238415d4d6a9448", "hvm-public",
              time_bins=TEMPORAL_20MS_WINDOWS),
    _assembly("dicarlo.MajajHong2015.temporal.private", "804ea9e7c08ae9ab7a7d705c9c7e68582750e2ea", "hvm-private",
              public=False, time_bins=TEMPORAL_20MS_WINDOWS),
    _assembly("dicarlo.Kar2019", "147717ce397e11d56164d472063a84a83bbcbb94", "Kar2019", public=False),
    *_stimulus_set("hvm", "a56f55205904d5fb5ead4d0dc7bfad5cc4083b94", "6fd5080deccfb061699909ffcb86a26209516811"),
    *_stimulus_set("hvm-public", "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af", "8aa44e038d7b551efa8077467622f9d48d72e473"),
    *_stimulus_set("hvm-private", "6ff4981722fa05feb73a2bd26bbbba8b50dc29a6", "d7b1ca1876dad87e15b0242b4c82c0203ff3cbd3"),
    *_stimulus_set("Kar2019", "7f705bdea02c0a72a76d7f5e7b6963531df818a6", "75ab7b8b499fc8e86c813f717b79d268bcb986be"),
]

#: ``"MajajHong2015.temporal"``, ``"Kar2019"``, ``"hvm.csv"``, ``"hvm-public.zip"``, ...
CATALOG: dict[str, CatalogEntry] = {e.name: e for e in _ENTRIES}

#: 40 MajajHong2015 sites Brain-Score drops as faulty before building the public/private splits
#: (vision ``data/majajhong2015/data_packaging/data_packaging.py::_filter_erroneous_neuroids``).
#: The full assemblies (MajajHong2015, .temporal, .temporal-10ms) still contain them.
FAULTY_SITES: frozenset[str] = frozenset(f"Tito_L_P_{a}_{b}" for a, b in (
    (8, 5), (7, 3), (7, 5), (5, 1), (9, 3), (6, 3), (7, 4), (5, 0), (5, 4), (9, 6),
    (0, 4), (4, 6), (5, 6), (7, 6), (9, 8), (4, 1), (0, 5), (9, 9), (3, 0), (0, 3),
    (6, 6), (5, 7), (1, 1), (3, 8), (1, 6), (3, 5), (6, 8), (2, 8), (9, 7), (6, 7),
    (1, 0), (4, 5), (4, 9), (7, 8), (4, 7), (4, 0), (3, 9), (7, 7), (4, 3), (9, 5),
))


def lookup(name: str) -> CatalogEntry:
    """Catalog entry by key; accepts the ``dicarlo.`` prefix too. Unknown keys list the known ones."""
    entry = CATALOG.get(name) or CATALOG.get(name.removeprefix("dicarlo."))
    if entry is None:
        raise KeyError(f"unknown Brain-Score file {name!r}; known: {sorted(CATALOG)}")
    return entry


# ------------------------------------------------------------------------------------------- time axis
TIME_ALIGN_MODES = ("none", "portion", "center")


def model_step_bins(n_steps: int, step_ms: float, latency_offset_ms: float = 0.0) -> list[tuple[float, float]]:
    """The interval ``[t*step_ms + offset, (t+1)*step_ms + offset)`` ms that each model step t stands for."""
    return [(t * step_ms + latency_offset_ms, (t + 1) * step_ms + latency_offset_ms) for t in range(n_steps)]


def time_align_weights(source_bins: Sequence[Sequence[float]], target_bins: Sequence[Sequence[float]],
                       mode: str = "portion") -> np.ndarray:
    """Weights ``W`` (target x source) of Brain-Score's re-binning rule; a target bin's value is
    ``sum_j W[i, j] x_j / sum_j W[i, j]`` over the sources with ``W[i, j] > 0``. A row of zeros: target not covered.

    Rule (brain-score/vision ``model_helpers/brain_transformation/temporal.py``, ``time_align`` and
    ``assembly_time_align``, read at c642dbe4; re-implemented here):

    - ``portion``: ``W[i, j]`` = overlap of target i with source j, divided by the length of source j. A target is
      covered only if some source starts at or before its start and some source ends at or after its end
      (otherwise its row is zeroed).
    - ``center``: ``W[i, j]`` = 1 if the target's midpoint lies in ``[start_j, end_j)``, else 0.

    For the 20 ms windows every 10 ms of ``MajajHong2015.temporal*`` and a 10 ms target ``[a, a+10)`` on the 10 ms
    grid, both modes give the plain mean of the two windows that contain it, ``[a-10, a+10)`` and ``[a, a+20)``
    (weight 1/2 each); at the edges (``[-100, -90)``, ``[290, 300)``) the single window that contains it.
    """
    src = np.asarray(source_bins, dtype=float).reshape(-1, 2)
    tgt = np.asarray(target_bins, dtype=float).reshape(-1, 2)
    if (src[:, 1] <= src[:, 0]).any() or (tgt[:, 1] < tgt[:, 0]).any():
        raise ValueError("time bins must have start < end")
    s0, s1 = src[None, :, 0], src[None, :, 1]
    t0, t1 = tgt[:, None, 0], tgt[:, None, 1]
    if mode == "portion":
        w = np.clip(np.minimum(t1, s1) - np.maximum(t0, s0), 0, None) / (s1 - s0)
        covered = (s0 <= t0).any(axis=1) & (s1 >= t1).any(axis=1)
        w[~covered] = 0.0
    elif mode == "center":
        mid = (t0 + t1) / 2
        w = ((mid >= s0) & (mid < s1)).astype(float)
    else:
        raise ValueError(f"time alignment mode must be 'portion' or 'center', got {mode!r}")
    return w


def aligned_step_bins(source_bins: Sequence[Sequence[float]], n_steps: int, step_ms: float,
                      latency_offset_ms: float = 0.0, mode: str = "portion") -> list[tuple[float, float]]:
    """The model-step intervals that ``source_bins`` cover under ``mode`` (the others are left out, as steps
    without a bin are elsewhere). Raises ValueError if none is covered."""
    steps = model_step_bins(n_steps, step_ms, latency_offset_ms)
    w = time_align_weights(source_bins, steps, mode)
    out = [b for b, row in zip(steps, w) if row.sum() > 0]
    if not out:
        src = np.asarray(source_bins, dtype=float).reshape(-1, 2)
        raise ValueError(f"time_align={mode!r}: the neural bins [{src[:, 0].min():g}, {src[:, 1].max():g}) ms cover "
                         f"none of the model's {n_steps} steps [{steps[0][0]:g}, {steps[-1][1]:g}) ms")
    return out


def bins_pair_problem(bins: Sequence[Sequence[float]], n_steps: int, step_ms: float,
                      latency_offset_ms: float = 0.0) -> str | None:
    """Why ``bins`` cannot be paired one to one with the model steps (the rule of
    ``convrnn.neural.scoring.check_bins_pair``), or None if they can."""
    b = np.asarray(bins, dtype=float).reshape(-1, 2)
    k = (b[:, 0] - latency_offset_ms) / step_ms
    bad = ~np.isclose(b[:, 1] - b[:, 0], step_ms) | ~np.isclose(k, np.round(k))
    if bad.any():
        shown = ", ".join(f"[{s:g}, {e:g})" for s, e in b[bad][:3])
        return (f"bins {shown} ms ({int(bad.sum())} of {len(b)}) are not model step intervals "
                f"[t*{step_ms:g} + {latency_offset_ms:g}, (t+1)*{step_ms:g} + {latency_offset_ms:g}) ms")
    k = np.round(k)
    if not ((k >= 0) & (k < n_steps)).any():
        return f"no bin lies within the model's {n_steps} steps"
    return None


def check_time_bins(config: Mapping) -> None:
    """Config-time check that the configured neural assembly's bins can be paired with the model steps.

    Only for ``data.source: real`` and ``neural.pairing: matched`` and assemblies whose layout the catalog knows
    (``CatalogEntry.time_bins``); others are checked when the file is read. ``neural.time_align: none`` needs every
    bin to be one step's interval; ``portion``/``center`` need at least one step covered. Raises ``ConfigError``
    (a ValueError) naming the field.
    """

    if config["data"]["source"] != "real" or config.get("neural", {}).get("pairing", "matched") != "matched":
        return
    try:
        entry = lookup(config["data"]["brainscore"]["neural_assembly"])
    except KeyError:
        return  # reported by the catalog check
    if entry.time_bins is None:
        return
    pres, mode = config["presentation"], config["neural"].get("time_align", "none")
    n, step, offset = pres["neural_times"], pres["step_ms"], pres.get("latency_offset_ms", 0)
    if mode == "none":
        problem = bins_pair_problem(entry.time_bins, n, step, offset)
        if problem:
            hint = ("set neural.time_align: portion to re-bin them to the model's steps (Brain-Score's "
                    "assembly_time_align)" if len(entry.time_bins) > 1 else
                    "use neural.pairing: all, or neural.time_align: portion")
            raise ConfigError(f"config field 'neural.time_align': {entry.identifier}: {problem} "
                              f"(presentation.step_ms, presentation.latency_offset_ms); {hint}")
        return
    try:
        aligned_step_bins(entry.time_bins, n, step, offset, mode)
    except ValueError as e:
        raise ConfigError(f"config field 'neural.time_align': {entry.identifier}: {e} "
                          f"(presentation.neural_times, presentation.latency_offset_ms)") from None


def time_align_kwargs(config) -> dict:
    """``convert_assembly`` keywords for a workflow config: ``neural.time_align`` and, when it is not ``none``, the
    model's step intervals (``presentation.neural_times`` steps of ``step_ms`` from ``latency_offset_ms``)."""
    mode = config.get("neural", {}).get("time_align", "none")
    if mode == "none":
        return {}
    pres = config["presentation"]
    return {"time_align": mode,
            "time_bins": model_step_bins(pres["neural_times"], pres["step_ms"], pres.get("latency_offset_ms", 0))}


def brainscore_filename(identifier: str, kind: str, field: str = "data.brainscore") -> str:
    """Cache file name of a Brain-Score catalog entry; kind: assembly | csv | zip (identifier as in Brain-Score).
    ``field``: the config field the identifier came from, named in the error."""
    want = "assembly" if kind == "assembly" else f"stimulus_{kind}"
    for entry in CATALOG.values():
        if entry.identifier == identifier and entry.kind == want:
            return entry.filename
    known = sorted({e.identifier for e in CATALOG.values() if e.kind == want})
    raise ConfigError(f"config field '{field}': no {kind} {identifier!r} in the catalog; known: {known}")


def entry_for_file(filename: str) -> CatalogEntry:
    """The catalog entry whose cache file name is ``filename``."""
    for entry in CATALOG.values():
        if entry.filename == filename:
            return entry
    raise KeyError(f"{filename}: not a file of the Brain-Score catalog (convrnn.data.brainscore_catalog)")
