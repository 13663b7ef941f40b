"""Paper-size rehearsal of the neural branch: does every job fit the memory the SLURM profile gives it?

A synthetic MajajHong2015 temporal-10ms assembly with the real dimensions (5760 images, 296 sites of which the 40
faulty Tito_L_P V4 sites, unequal repetitions: 28 for V0 images, 51 for V3, 46-49 for V6, ~270k presentations) is
written as Brain-Score writes it (netCDF4/HDF5, data variable dims (neuroid, presentation, time_bin), presentation
coordinates image_id/repetition, neuroid coordinates neuroid_id/region/animal/..., time_bin_start/time_bin_end), with
one model's paper-size features (26 steps x 10 layers x 1000 PCA components, the project's feature format) and a
Kar2019-size behaviour set (1320 images, 10 objects). Then each job runs in its own subprocess through the same
package function its rule script calls: convert_neural -> noise_ceiling -> neural_fit -> object_solution_times.

Images, presentations and Kar2019 images are multiplied by each ``--scale``; sites, steps, layers and components
stay full size. Peak RSS per job comes from ``os.wait4`` (the child's own rusage). Peak memory is fitted as
a + b * scale over the scales given and extrapolated to scale 1; runs at several ``--bins`` show it is flat in the
number of time bins. Prints JSON.

    .venv/bin/python benchmarks/paper_scale.py --scale 0.03 0.06 --bins 4 8
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FULL = {"images": 5760, "sites": 296, "steps": 26, "layers": 10, "components": 1000, "kar_images": 1320,
        "kar_objects": 10}
REPS = {"V0": (28, 28), "V3": (51, 51), "V6": (46, 49)}           # per image; ~270k presentations in all
VARIATION_SHARE = {"V0": 640 / 5760, "V3": 2560 / 5760, "V6": 2560 / 5760}
JOBS = ("convert_neural", "noise_ceiling", "neural_fit", "object_solution_times")
LATENT = 16  # shared low-rank stimulus code: gives features and responses something to predict


# ------------------------------------------------------------------------------------------ inputs
def make_inputs(work: Path, scale: float, n_bins: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_img = max(64, round(FULL["images"] * scale))
    variation = np.repeat(list(VARIATION_SHARE), [round(n_img * s) for s in VARIATION_SHARE.values()])[:n_img]
    variation = np.r_[variation, np.full(n_img - len(variation), "V6")]
    ids = np.array([f"{i:040x}" for i in rng.integers(0, 2 ** 62, n_img)])  # 40-character hashes, like Brain-Score's
    objects = np.arange(n_img) % 64
    meta = pd.DataFrame({"stimulus_id": ids, "object": [f"obj{o:02d}" for o in objects],
                         "category": [f"cat{o // 8}" for o in objects], "variation": variation})
    latent = rng.standard_normal((n_img, LATENT), dtype=np.float32) + np.eye(64, LATENT, dtype=np.float32)[objects] * 2
    (work / "data").mkdir(parents=True, exist_ok=True)
    meta.to_parquet(work / "data/neural_meta.parquet", index=False)
    n_pres = _write_assembly(work / "data/assembly.nc", rng, meta, latent, n_bins)
    _write_features(work / "features/neural", rng, ids, latent)

    n_kar = max(4 * FULL["kar_objects"], round(FULL["kar_images"] * scale))
    kar_ids = np.array([f"kar{i:05d}" for i in range(n_kar)])
    kar_obj = np.arange(n_kar) % FULL["kar_objects"]
    kar_latent = rng.standard_normal((n_kar, LATENT), dtype=np.float32) + np.eye(
        FULL["kar_objects"], LATENT, dtype=np.float32)[kar_obj] * 2
    pd.DataFrame({"stimulus_id": kar_ids, "object": [f"kobj{o}" for o in kar_obj]}).to_parquet(
        work / "data/behavior_meta.parquet", index=False)
    pd.DataFrame({"stimulus_id": kar_ids, "i1": rng.normal(1.5, 1.0, n_kar),
                  "ost_ms": rng.choice(np.r_[np.arange(70, 260, 10.0), np.nan], n_kar)}).to_parquet(
        work / "data/behavior.parquet", index=False)
    _write_features(work / "features/behavior", rng, kar_ids, kar_latent)
    return {"images": n_img, "presentations": n_pres, "sites": FULL["sites"], "bins": n_bins, "kar_images": n_kar}


def _sites(rng) -> pd.DataFrame:
    """296 neuroids as in the real assembly: Chabo V4 70 / IT 58, Tito V4 58 (40 of them the faulty Tito_L_P
    array) / IT 110."""
    from convrnn.data.brainscore_catalog import FAULTY_SITES

    rows = [(f"Chabo_L_{'M' if r == 'V4' else 'A'}_{i // 10}_{i % 10}", r, "Chabo") for r, n in (("V4", 70), ("IT", 58))
            for i in range(n)]
    rows += [(s, "V4", "Tito") for s in sorted(FAULTY_SITES)]
    rows += [(f"Tito_L_M_{i // 10}_{i % 10}", "V4", "Tito") for i in range(18)]
    rows += [(f"Tito_{'L' if i < 55 else 'R'}_A_{i // 10}_{i % 10}", "IT", "Tito") for i in range(110)]
    df = pd.DataFrame(rows, columns=["neuroid_id", "region", "animal"])
    df["arr"] = df.neuroid_id.str.split("_").str[2]
    df["hemisphere"] = df.neuroid_id.str.split("_").str[1]
    df["row"] = df.neuroid_id.str.split("_").str[3].astype(np.int64)
    df["col"] = df.neuroid_id.str.split("_").str[4].astype(np.int64)
    df["subregion"] = df.region.where(df.region == "V4", df.region + "_" + df.arr)
    df["x"], df["y"] = rng.uniform(-2, 2, len(df)), rng.uniform(-2, 2, len(df))
    return df


def _write_assembly(path: Path, rng, meta: pd.DataFrame, latent: np.ndarray, n_bins: int) -> int:
    """netCDF4 as Brain-Score's write_netcdf leaves it: one float32 data variable (neuroid, presentation, time_bin)
    whose ``coordinates`` attribute names the flattened MultiIndex levels. Written one time bin at a time."""
    import h5netcdf.legacyapi as nc4

    sites = _sites(rng)
    reps = np.array([rng.integers(REPS[v][0], REPS[v][1] + 1) for v in meta["variation"]])
    image = np.repeat(np.arange(len(meta)), reps)
    repetition = np.concatenate([np.arange(r) for r in reps])
    order = rng.permutation(len(image))  # recording order, not sorted by image
    image, repetition = image[order], repetition[order]
    starts = 10 * np.arange(n_bins)  # bins [10t, 10t+10) pair with model step t (config/paper.yaml: offset 0)
    readout = rng.standard_normal((LATENT, len(sites)), dtype=np.float32) / np.sqrt(LATENT)
    signal = latent @ readout  # (N, S)
    coords = {"image_id": ("presentation", meta["stimulus_id"].to_numpy()[image]),
              "repetition": ("presentation", repetition.astype(np.int64)),
              "time_bin_start": ("time_bin", starts.astype(np.int64)),
              "time_bin_end": ("time_bin", (starts + 10).astype(np.int64))}
    coords |= {c: ("neuroid", sites[c].to_numpy()) for c in sites.columns}
    with nc4.Dataset(path, "w") as ds:
        for dim, n in (("neuroid", len(sites)), ("presentation", len(image)), ("time_bin", n_bins)):
            ds.createDimension(dim, n)
        for name, (dim, values) in coords.items():
            var = ds.createVariable(name, str if values.dtype.kind in "OU" else values.dtype, (dim,))
            var[:] = values.astype(object) if values.dtype.kind in "OU" else values
        data = ds.createVariable("dicarlo.MajajHong2015.temporal-10ms", "f4", ("neuroid", "presentation", "time_bin"),
                                 chunksizes=(len(sites), min(len(image), 8192), 1))
        data.setncattr("coordinates", " ".join(coords))
        for b in range(n_bins):
            gain = np.float32(np.exp(-((b - n_bins / 3) / max(n_bins / 4, 1)) ** 2))  # a response time course
            block = signal[image].T * gain + rng.standard_normal((len(sites), len(image)), dtype=np.float32)
            data[:, :, b:b + 1] = block[..., None]
    return len(image)


def _write_features(stem: Path, rng, ids: np.ndarray, latent: np.ndarray) -> None:
    """10 layers x 26 steps x 1000 components, the format extract_features + save_feature_set write."""
    from convrnn.features.store import FeatureSet, save_feature_set

    n, t, d = len(ids), FULL["steps"], FULL["components"]
    feats, rows = {}, []
    for k in range(FULL["layers"]):
        mix = rng.standard_normal((LATENT, d), dtype=np.float32) / np.sqrt(LATENT)
        feats[f"layer{k:02d}"] = ((latent @ mix)[None] * np.linspace(0.2, 1, t, dtype=np.float32)[:, None, None]
                                  + rng.standard_normal((t, n, d), dtype=np.float32))
        rows += [{"layer": f"layer{k:02d}", "layer_index": k, "model_step": s, "n_features": d, "n_raw_features": d,
                  "pca_explained_variance": 1.0} for s in range(t)]
    logits = rng.standard_normal((t, n, 1000), dtype=np.float32)
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_feature_set(FeatureSet(feats, logits, pd.DataFrame(rows), list(ids)), f"{stem}.safetensors",
                     f"{stem}.parquet", "paper_scale")


# -------------------------------------------------------------------------------------------- jobs
def run_job(name: str, work: Path, device: str) -> None:
    """One job, in this (child) process, through the package function its rule script calls."""
    cfg = _paper_config()
    pres, neural = cfg["presentation"], cfg["neural"]
    d = work / "data"
    if name == "convert_neural":
        from convrnn.data.brainscore import convert_assembly
        convert_assembly(d / "assembly.nc", d / "responses.parquet")
    elif name == "noise_ceiling":
        from convrnn.neural.jobs import noise_ceiling_job
        noise_ceiling_job(d / "responses.parquet", d / "neural_meta.parquet", d / "ceiling.parquet",
                          ceiling_splits=neural["ceiling_splits"], n_steps=pres["neural_times"],
                          step_ms=pres["step_ms"], latency_offset_ms=pres["latency_offset_ms"],
                          pairing=neural["pairing"])
    elif name == "neural_fit":
        from convrnn.neural.jobs import neural_fit_job
        from convrnn.devices import resolve_device
        f = work / "features/neural"
        neural_fit_job(f"{f}.safetensors", f"{f}.parquet", d / "responses.parquet", d / "neural_meta.parquet",
                       d / "fits.parquet", model="paper_scale", ceiling=d / "ceiling.parquet",
                       convention=neural["convention"], regression=neural["regression"], pairing=neural["pairing"],
                       n_splits=neural["n_splits"], ceiling_splits=neural["ceiling_splits"],
                       pls_components=neural["pls_components"], step_ms=pres["step_ms"],
                       latency_offset_ms=pres["latency_offset_ms"], device=resolve_device(device))
    elif name == "object_solution_times":
        from convrnn.neural.ost_job import object_solution_times_job
        f = work / "features/behavior"
        object_solution_times_job(f"{f}.safetensors", f"{f}.parquet", d / "behavior_meta.parquet",
                                  d / "behavior.parquet", d / "ost.parquet", model="paper_scale",
                                  layer=cfg["behavior"].get("layer", "top"), step_ms=pres["step_ms"],
                                  latency_offset_ms=pres["latency_offset_ms"], seed=cfg["seed"])
    else:
        raise ValueError(f"--job: unknown job {name!r}; expected one of {JOBS}")


def _paper_config() -> dict:
    import yaml
    return yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def slurm_mem_mb() -> dict[str, int]:
    """mem_mb of each rule's first attempt in slurm/config.yaml (a YTE template: read, not rendered)."""
    text = (ROOT / "slurm/config.yaml").read_text()
    out = {}
    for rule in JOBS:
        m = re.search(rf"^\s+{rule}:.*?mem_mb[\"']?:?\s*=?\s*\"?(\d+)\s*\*\s*attempt", text, re.M)
        if not m:
            raise ValueError(f"slurm/config.yaml: no mem_mb for rule {rule!r} under set-resources")
        out[rule] = int(m.group(1))
    return out


