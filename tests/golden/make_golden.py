"""Golden values for tests/test_neural_scoring.py, computed by the reference implementations' own code.

Not part of the package or the test run: this script makes ``inputs.npz`` (small deterministic arrays) and the
reference outputs ``brainscore.npz`` / ``brainmodel_utils.npz`` beside it. Run it with a Python that has
brainscore-vision 2.4.2 / brainscore-core 2.5.0 installed (xarray 2022.3, numpy<2) and with a checkout of
neuroailab/brainmodel_utils (commit 164d3a21) on PYTHONPATH:

    BS_INSTALL_DEPENDENCIES=no PYTHONPATH=/path/to/brainmodel_utils python tests/golden/make_golden.py

Brain-Score: ``pls`` (CrossRegressedCorrelation, PLSRegression(25, scale=False), StratifiedShuffleSplit 90/10 by
object_name, random_state=1) per region on one time bin, ``internal_consistency`` per region and bin,
``explained_variance``, and the temporal pair ``spantime_pls`` + ``internal_consistency_temporal`` over all bins.
brainmodel_utils: ``get_linregress_consistency_persphalftrial`` (one call per split-half seed 1234.., a sklearn
Ridge map) on IT at bin 0, where one stimulus keeps only 2 repetitions. Repetition counts are unequal (some stimuli
miss repetitions) and a few single trials are NaN.
"""
import os
import sys
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")  # else brainscore_vision pip-installs plugin requirements
warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent

N_OBJ, PER_OBJ, P, R, B = 12, 10, 40, 6, 3
REGIONS = {"V4": 5, "IT": 6}
N = N_OBJ * PER_OBJ
RIDGE_ALPHA, N_SPLITHALVES, SHORT_STIMULUS = 10.0, 8, 7


def make_inputs():
    rng = np.random.default_rng(2024)
    order = rng.permutation(N)                                    # stimulus ids are not in row order
    stimulus_id = np.array([f"img{i:04d}" for i in order])
    object_name = np.array([f"obj{i // PER_OBJ:02d}" for i in range(N)])
    feats = rng.normal(size=(B, N, P))                            # model features per time bin
    s = sum(REGIONS.values())
    w = rng.normal(size=(P, s)) / np.sqrt(P)
    signal = np.einsum("bnp,ps->bns", feats, w) + 0.5 * rng.normal(size=(B, N, s))
    trials = signal[None] + rng.normal(size=(R, B, N, s)) * np.linspace(0.6, 2.5, s)
    trials = trials.transpose(0, 2, 3, 1)                         # (R, N, S, B)
    # Unequal repetition counts: 15 stimuli lack repetitions 4 and 5 (every random half of 3 still holds one).
    trials[4:, rng.choice(N, 15, replace=False)] = np.nan
    # A few single NaN trials (one repetition of one site at one stimulus).
    for _ in range(8):
        trials[rng.integers(0, 4), rng.integers(0, N), rng.integers(0, s), :] = np.nan
    region = np.array(sum(([k] * v for k, v in REGIONS.items()), []))
    site = np.array([f"site{j:02d}" for j in range(s)])
    np.savez_compressed(HERE / "inputs.npz", features=feats.astype(np.float32), trials=trials.astype(np.float32),
                        stimulus_id=stimulus_id, object_name=object_name, site=site, region=region,
                        time_bin_start_ms=np.arange(B) * 10, time_bin_end_ms=np.arange(B) * 10 + 10)


