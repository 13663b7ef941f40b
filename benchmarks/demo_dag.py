"""Time the embedded-default DAG end to end on this machine (target < 300 s on 2 cores, never > 600 s).

Runs `snakemake --cores N` in a scratch copy of the workflow and prints JSON: wall time, its ratio to the targets, the
number of jobs, and per-rule time / peak memory from the rules' `benchmark:` files. The baseline measured in the same run
is the workflow's own start-up (a dry run), so `wall_over_dry_run` says how much of the wall is real work.

    python benchmarks/demo_dag.py [--cores 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def run(args, cwd):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this (new) directory and keep the results")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="convrnn-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    for name in ["Snakefile", "rules", "workflow", "config", "envs"]:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name, **({"dirs_exist_ok": True} if src.is_dir() else {}))
    dry_s, _ = run(["-n", "--quiet"], root)
    wall_s, proc = run(["--cores", str(args.cores)], root)
    n_jobs = sum("Finished job" in line or "Finished jobid" in line for line in proc.stderr.splitlines())
    per_rule = {}
    for tsv in sorted((root / "results/benchmarks").rglob("*.tsv")):
        b = pd.read_csv(tsv, sep="\t")
        rule = tsv.parent.name
        entry = per_rule.setdefault(rule, {"jobs": 0, "total_s": 0.0, "max_rss_mb": 0.0})
        entry["jobs"] += 1
        entry["total_s"] = round(entry["total_s"] + float(b["s"].iloc[0]), 1)
        entry["max_rss_mb"] = max(entry["max_rss_mb"], float(pd.to_numeric(b["max_rss"], errors="coerce").fillna(0).iloc[0]))
    print(json.dumps({
        "cores": args.cores,
        "wall_s": round(wall_s, 1),
        "dry_run_s": round(dry_s, 1),
        "wall_over_dry_run": round(wall_s / dry_s, 1),
        "wall_over_target_300s": round(wall_s / 300, 2),
        "within_limit_600s": wall_s < 600,
        "jobs": n_jobs,
        "per_rule": per_rule,
    }, indent=2))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
