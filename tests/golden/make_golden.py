"""Golden values for tests/test_neural_scoring.py and tests/test_ost.py, computed by the reference implementations'
own code.

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

OST (tests/test_ost.py), needs tensorflow-cpu as well: ``ost_inputs.npz`` holds 240 images of 6 objects in 5 time
bins (features, per-bin choice probabilities, the monkey's I1 and IT OST with NaNs); ``ost_brainscore.npz`` what
Brain-Score's ``OSTCorrelation`` computed from them, twice: with its ``TFProbabilitiesClassifier`` replaced by one
returning the given probabilities (everything after the classifier), and with the real TF classifier on the
features (the TF-vs-torch comparison); plus TF's initial kernels. Parts can be chosen on the command line
(``neural``, ``ost``; default both), so one part can be regenerated without rewriting the other's files.
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


# ------------------------------------------------------------------------------------------------------ OST
OST_OBJ, OST_PER_OBJ, OST_BINS, OST_D = 6, 40, 5, 24
OST_N = OST_OBJ * OST_PER_OBJ
OST_KERNEL_SHAPES = [(OST_D, OST_OBJ), (1000, 10), (2, OST_OBJ)]


def make_ost_inputs():
    from sklearn.model_selection import ShuffleSplit

    rng = np.random.default_rng(7)
    stimulus_id = np.array([f"{rng.integers(16 ** 8):08x}" for _ in range(OST_N)])    # unsorted, like sha1 ids
    assert len(set(stimulus_id)) == OST_N
    # Brain-Score's I1 fails (KeyError) when a test split lacks an object: draw labels until every split has all.
    order = np.argsort(stimulus_id)
    tests = [te for _, te in ShuffleSplit(10, test_size=0.1, random_state=1).split(np.zeros(OST_N))]
    while True:
        labels = rng.permutation(np.repeat(np.arange(OST_OBJ), OST_PER_OBJ))
        if all(len(set(labels[order[te]])) == OST_OBJ for te in tests):
            break
    ease = rng.uniform(0.2, 1.5, OST_N)                                       # per-image difficulty
    gain = np.linspace(0.0, 2.5, OST_BINS)                                    # information grows with time
    means = rng.normal(size=(OST_OBJ, OST_D))
    features = (gain[:, None, None] * ease[None, :, None] * means[labels][None]
                + rng.normal(size=(OST_BINS, OST_N, OST_D))).astype(np.float32)
    logits = 3.0 * gain[:, None, None] * ease[None, :, None] * np.eye(OST_OBJ)[labels][None] \
        + rng.normal(size=(OST_BINS, OST_N, OST_OBJ))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # Edge cases of the d' route: a certain image (false alarms 0 -> d' clipped at 5), and an image with
    # P(truth) = P(distractor) = 0 (0/0 -> NaN false alarm, skipped in the means).
    probabilities[3:, 0] = np.eye(OST_OBJ)[labels[0]]
    probabilities[:, 1] = 0.0
    probabilities[:, 1, (labels[1] + 1) % OST_OBJ] = 1.0
    target_i1 = rng.uniform(0.3, 2.0, OST_N)
    target_i1[rng.choice(OST_N, 8, replace=False)] = np.nan
    target_ost = 230.0 - 80.0 * ease + rng.normal(scale=20.0, size=OST_N)     # easy images are solved early
    target_ost[rng.choice(OST_N, 12, replace=False)] = np.nan
    np.savez_compressed(HERE / "ost_inputs.npz", stimulus_id=stimulus_id, labels=labels, features=features,
                        probabilities=probabilities, target_i1=target_i1, target_ost=target_ost,
                        time_bin_start_ms=70 + 10 * np.arange(OST_BINS), time_bin_end_ms=80 + 10 * np.arange(OST_BINS))


def ost_brainscore(inp):
    import brainscore_vision.metrics.ost.metric as ost_metric
    import tensorflow as tf
    from brainscore_core.supported_data_standards.brainio.assemblies import BehavioralAssembly, DataAssembly
    from brainscore_vision import load_metric

    ids, labels = inp["stimulus_id"], inp["labels"]
    names = np.array([f"obj{k}" for k in labels])
    starts, ends = inp["time_bin_start_ms"], inp["time_bin_end_ms"]
    row_of = {sid: i for i, sid in enumerate(ids)}

    def source(values):                                  # (T, N, D) -> presentation x neuroid x time_bin
        return DataAssembly(values.transpose(1, 2, 0), coords={
            "stimulus_id": ("presentation", ids), "image_label": ("presentation", names),
            "truth": ("presentation", names), "neuroid_id": ("neuroid", np.arange(values.shape[2])),
            "time_bin_start": ("time_bin", starts), "time_bin_end": ("time_bin", ends)},
            dims=["presentation", "neuroid", "time_bin"])

    # The target as the Kar2019 benchmark builds it: one OST per image, presentations in np.unique(stimulus_id)
    # order, with i1, image_label and truth = image_label as coordinates.
    target = DataAssembly(inp["target_ost"], coords={
        "stimulus_id": ("presentation", ids), "image_label": ("presentation", names),
        "truth": ("presentation", names), "i1": ("presentation", inp["target_i1"])}, dims=["presentation"])
    target = target.isel(presentation=np.unique(ids, return_index=True)[1])

    record = {}

    def recorded(metric):
        """Wrap the metric's steps to keep what each split computed, keyed by the split's call count."""
        compute, i1 = metric.compute_osts, metric.i1

        def compute_osts(train_source, test_source, test_osts):
            record.setdefault("splits", []).append({"ids": test_osts["stimulus_id"].values, "i1": []})
            osts = compute(train_source, test_source, test_osts)
            record["splits"][-1]["ost"] = osts
            return osts

        def i1_(probabilities):
            out = i1(probabilities)
            record["splits"][-1]["i1"].append(out.values)
            return out
        metric.compute_osts, metric.i1 = compute_osts, i1_
        return metric

    def collect(prefix, score, t_bins):
        out[f"{prefix}/score"] = float(score.values)
        out[f"{prefix}/error"] = float(score.attrs["error"].values)
        out[f"{prefix}/rho_split"] = score.attrs["raw"].values
        ost = np.full((len(record["splits"]), OST_N), np.nan)
        i1 = np.full((len(record["splits"]), t_bins, OST_N), np.nan)
        for s, split in enumerate(record["splits"]):
            rows = [row_of[sid] for sid in split["ids"]]
            ost[s, rows] = split["ost"]
            for b, values in enumerate(split["i1"]):   # fewer than t_bins when Brain-Score stopped early
                i1[s, b, rows] = values
        out[f"{prefix}/ost_split"], out[f"{prefix}/i1_split"] = ost, i1
        record.clear()

    out = {}
    # 1. Everything after the classifier: the stub answers each test image with the given probabilities,
    # found from the features (bin index, row index), in a shuffled choice order.
    given = inp["probabilities"]

    class GivenProbabilities:
        def fit(self, X, Y):
            pass

        def predict_proba(self, X):
            b, rows = X.values[:, 0].astype(int), X.values[:, 1].astype(int)
            choices = np.array([3, 0, 5, 1, 4, 2])
            coords = {c: ("presentation", X[c].values) for c in ("stimulus_id", "image_label", "truth")}
            return BehavioralAssembly(given[b, rows][:, choices],
                                      coords={**coords, "choice": [f"obj{k}" for k in choices]},
                                      dims=["presentation", "choice"])

        def close(self):
            pass

    encoded = np.stack(np.broadcast_arrays(np.arange(OST_BINS)[:, None], np.arange(OST_N)[None]), -1)
    real_classifier = ost_metric.TFProbabilitiesClassifier
    ost_metric.TFProbabilitiesClassifier = GivenProbabilities
    try:
        collect("given", recorded(load_metric("ost"))(source(encoded.astype(np.float64)), target), OST_BINS)
    finally:
        ost_metric.TFProbabilitiesClassifier = real_classifier

    # 2. Brain-Score's own TF classifier on the features; its probabilities per split and bin are kept.
    probs = []

    class RecordingTF(real_classifier):
        def predict_proba(self, X):
            p = super().predict_proba(X)
            order = [list(p["choice"].values).index(f"obj{k}") for k in range(OST_OBJ)]
            split = record["splits"][-1]                  # this bin's I1 is appended right after this call
            probs.append((len(record["splits"]) - 1, len(split["i1"]), X["stimulus_id"].values, p.values[:, order]))
            return p

    ost_metric.TFProbabilitiesClassifier = RecordingTF
    try:
        collect("tf", recorded(load_metric("ost"))(source(inp["features"]), target), OST_BINS)
    finally:
        ost_metric.TFProbabilitiesClassifier = real_classifier
    tf_p = np.full((10, OST_BINS, OST_N, OST_OBJ), np.nan)     # NaN: not a test image, or a bin after early stop
    for s, b, sids, p in probs:
        tf_p[s, b, [row_of[sid] for sid in sids]] = p
    out["tf/probabilities"] = tf_p

    # 3. TF's initial kernels, as the classifier's initializer draws them.
    for shape in OST_KERNEL_SHAPES:
        with tf.Graph().as_default():
            init = tf.compat.v1.keras.initializers.VarianceScaling(seed=0)
            w = tf.compat.v1.get_variable(initializer=init, shape=list(shape), dtype=tf.float32, name="w")
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.variables_initializer([w]))
                out[f"tf/kernel_{shape[0]}x{shape[1]}"] = sess.run(w)
    np.savez_compressed(HERE / "ost_brainscore.npz", **out)


if __name__ == "__main__":
    parts = set(sys.argv[1:]) or {"neural", "ost"}
    if parts - {"neural", "ost"}:
        sys.exit(f"usage: make_golden.py [neural] [ost]; unknown part(s) {sorted(parts - {'neural', 'ost'})}")
    if "neural" in parts:
        make_inputs()
        inputs = dict(np.load(HERE / "inputs.npz"))
        brainscore(inputs)
        brainmodel_utils(inputs)
    if "ost" in parts:
        make_ost_inputs()
        ost_brainscore(dict(np.load(HERE / "ost_inputs.npz")))
    print("wrote", *sorted(p.name for p in HERE.glob("*.npz")), file=sys.stderr)