def brainscore(inp):
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    from brainscore_vision import load_ceiling, load_metric
    from brainscore_vision.benchmark_helpers.neural_common import average_repetition, explained_variance

    feats, trials = inp["features"].astype(np.float64), inp["trials"].astype(np.float64)
    ids, objs = inp["stimulus_id"], inp["object_name"]
    starts, ends = inp["time_bin_start_ms"], inp["time_bin_end_ms"]
    out = {}

    def neural_assembly(region, b=None):
        cols = np.flatnonzero(inp["region"] == region)
        present = np.isfinite(trials[:, :, cols]).any(axis=(2, 3))          # (R, N): a recorded presentation
        r_idx, n_idx = np.nonzero(present)
        coords = {"stimulus_id": ("presentation", ids[n_idx]), "object_name": ("presentation", objs[n_idx]),
                  "repetition": ("presentation", r_idx),
                  "neuroid_id": ("neuroid", inp["site"][cols]), "region": ("neuroid", [region] * len(cols))}
        if b is not None:
            return NeuroidAssembly(trials[r_idx, n_idx][:, cols, b], coords=coords, dims=["presentation", "neuroid"])
        vals = trials[r_idx, n_idx][:, cols]                               # (presentation, neuroid, time_bin)
        coords.update(time_bin_start=("time_bin", starts), time_bin_end=("time_bin", ends))
        return NeuroidAssembly(vals, coords=coords, dims=["presentation", "neuroid", "time_bin"])

    def model_assembly(b=None):
        coords = {"stimulus_id": ("presentation", ids), "object_name": ("presentation", objs),
                  "neuroid_id": ("neuroid", [f"f{j:03d}" for j in range(P)]), "layer": ("neuroid", ["L"] * P)}
        if b is not None:
            return NeuroidAssembly(feats[b], coords=coords, dims=["presentation", "neuroid"])
        coords.update(time_bin_start=("time_bin", starts), time_bin_end=("time_bin", ends))
        return NeuroidAssembly(feats.transpose(1, 2, 0), coords=coords, dims=["presentation", "neuroid", "time_bin"])

    kwargs = dict(crossvalidation_kwargs=dict(stratification_coord="object_name"))
    for region in REGIONS:
        target = neural_assembly(region, b=0)
        raw = load_metric("pls", **kwargs)(model_assembly(0), average_repetition(target))
        ceiling = load_ceiling("internal_consistency")(target)
        score = explained_variance(raw, ceiling)
        out[f"{region}/pls_r_split"] = raw.attrs["raw"].transpose("split", "neuroid").values      # (10, S)
        out[f"{region}/pls_r"] = float(raw.values)
        out[f"{region}/ceiling_split"] = ceiling.attrs["raw"].transpose("split", "neuroid").values
        out[f"{region}/ceiling"] = float(ceiling.values)
        out[f"{region}/score"] = float(score.values)

        target_t = neural_assembly(region)
        raw_t = load_metric("spantime_pls", **kwargs)(model_assembly(), average_repetition(target_t))
        ceil_t = load_ceiling("internal_consistency_temporal")(target_t)
        out[f"{region}/spantime_r"] = raw_t.transpose("time_bin").values                           # (B,)
        out[f"{region}/spantime_r_split"] = raw_t.attrs["raw"].transpose("split", "time_bin", "neuroid").values
        out[f"{region}/temporal_ceiling"] = ceil_t.transpose("time_bin").values
        out[f"{region}/temporal_ceiling_split"] = (
            ceil_t.attrs["raw"].transpose("split", "time_bin", "neuroid").values)
        out[f"{region}/spantime_score"] = explained_variance(raw_t, ceil_t).values
    np.savez_compressed(HERE / "brainscore.npz", **out)


def brainmodel_utils(inp):
    from brainmodel_utils.metrics.consistency import get_linregress_consistency_persphalftrial

    class NoDatabase:  # the function calls db_interface.save_many_neurons even when it is None
        def __getattr__(self, name):
            return lambda *a, **k: None

    cols = np.flatnonzero(inp["region"] == "IT")
    source = inp["features"][0].astype(np.float64)
    target = inp["trials"][:, :, cols, 0].astype(np.float64)                 # (trials, stimuli, units)
    # One stimulus keeps only repetitions 0 and 1: a half split without either is skipped by brainmodel_utils.
    target[2:, SHORT_STIMULUS] = np.nan
    map_kwargs = {"map_type": "sklinear", "map_kwargs": {"regression_type": "Ridge",
                                                         "regression_kwargs": {"alpha": RIDGE_ALPHA}}}
    out, valid = {}, []
    for seed in range(1234, 1234 + N_SPLITHALVES):
        res = get_linregress_consistency_persphalftrial(source, target, map_kwargs, sphseed=seed,
                                                        db_interface=NoDatabase())
        valid.append(res is not None)
        if res is not None:
            for key in ("r_xy_n_sb", "r_xy", "r_xx", "r_yy", "denom_sb"):
                out.setdefault(key, []).append(res["test"][key])             # (splits, units)
    np.savez_compressed(HERE / "brainmodel_utils.npz", valid=np.array(valid), alpha=RIDGE_ALPHA,
                        short_stimulus=SHORT_STIMULUS,
                        **{k: np.stack(v) for k, v in out.items()})


if __name__ == "__main__":
    make_inputs()
    inputs = dict(np.load(HERE / "inputs.npz"))
    brainscore(inputs)
    brainmodel_utils(inputs)
    print("wrote", *sorted(p.name for p in HERE.glob("*.npz")), file=sys.stderr)
