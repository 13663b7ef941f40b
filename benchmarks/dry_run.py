"""Wall time of `snakemake -n` on the paper config, printed as JSON.

Cases (each in a scratch copy of the workflow, so the repository's .snakemake/ is untouched):
- floor: `snakemake -n` of a one-rule Snakefile: Snakemake's own start-up, which no workflow can go below;
- paper_cold: the first dry run after a change to the code the preflight asks (models, TrainConfig, SearchSpace):
  pays the torch import and builds every configured model on the meta device;
- paper_warm / default_warm: every later dry run (the zoo's answers come from .snakemake/convrnn-preflight/);
  warm_imports_torch says whether such a run imported torch at all.
- baseline (with --baseline REV): the same warm dry run of the workflow and package at git revision REV (exported
  to a scratch directory, its package first on PYTHONPATH), for a ratio that holds across machines.
Usage: python benchmarks/dry_run.py [--repeats 5] [--baseline REV]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ["Snakefile", "rules", "workflow", "config", "envs"]
TARGET_S = 2.0


def dry_run(cwd: Path, *args: str, python_flags: tuple[str, ...] = (), env=None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stderr) of one dry run. CPU time is the steadier number on a shared machine."""
    cmd = [sys.executable, *python_flags, "-m", "snakemake", "-n", "--quiet", "rules", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def median_of(runs) -> dict:
    return {"wall_s": round(statistics.median(r[0] for r in runs), 3),
            "cpu_s": round(statistics.median(r[1] for r in runs), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", metavar="REV", help="also time the workflow at this git revision (e.g. HEAD)")
    args = ap.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        floor_dir = Path(tmp, "floor")
        floor_dir.mkdir()
        (floor_dir / "Snakefile").write_text('rule all:\n    output: "x"\n    shell: "touch {output}"\n')
        copy = Path(tmp, "workflow")
        copy.mkdir()
        for name in WORKFLOW:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, copy / name)
        paper = ("--configfile", "config/paper.yaml")

        floor = median_of([dry_run(floor_dir) for _ in range(args.repeats)])
        cold = median_of([dry_run(copy, *paper)])
        warm = median_of([dry_run(copy, *paper) for _ in range(args.repeats)])
        default_warm = median_of([dry_run(copy) for _ in range(args.repeats)])
        imports = dry_run(copy, *paper, python_flags=("-X", "importtime"))[2]
        torch_imported = any(line.rstrip().endswith("| torch") for line in imports.splitlines())
        if args.baseline:
            old = Path(tmp, "baseline")
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=REPO, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
            env = {**os.environ, "PYTHONPATH": str(old / "src")}
            dry_run(old, *paper, env=env)  # fills whatever cache that revision keeps
            base = median_of([dry_run(old, *paper, env=env) for _ in range(args.repeats)])
            result = {"baseline": {"revision": args.baseline, **base},
                      "paper_warm_over_baseline_wall": round(warm["wall_s"] / base["wall_s"], 3)}

    print(json.dumps({
        "benchmark": "snakemake -n --configfile config/paper.yaml",
        "measures": "median over separate processes of wall and CPU (user+sys) seconds; warm = preflight cache "
                    "filled (every dry run but the first after an edit of the models, training-config or "
                    "search-space code)",
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "repeats": args.repeats,
        "floor": floor,
        "paper_cold": cold,
        "paper_warm": warm,
        "default_warm": default_warm,
        "paper_warm_over_floor_wall_s": round(warm["wall_s"] - floor["wall_s"], 3),
        "warm_imports_torch": torch_imported,
        "target_s": TARGET_S,
        "meets_target_wall": warm["wall_s"] <= TARGET_S,
        **result,
    }, indent=2))


if __name__ == "__main__":
    main()
