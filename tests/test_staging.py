"""What a user staged or finished is never lost.

A Brain-Score file staged by hand in ``data.brainscore.cache_dir`` (``cp -p``: an old mtime) is a source of the DAG:
no job is planned for it, so neither a rerun nor an edit of the download script deletes or fetches it again; its sha1
is what is checked, before any job and again by the conversion. A finished run copied with ``cp -a`` plans nothing
where it lands. Both are tried the way a user does them, on scratch copies of the workflow with their own sources.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from convrnn.data.staged import MEMO_FILE, StagedFileError, check_cache_file, file_sha1
from test_workflow import WORKFLOW_FILES, planned_rules, smk

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests/fixtures"
OLD = 1420070400  # 2015-01-01: the mtime a copy made with `cp -p` keeps
KAR2019_SHA1 = "147717ce397e11d56164d472063a84a83bbcbb94"  # the catalog's dicarlo.Kar2019


def scratch_checkout(dest: Path) -> Path:
    """The workflow with its own package sources (the Snakefile puts them ahead of the installed ones)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def stage(src: Path, dest: Path) -> Path:
    """`cp -p`: the content with the source's (old) timestamps."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    os.utime(dest, (OLD, OLD))
    return dest


def test_a_staged_brainscore_file_is_a_checked_source_never_a_job(tmp_path):
    root = scratch_checkout(tmp_path / "wf")
    good, wrong = FIXTURES / "assy_Kar2019_core.nc", FIXTURES / "assy_Kar2019_2020.nc"
    # this copy's catalog pins Kar2019 to the fixture (a written-by-Brain-Score stand-in for the private file)
    catalog = root / "src/convrnn/data/brainscore_catalog.py"
    text = catalog.read_text()
    assert KAR2019_SHA1 in text
    catalog.write_text(text.replace(KAR2019_SHA1, hashlib.sha1(good.read_bytes()).hexdigest()))
    target, args = "results/data/neural/behavior.parquet", ("--configfile", "config/paper.yaml")
    staged = root / "resources/brainio/assy_dicarlo_Kar2019.nc"

    # absent: the download job is planned
    assert planned_rules(smk(target, "-n", *args, cwd=root).output) == {"download_brainscore", "convert_behavior"}

    stage(good, staged)
    before = staged.stat()
    assert planned_rules(smk(target, "-n", *args, cwd=root).output) == {"convert_behavior"}
    smk(target, "--cores", "1", *args, cwd=root)
    assert (root / target).is_file()

    # a rerun and an edit of the download script (a `git pull`) leave it alone: nothing to do, nothing deleted
    script = root / "workflow/scripts/download_brainscore.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert "Nothing to be done" in smk(target, "-n", *args, cwd=root).output
    assert "Nothing to be done" in smk(target, "--cores", "1", *args, cwd=root).output
    after = staged.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert staged.read_bytes() == good.read_bytes()

    # another file under that name is refused by name and expected sha1, and left where it is
    converted = (root / target).stat().st_mtime_ns
    stage(wrong, staged)
    proc = smk(target, "-n", *args, cwd=root, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.output.splitlines() if str(staged.relative_to(root)) in line]
    expected = hashlib.sha1(good.read_bytes()).hexdigest()
    assert len(lines) == 1 and f"is not the catalog's {expected}" in lines[0], proc.output[-2000:]
    assert "data.brainscore.behavior_assembly" in lines[0] and "Traceback" not in proc.output
    assert staged.read_bytes() == wrong.read_bytes() and (root / target).stat().st_mtime_ns == converted


def test_the_conversion_checks_the_file_again_and_the_memo_follows_changes(tmp_path):
    """The sha1 is remembered per (path, size, mtime): a file replaced after the dry run is hashed again by the job
    that reads it, and refused."""
    entry_file = tmp_path / "assy_dicarlo_Kar2019.nc"
    memo = tmp_path / "memo"
    entry_file.write_bytes(b"the right bytes")
    digest = hashlib.sha1(b"the right bytes").hexdigest()
    assert file_sha1(entry_file, memo) == digest and (memo / MEMO_FILE).is_file()
    entry_file.write_bytes(b"other bytes, staged later")
    assert file_sha1(entry_file, memo) == hashlib.sha1(b"other bytes, staged later").hexdigest()
    with pytest.raises(StagedFileError, match=rf"^{entry_file}: sha1 [0-9a-f]{{40}} is not the catalog's "
                                              rf"{KAR2019_SHA1} for dicarlo.Kar2019"):
        check_cache_file(entry_file, memo)


def test_a_finished_run_copied_with_cp_a_plans_nothing_where_it_lands(tmp_path):
    """The code-deps and zoo caches travel with the run (`.snakemake/`); they must answer for where the run now is,
    and the copy runs the sources beside it even when the installed package points at the original."""
    first = scratch_checkout(tmp_path / "first")
    target = "results/neural/ceiling.parquet"
    smk(target, "--cores", "2", cwd=first, timeout=900)
    assert "Nothing to be done" in smk(target, "-n", cwd=first).output
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    subprocess.run(["cp", "-a", str(first), str(moved)], check=True)
    out = smk(target, "-n", cwd=moved).output
    assert "Nothing to be done" in out, out[-3000:]
    env = {**os.environ, "PYTHONPATH": str(first / "src")}  # as an editable install of the original would
    assert "Nothing to be done" in smk(target, "-n", cwd=moved, env=env).output
    # the original may go away: the copy depends on nothing of it
    shutil.rmtree(first)
    assert "Nothing to be done" in smk(target, "-n", cwd=moved).output
    answers = json.loads((moved / ".snakemake/convrnn-preflight/code-deps.json").read_text())["answers"]
    assert answers and all(not Path(f).is_absolute() for files in answers.values() for f in files), answers