def measure(work: Path, jobs, device: str, threads: int) -> dict:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                        "OPENBLAS_NUM_THREADS": str(threads)}
    out = {}
    for name in jobs:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--job", name, "--work", str(work), "--device", device],
                                env=env, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read()
        # The child reports its own VmHWM: rusage's ru_maxrss also counts the parent's RSS at fork (Linux keeps the
        # pre-exec high-water mark), which would charge every job with the generated inputs.
        hwm = re.findall(r"^PEAK_RSS_KB (\d+)$", err, re.M)
        peak_kb = int(hwm[-1]) if hwm else usage.ru_maxrss
        out[name] = {"wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(peak_kb / 1024),
                     "ok": proc.returncode == 0}
        if proc.returncode:
            out[name]["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            break
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, nargs="+", default=[0.125], help="fractions of the paper's image count")
    ap.add_argument("--bins", type=int, nargs="+", default=[26], help="numbers of 10 ms time bins")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, help="working folder, kept; inputs already there are reused "
                    "(default: a temporary one, removed afterwards)")
    ap.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS), help="run only these jobs, in order")
    ap.add_argument("--job", choices=JOBS, help=argparse.SUPPRESS)  # internal: run one job in this process
    args = ap.parse_args(argv)
    if args.job:
        run_job(args.job, args.work, args.device)
        status = Path("/proc/self/status")
        if status.exists():  # Linux: this process's own high-water mark
            print("PEAK_RSS_KB", re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1), file=sys.stderr)
        return

    limits = slurm_mem_mb()
    runs = [(s, args.bins[0]) for s in args.scale] + [(args.scale[0], b) for b in args.bins[1:]]
    results = []
    for scale, n_bins in runs:
        work = args.work / f"scale{scale}_bins{n_bins}" if args.work else Path(tempfile.mkdtemp(prefix="paper_scale_"))
        try:
            if (work / "dims.json").exists():
                dims = json.loads((work / "dims.json").read_text())
            else:
                t0 = time.perf_counter()
                dims = make_inputs(work, scale, n_bins)
                dims["generate_s"] = round(time.perf_counter() - t0, 1)
                (work / "dims.json").write_text(json.dumps(dims))
            jobs = measure(work, args.jobs, args.device, args.threads)
        finally:
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)
        results.append({"scale": scale, **dims, "jobs": jobs})
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)

    summary = {}
    for name in args.jobs:
        at = [(r["scale"], r["jobs"][name]["peak_rss_mb"]) for r in results
              if r["bins"] == args.bins[0] and r["jobs"].get(name, {}).get("ok")]
        by_bins = {r["bins"]: r["jobs"][name]["peak_rss_mb"] for r in results
                   if r["scale"] == args.scale[0] and r["jobs"].get(name, {}).get("ok")}
        entry = {"slurm_mem_mb": limits[name], "peak_rss_mb_by_bins": by_bins}
        if len({s for s, _ in at}) >= 2:  # one scale cannot separate the fixed cost (imports) from the slope
            b, a = np.polyfit(*zip(*at), 1)
            entry |= {"mb_at_scale_0": round(a), "mb_per_unit_scale": round(b), "full_size_mb": round(a + b),
                      "fits": bool(a + b <= limits[name])}
        summary[name] = entry
    fits = [e.get("fits") for e in summary.values()]
    passed = None if None in fits else all(fits)  # null: too few scales to extrapolate
    print(json.dumps({"full": FULL, "runs": results, "jobs": summary, "pass": passed}, indent=1))


if __name__ == "__main__":
    main()
