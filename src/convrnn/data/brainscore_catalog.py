"""Identifiers, SHA-1s and URLs of the Brain-Score files this project can use.

Source: brain-score/vision @ c642dbe4, ``brainscore_vision/data/majajhong2015/__init__.py`` and
``data/kar2019/__init__.py`` (full 40-hex hashes read there; the abbreviated hvm-private zip hash in
our reference notes, "d7b1ca18…d3d2", is a typo of the value below). URL pattern: brain-score/core
@ 7436003b ``brainio/s3.py::get_path``: ``https://{bucket}.s3.amazonaws.com/{folder}/{prefix}{id with
'.'->'_'}.{ext}``, prefix ``assy_`` for assemblies and ``stimulus_`` for stimulus-set csv/zip; bucket
``brainscore-storage``, folder ``brainio-brainscore``, unversioned objects. The URLs were not fetched
from here (no network); the SHA-1 check is what guarantees the content.

Access: the ``*.public`` assemblies and ``hvm-public`` are public. The full/private MajajHong2015
assemblies are marked ``data_publicly_available: false`` by Brain-Score and may need to be staged
by hand into ``$BRAINIO_HOME/<sha1>/<filename>`` (see docs/real_data.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

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

    def __post_init__(self):
        if not re.fullmatch(r"[0-9a-f]{40}", self.sha1):
            raise ValueError(f"catalog entry {self.name!r}: sha1 must be 40 lowercase hex digits, got {self.sha1!r}")


def _assembly(identifier: str, sha1: str, stimulus_set: str) -> CatalogEntry:
    name = identifier.removeprefix("dicarlo.")
    filename = f"assy_{identifier.replace('.', '_')}.nc"
    return CatalogEntry(name, identifier, "assembly", filename, sha1, f"{S3_ROOT}/{filename}", stimulus_set)


def _stimulus_set(identifier: str, csv_sha1: str, zip_sha1: str) -> list[CatalogEntry]:
    out = []
    for ext, sha1 in (("csv", csv_sha1), ("zip", zip_sha1)):
        filename = f"stimulus_{identifier.replace('.', '_')}.{ext}"
        legacy = (f"image_dicarlo_{identifier.replace('.', '_')}.{ext}",)  # pre-2024 brainio naming
        out.append(CatalogEntry(f"{identifier}.{ext}", identifier, f"stimulus_{ext}", filename, sha1,
                                f"{S3_ROOT}/{filename}", legacy_filenames=legacy))
    return out


_ENTRIES = [
    _assembly("dicarlo.MajajHong2015", "bf8f8d01010d727e3db3f85a9bd5f95f9456b7ec", "hvm"),
    _assembly("dicarlo.MajajHong2015.temporal", "4c5cfe25ad53162c5c716d64004de269162eff38", "hvm"),
    _assembly("dicarlo.MajajHong2015.temporal-10ms", "3a43db05db722b456d156f53b7215413c994e5b5", "hvm"),
    _assembly("dicarlo.MajajHong2015.public", "13d28ca0ce88ee550b54db3004374ae19096e9b9", "hvm-public"),
    _assembly("dicarlo.MajajHong2015.private", "7a40d16148d6f82939155f0bd976d310857fb156", "hvm-private"),
    _assembly("dicarlo.MajajHong2015.temporal.public", "093ac35b3e8464c676d24cf38238415d4d6a9448", "hvm-public"),
    _assembly("dicarlo.MajajHong2015.temporal.private", "804ea9e7c08ae9ab7a7d705c9c7e68582750e2ea", "hvm-private"),
    _assembly("dicarlo.Kar2019", "147717ce397e11d56164d472063a84a83bbcbb94", "Kar2019"),
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
