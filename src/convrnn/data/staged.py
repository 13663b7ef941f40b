"""Brain-Score files already in the workflow's cache folder (``data.brainscore.cache_dir``), pinned by their sha1.

A file that is there, downloaded by an earlier run or staged by hand (``cp -p``, ``rsync -a`` and ``tar x`` keep its
old mtime), is a plain source of the DAG: no job is planned for it, so Snakemake never deletes it to redo it (as it
would for the output of a rule whose script changed or whose output is older than that script). What pins its
content is the catalog's sha1, checked before any job (``snakemake -n`` included) and again by the job that converts
it. Hashing a multi-GB assembly takes seconds, so a file's sha1 is remembered per (path, size, mtime) in a small JSON
file; any change to the file changes its size or mtime and makes it hashed again.

Torch-, xarray- and pandas-free: the Snakefile calls it on every invocation.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from convrnn.data.brainscore_catalog import CatalogEntry, entry_for_file

MEMO_FILE = "sha1.json"
_CHUNK = 1 << 20


class StagedFileError(ValueError):
    """A file in the cache is not the catalog's file (wrong sha1); the message names the file and both hashes."""


def sha1_of(path: str | os.PathLike) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def entry_for(path: str | os.PathLike) -> CatalogEntry:
    """The catalog entry a cache file stands for, from its file name."""
    return entry_for_file(Path(path).name)


def _stat_key(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _load_memo(memo_dir) -> dict:
    memo = Path(memo_dir) / MEMO_FILE
    try:
        return json.loads(memo.read_text())
    except (OSError, ValueError):  # none yet, or cut short by a kill: hash again
        return {}


def remember(path: str | os.PathLike, sha1: str, memo_dir: str | os.PathLike | None) -> None:
    """Record ``sha1`` as the content of ``path`` as it is now (a download that was checked while it streamed)."""
    if memo_dir is None:
        return
    memo = _load_memo(memo_dir)
    memo[str(path)] = [*_stat_key(Path(path)), sha1]
    target = Path(memo_dir) / MEMO_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(memo, sort_keys=True))
    os.replace(tmp, target)  # concurrent writers: the last one wins, a lost entry is only hashed again


def file_sha1(path: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """sha1 of ``path``, from the memo in ``memo_dir`` while the file's size and mtime are those it was hashed at."""
    path = Path(path)
    if memo_dir is not None:
        known = _load_memo(memo_dir).get(str(path))
        if known is not None and known[:2] == _stat_key(path):
            return known[2]
    digest = sha1_of(path)
    remember(path, digest, memo_dir)
    return digest


def check_cache_file(path: str | os.PathLike, memo_dir: str | os.PathLike | None = None,
                     entry: CatalogEntry | None = None) -> None:
    """Raise ``StagedFileError`` (one line: the file, its sha1, the catalog's) unless ``path`` is the catalog's file."""
    entry = entry or entry_for(path)
    actual = file_sha1(path, memo_dir)
    if actual != entry.sha1:
        raise StagedFileError(
            f"{path}: sha1 {actual} is not the catalog's {entry.sha1} for {entry.identifier} "
            f"(convrnn.data.brainscore_catalog); this is not that file, or it is damaged: replace it with the right "
            f"file, or remove it to have it downloaded")
