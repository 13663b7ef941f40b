import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cross_decomposition import PLSRegression

from convrnn.data.responses import NeuralData
from convrnn.neural import (Responses, brainscore_splits, nayebi_consistency, random_splits,
                            score_features, split_half_reliability, step_bin_pairs, stratified_splits)
from convrnn.neural.ceiling import half_means
from convrnn.neural.jobs import ceiling_table
from convrnn.neural.summary import region_values

torch.set_num_threads(1)
LAYERS, T, D, DELAY = ("l1", "l2", "l3"), 4, 30, 1           # sites read layer l2 at model step (bin - DELAY)


def _summarize(df, ceiling=None):
    """Region values of one model's fits (the summary job's table)."""
    depth = {layer: i for i, layer in enumerate(df["layer"].unique())}
    return region_values(df.assign(model="m", layer_index=df["layer"].map(depth)), ceiling)


def _synthetic(seed=0, n_obj=12, per_obj=10, s=5, n_bins=4, n_rep=8, noise=0.7):
    rng = np.random.default_rng(seed)
    n = n_obj * per_obj
    meta = pd.DataFrame({"stimulus_id": [f"im{i:03d}" for i in range(n)], "object": np.repeat(np.arange(n_obj), per_obj)})
    feats = {k: rng.normal(size=(T, n, D)).astype(np.float32) for k in LAYERS}
    w = rng.normal(size=(D, s)) / np.sqrt(D)
    signal = np.stack([feats["l2"][b - DELAY] @ w if b >= DELAY else np.zeros((n, s)) for b in range(n_bins)], -1)
    trials = signal[None] + noise * rng.normal(size=(n_rep, n, s, n_bins))
    bins = pd.DataFrame({"time_bin_start_ms": 70 + 10 * np.arange(n_bins), "time_bin_end_ms": 80 + 10 * np.arange(n_bins)})
    sites = pd.DataFrame({"site": [f"s{j}" for j in range(s)], "region": ["IT"] * s})
    order = rng.permutation(n)                                # neural data in a different stimulus order
    neural = NeuralData(trials[:, order].astype(np.float32), meta["stimulus_id"].to_numpy()[order], sites, bins)
    return feats, neural, meta


@pytest.mark.parametrize("convention", ["brainscore", "nayebi", "nayebi_pls"])
def test_planted_layer_and_delay_are_recovered(convention):
    feats, neural, meta = _synthetic()
    kw = {"brainscore": dict(n_components=10), "nayebi_pls": dict(n_components=10, ceiling_splits=4),
          "nayebi": dict(ridge_alpha=None, alphas=np.logspace(-1, 4, 6), ceiling_splits=4)}[convention]
    df = score_features(feats, neural, meta, convention=convention, pairing="all", latency_offset_ms=70, **kw)
    assert len(df) == len(LAYERS) * T * 4 * 5
    assert df["model_time_ms"].max() == 70 + 10 * (T - 1)
    for b in range(DELAY, 4):
        sub = df[df.time_bin_start_ms == 70 + 10 * b]
        best = sub.groupby(["layer", "model_step"])["score"].median().idxmax()
        assert best == ("l2", b - DELAY)
        assert sub.set_index(["layer", "model_step"]).loc[best, "score"].min() > 0.6
    summary = _summarize(df)
    assert {"r", "r_sem", "ceiling", "score", "score_sem", "n_sites"} <= set(summary.columns)
    assert (summary.n_sites == 5).all()


def test_shuffled_images_score_near_zero_and_matched_pairing():
    feats, neural, meta = _synthetic(seed=1, n_obj=16, per_obj=20, s=10)
    shuffled = {k: v[:, np.random.default_rng(5).permutation(v.shape[1])] for k, v in feats.items()}
    df = score_features({"l2": shuffled["l2"]}, neural, meta, n_components=10, latency_offset_ms=80, pairing="matched")
    # matched: step t <-> [80 + 10 t, 90 + 10 t), i.e. bin t + 1 (the planted delay); bin [70, 80) and step 3
    # ([110, 120) ms) have no partner
    pairs = df[["model_step", "model_time_ms", "model_time_end_ms", "time_bin_start_ms", "time_bin_end_ms"]]
    assert pairs.drop_duplicates().values.tolist() == [[t, 80 + 10 * t, 90 + 10 * t, 80 + 10 * t, 90 + 10 * t]
                                                       for t in range(3)]
    assert abs(df["r"].mean()) < 0.05 and df["score"].median() < 0.02
    real = score_features({"l2": feats["l2"]}, neural, meta, n_components=10, latency_offset_ms=80)
    assert real["score"].median() > 0.6


def test_time_axis_pairs_only_identical_intervals():
    bins = pd.DataFrame({"time_bin_start_ms": [60, 80], "time_bin_end_ms": [80, 100]})     # 20 ms windows
    with pytest.raises(ValueError, match=r"\[60, 80\), \[80, 100\) ms are not model step intervals"):
        step_bin_pairs(10, bins, step_ms=10, latency_offset_ms=0)
    shifted = pd.DataFrame({"time_bin_start_ms": [65, 75], "time_bin_end_ms": [75, 85]})
    with pytest.raises(ValueError, match="presentation.latency_offset_ms"):
        step_bin_pairs(10, shifted, step_ms=10, latency_offset_ms=0)
    assert step_bin_pairs(10, shifted, step_ms=10, latency_offset_ms=5) == {6: [0], 7: [1]}
    late = pd.DataFrame({"time_bin_start_ms": [300], "time_bin_end_ms": [310]})
    with pytest.raises(ValueError, match="no time bin .* within the model's 26 steps \\[0, 260\\) ms"):
        step_bin_pairs(26, late, step_ms=10)
    # The reference presentation: step t <-> [10 t, 10 t + 10) ms, so the image (steps 0-9) is off at 100 ms.
    ref = pd.DataFrame({"time_bin_start_ms": np.arange(70, 260, 10), "time_bin_end_ms": np.arange(80, 270, 10)})
    assert step_bin_pairs(26, ref, step_ms=10) == {t: [t - 7] for t in range(7, 26)}
    assert step_bin_pairs(3, late, pairing="all") == {0: [0], 1: [0], 2: [0]}


def test_splits_ignore_the_pipeline_seed_and_follow_the_references():
    ids = np.array([f"im{i:03d}" for i in range(40)])
    objects = np.repeat(np.arange(4), 10)
    perm = np.random.default_rng(0).permutation(40)
    # Brain-Score draws its splits over the stimuli sorted by id: the rows' order must not change them.
    a = brainscore_splits(ids, objects, 3)
    b = brainscore_splits(ids[perm], objects[perm], 3)
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b):
        assert set(ids[te_a]) == set(ids[perm][te_b]) and len(te_a) == 4
    # brainmodel_utils generate_train_test_splits: RandomState(i).permutation, ceil(0.8 n) training images.
    for i, (tr, te) in enumerate(random_splits(41, 5, 0.8)):
        perm = np.random.RandomState(i).permutation(41)
        assert set(tr) == set(perm[:33]) and set(te) == set(perm[33:])


def test_pls_convention_matches_straightforward_computation():
    feats, neural, meta = _synthetic(seed=2, s=4, n_bins=2)
    df = score_features({"l2": feats["l2"][:1]}, neural, meta, pairing="all", n_components=25)
    aligned = neural.select(stimulus_ids=meta["stimulus_id"])
    X, Y = feats["l2"][0].astype(np.float64), aligned.trials.mean(0).astype(np.float64)
    splits = stratified_splits(meta["object"], n_splits=10, train_size=0.9, seed=1)
    ceiling = split_half_reliability(aligned.trials).ceiling
    for b in range(2):
        rs = []
        for tr, te in splits:
            pred = PLSRegression(n_components=25, scale=False).fit(X[tr], Y[tr, :, b]).predict(X[te])
            rs.append([np.corrcoef(pred[:, j], Y[te, j, b])[0, 1] for j in range(4)])
        got = df[df.time_bin_start_ms == 70 + 10 * b].sort_values("site")
        np.testing.assert_allclose(got["r"], np.mean(rs, 0), atol=1e-6)
        np.testing.assert_allclose(got["score"], np.mean(rs, 0) ** 2 / ceiling[:, b], atol=1e-6)


def test_score_features_errors_name_inputs():
    feats, neural, meta = _synthetic(seed=3)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['object'\]"):
        score_features(feats, neural, meta.drop(columns="object"))
    with pytest.raises(ValueError, match="features\\['l1'\\]"):
        score_features({"l1": feats["l1"][:, :10]}, neural, meta)
    with pytest.raises(ValueError, match="neural.convention"):
        score_features(feats, neural, meta, convention="rsa")
    with pytest.raises(ValueError, match="neural.regression"):
        score_features(feats, neural, meta, regression="per_time")
    with pytest.raises(ValueError, match="needs neural.pairing: matched"):
        score_features(feats, neural, meta, regression="span_time", pairing="all")
    with pytest.raises(ValueError, match="no time bin"):
        score_features(feats, neural, meta, latency_offset_ms=500)


# ------------------------------------------------------------------------------------------------------------------
# Agreement with the reference implementations' own code: tests/golden/make_golden.py ran brainscore_vision 2.4.2
# and brainmodel_utils (164d3a21) on tests/golden/inputs.npz and stored what they computed.
GOLDEN = Path(__file__).parent / "golden"


def _golden():
    g = np.load(GOLDEN / "inputs.npz")
    sites = pd.DataFrame({"site": g["site"], "region": g["region"]})
    bins = pd.DataFrame({"time_bin_start_ms": g["time_bin_start_ms"], "time_bin_end_ms": g["time_bin_end_ms"]})
    neural = NeuralData(g["trials"], g["stimulus_id"], sites, bins)
    meta = pd.DataFrame({"stimulus_id": g["stimulus_id"], "object": g["object_name"]})
    return g["features"].astype(np.float64), neural, meta


def _per_split(df, region):
    """(F, [G,] S) per-split r of one region from the fits' r_splits, sites sorted as Brain-Score sorts neuroids."""
    sub = df[df.region == region].sort_values(["time_bin_start_ms", "site"])
    g = sub["time_bin_start_ms"].nunique()
    return np.stack(sub["r_splits"].to_numpy()).T.reshape(-1, g, sub["site"].nunique())


def test_brainscore_pls_ceiling_and_score_equal_brainscore_vision():
    feats, neural, meta = _golden()
    ref = np.load(GOLDEN / "brainscore.npz")
    ceiling = ceiling_table(neural, ceiling_splits=10)
    df = score_features({"L": feats[:1]}, neural, meta)          # step 0 <-> bin [0, 10) only
    summary = _summarize(df, ceiling).set_index("region")
    for region in ("V4", "IT"):
        np.testing.assert_allclose(_per_split(df, region)[:, 0], ref[f"{region}/pls_r_split"], atol=1e-6)
        cs = ceiling[(ceiling.region == region) & (ceiling.time_bin_start_ms == 0)].sort_values("site")
        np.testing.assert_allclose(np.stack(cs["ceiling_splits"].to_numpy()).T, ref[f"{region}/ceiling_split"],
                                   atol=1e-6)
        for ours, theirs in [("r", "pls_r"), ("ceiling", "ceiling"), ("score", "score")]:
            assert abs(summary.loc[region, ours] - float(ref[f"{region}/{theirs}"])) <= 1e-6, (region, ours)
    # Per site: r is the split mean, the ceiling the mean over the half splits it is defined in (one IT site has a
    # NaN split: a stimulus with no trial of it in one half), and score = r^2 / ceiling.
    it = df[df.region == "IT"].sort_values("site")
    np.testing.assert_allclose(it["r"], ref["IT/pls_r_split"].mean(0), atol=1e-6)
    assert np.isnan(ref["IT/ceiling_split"]).any()
    np.testing.assert_allclose(it["ceiling"], np.nanmean(ref["IT/ceiling_split"], 0), atol=1e-6)
    np.testing.assert_allclose(it["score"], it["r"] ** 2 / it["ceiling"], rtol=1e-12)


def test_span_time_pls_and_temporal_ceiling_equal_brainscore_vision():
    feats, neural, meta = _golden()
    ref = np.load(GOLDEN / "brainscore.npz")
    ceiling = ceiling_table(neural, ceiling_splits=10)
    df = score_features({"L": feats}, neural, meta, regression="span_time")    # steps 0..2 <-> bins 0..2
    assert (df["model_time_ms"] == df["time_bin_start_ms"]).all() and set(df["regression"]) == {"span_time"}
    summary = _summarize(df, ceiling)
    for region in ("V4", "IT"):
        np.testing.assert_allclose(_per_split(df, region), ref[f"{region}/spantime_r_split"], atol=1e-6)
        s = summary[summary.region == region].sort_values("time_bin_start_ms")
        np.testing.assert_allclose(s["r"], ref[f"{region}/spantime_r"], atol=1e-6)
        np.testing.assert_allclose(s["ceiling"], ref[f"{region}/temporal_ceiling"], atol=1e-6)
        np.testing.assert_allclose(s["score"], ref[f"{region}/spantime_score"], atol=1e-6)
    # Shared weights differ from one PLS per bin.
    per_bin = score_features({"L": feats}, neural, meta)
    assert np.abs(per_bin.sort_values(["region", "site", "time_bin_start_ms"])["r"].to_numpy()
                  - df.sort_values(["region", "site", "time_bin_start_ms"])["r"].to_numpy()).max() > 1e-3


def test_nayebi_consistency_equals_brainmodel_utils():
    feats, neural, meta = _golden()
    ref = np.load(GOLDEN / "brainmodel_utils.npz")
    it = neural.select(region="IT")
    trials = it.trials[..., :1].copy()
    trials[2:, int(ref["short_stimulus"])] = np.nan
    it = NeuralData(trials, it.stimulus_ids, it.sites, it.bins.iloc[:1])
    resp = Responses.from_neural(it, "nayebi", ceiling_splits=len(ref["valid"]))
    splits = random_splits(len(meta), 5, 0.8)
    halves = np.stack([np.stack(h) for h in half_means(resp.trials, resp.halves)])
    c = nayebi_consistency(feats[0], resp.mean, halves, splits, alphas=[float(ref["alpha"])])
    valid = np.isfinite(c.r_xy[:, 0, 0, 0])
    np.testing.assert_array_equal(valid, ref["valid"])            # the same half splits are skipped
    for key in ("r_xy", "r_xx", "r_yy", "denom_sb", "r_xy_n_sb"):
        np.testing.assert_allclose(getattr(c, key)[valid][..., 0], ref[key], atol=1e-6, err_msg=key)
    # End to end, the site score is the mean of r_xy_n_sb over the kept half splits and the train/test splits; the
    # seeds go through the solver a chunk at a time (here 3 per chunk) without changing a value.
    df = score_features({"L": feats[:1]}, it, meta, convention="nayebi", n_splits=5,
                        ceiling_splits=len(ref["valid"]), ridge_alpha=float(ref["alpha"])).sort_values("site")
    np.testing.assert_allclose(df["score"], np.nanmean(ref["r_xy_n_sb"], (0, 1)), atol=1e-6)
    np.testing.assert_allclose(df["r"], ref["r_xy"].mean((0, 1)), atol=1e-6)
    from convrnn.neural.scoring import nayebi_consistency_chunked

    n, s = len(meta), resp.mean.shape[1]
    chunked = nayebi_consistency_chunked(feats[0], resp.mean, resp.trials, resp.halves, splits,
                                         budget_bytes=3 * 2 * n * s * 8 * 3, alphas=[float(ref["alpha"])])
    np.testing.assert_allclose(chunked.r_xy_n_sb, c.r_xy_n_sb, atol=1e-12)


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["data"]["synthetic_neural"].update(bin_ms=20), "data.synthetic_neural.bin_ms"),
    (lambda c: c["presentation"].update(latency_offset_ms=5), "data.synthetic_neural.bin_ms"),
    (lambda c: c["presentation"].update(latency_offset_ms=300), "data.synthetic_neural.t_start_ms"),
    (lambda c: c["neural"].update(convention="rsa"), "neural.convention"),
    (lambda c: c["neural"].update(regression="per_time"), "neural.regression"),
])
def test_config_refuses_unpaired_bins_and_unknown_neural_values(mutate, field):
    from convrnn.workflow.overlays import load_config
    from convrnn.workflow.preflight import validate_config
    from convrnn.errors import ConfigError

    cfg = load_config(Path(__file__).parents[1] / "config/config.yaml")
    mutate(cfg)
    with pytest.raises(ConfigError, match=f"'{field}'"):
        validate_config(cfg)


def _write_job_inputs(tmp_path, bins_ms=10):
    """The rule inputs of a small planted-truth case: responses through write_responses, features + index."""
    from convrnn.io import save_tensors, write_parquet
    from convrnn.data.responses import write_responses

    feats, neural, meta = _synthetic(seed=4, s=6, n_bins=4)
    neural.sites["region"] = ["V4", "V4", "IT", "IT", "IT", "IT"]
    if bins_ms != 10:
        neural.bins["time_bin_end_ms"] = neural.bins["time_bin_start_ms"] + bins_ms
    write_responses(tmp_path / "responses.parquet", [neural.to_long()])
    write_parquet(meta.assign(category="c"), tmp_path / "meta.parquet")
    tensors = {layer: f for layer, f in feats.items()} | {"imnetds": feats["l1"][..., :8]}
    ids = json.dumps(meta["stimulus_id"].tolist())
    save_tensors(tensors, tmp_path / "f.safetensors", metadata={"stimulus_ids": ids, "model": "m"})
    index = pd.DataFrame([{"layer": layer, "layer_index": i, "model_step": t, "time_ms": 70 + 10 * t, "n_features": D}
                          for i, layer in enumerate([*LAYERS, "imnetds"]) for t in range(T)])
    write_parquet(index, tmp_path / "f.parquet")
    return feats, neural, meta


@pytest.mark.parametrize("convention", ["brainscore", "nayebi"])
def test_jobs_read_one_bin_and_one_layer_at_a_time_and_equal_in_memory_scoring(tmp_path, monkeypatch, convention):
    from convrnn import io
    from convrnn.neural import jobs
    from convrnn.data.responses import NeuralData as ND

    feats, neural, meta = _write_job_inputs(tmp_path)
    read_bins, read_layers = [], []
    original = ND.from_parquet.__func__
    monkeypatch.setattr(ND, "from_parquet", classmethod(lambda cls, *a, bins=None, **k: (
        read_bins.append(bins), original(cls, *a, bins=bins, **k))[1]))
    monkeypatch.setattr(jobs, "load_tensors",
                        lambda path, keys: (read_layers.append(keys), io.load_tensors(path, keys))[1])
    kw = dict(step_ms=10, latency_offset_ms=80, pairing="matched", ceiling_splits=4)   # step t <-> bin t + 1
    ceiling = jobs.noise_ceiling_job(tmp_path / "responses.parquet", tmp_path / "meta.parquet", tmp_path / "c.parquet",
                                     ceiling_splits=4, window_ms=[80, 110])
    assert len(ceiling) == 6 * 3 and all(len(v) == 4 for v in ceiling["ceiling_splits"])   # the window's 3 bins
    fits = jobs.neural_fit_job(tmp_path / "f.safetensors", tmp_path / "f.parquet", tmp_path / "responses.parquet",
                               tmp_path / "meta.parquet", tmp_path / "fits.parquet", model="m",
                               selection_out=tmp_path / "sel.parquet", site_layers_out=tmp_path / "sites.parquet",
                               ceiling=tmp_path / "c.parquet",
                               convention=convention, n_splits=5, pls_components=10, window_ms=[80, 110],
                               selection_window_ms=[80, 110], **kw)
    assert all(b is not None and len(b) == 1 for b in read_bins), read_bins          # one bin per read
    assert read_layers == [["l1"], ["l2"], ["l3"]]                                   # one layer per read; no readout
    assert sorted(fits["time_bin_start_ms"].unique()) == [80, 90, 100]               # the window only
    sites = pd.read_parquet(tmp_path / "sites.parquet")          # every site reads the planted layer l2
    preferred = sites.loc[sites.groupby("site")["r"].idxmax(), "layer"]
    assert len(sites) == 6 * 3 and (preferred == "l2").all(), sites
    ref = score_features(feats, neural, meta, convention=convention, n_splits=5, n_components=10, **kw)
    ref = ref[ref.time_bin_start_ms.between(80, 100)]
    key = ["layer", "model_step", "site"]
    got = fits.drop(columns=["model", "layer_index", "r_splits", "score_splits"]).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, ref.drop(columns=["r_splits", "score_splits"]).sort_values(key, ignore_index=True),
                                  check_dtype=False, atol=1e-6)
    out = {k: tmp_path / f"{k}.parquet" for k in ("summary", "layers", "time_course")}
    summary = jobs.neural_summary_job([tmp_path / "fits.parquet"], [tmp_path / "sel.parquet"], tmp_path / "c.parquet",
                                      out["summary"], layers_out=out["layers"], time_course_out=out["time_course"])
    layers = pd.read_parquet(out["layers"])
    assert set(layers.loc[layers.committed, "layer"]) == {"l2"} and set(layers.region) == {"V4", "IT"}
    course = pd.read_parquet(out["time_course"])
    assert (course["layer"] == "l2").all() and (course["placement"] == "unrolled").all() and len(course) == 2 * 3
    assert course["score"].notna().all() and summary["score"].notna().any()


def test_jobs_refuse_bins_that_are_not_model_steps(tmp_path):
    from convrnn.neural import jobs

    _write_job_inputs(tmp_path, bins_ms=20)
    with pytest.raises(ValueError, match="presentation.latency_offset_ms"):
        jobs.neural_fit_job(tmp_path / "f.safetensors", tmp_path / "f.parquet", tmp_path / "responses.parquet",
                            tmp_path / "meta.parquet", tmp_path / "fits.parquet", model="m", step_ms=10,
                            latency_offset_ms=70, selection_out=tmp_path / "sel.parquet")
    with pytest.raises(ValueError, match=r"no time bin lies in the scored window \[300, 400\]"):
        jobs.noise_ceiling_job(tmp_path / "responses.parquet", tmp_path / "meta.parquet", tmp_path / "c.parquet",
                               window_ms=[300, 400])


# ------------------------------------------------------------------------------------------------------------------
# Layer selection (nested in the reported splits) and the time course
def test_selection_never_sees_the_test_images_of_its_split(monkeypatch):
    """Split f's layer is chosen by folds of split f's training images only; a layer that predicts only split 0's
    test images cannot win split 0."""
    from convrnn.neural import solvers
    from convrnn.neural.selection import ALL_IMAGES, selection_scores

    rng = np.random.default_rng(0)
    n, s = 240, 6
    objects = np.repeat(np.arange(12), 20)
    ids = np.array([f"im{i:03d}" for i in range(n)])
    splits = brainscore_splits(ids, objects, 5)
    honest = rng.normal(size=(n, 8))
    Y = honest @ rng.normal(size=(8, s)) * 0.4 + rng.normal(size=(n, s))
    leak = rng.normal(size=(n, s))
    te0 = splits[0][1]
    leak[te0] = Y[te0] * 10                           # perfect on split 0's test images, noise elsewhere
    sel = selection_scores({"honest": honest, "leak": leak}, Y, objects, splits, n_components=5)
    by = sel.set_index(["split", "layer"])["score"]
    assert by[(0, "honest")] > by[(0, "leak")] + 0.2
    assert set(sel["split"]) == {ALL_IMAGES, 0, 1, 2, 3, 4}
    # the folds handed to the solver: all images first, then each split's training images, 5 folds each
    calls = []
    real = solvers.pls_cv
    monkeypatch.setattr(solvers, "pls_cv", lambda X, Yb, folds, *a, **k: (calls.append(folds),
                                                                          real(X, Yb, folds, *a, **k))[1])
    selection_scores({"honest": honest}, Y, objects, splits, n_components=5)
    (folds,) = calls
    assert len(folds) == 5 * (1 + len(splits))
    for f, (tr, te) in enumerate(splits):
        used = np.concatenate([np.r_[a, b] for a, b in folds[5 * (f + 1):5 * (f + 2)]])
        assert set(used) == set(tr) and not set(used) & set(te)


def test_time_course_takes_each_splits_layer_and_places_static_models():
    from convrnn.neural.placement import graded_layers, placed_layers
    from convrnn.neural.summary import layer_table, time_course

    assert graded_layers(["a", "b", "c"], 7) == ["a", "a", "a", "b", "b", "c", "c"]
    assert placed_layers(["c", "a", "b"], {"a": 0, "b": 1, "c": 2}, 4, "graded", 2) == ["a", "a", "c", "c"]
    assert placed_layers(["c", "a", "b"], {"a": 0, "b": 1, "c": 2}, 3, "uniform", 2) == ["c"] * 3
    # two splits, three sites, two bins; layer "a" holds r = 0.1, "b" r = 0.9 in every split
    rows = []
    for layer, r in (("a", 0.1), ("b", 0.9)):
        for b in (0, 1):
            for site in range(3):
                rows.append({"model": "m", "convention": "brainscore", "regression": "per_bin", "region": "IT",
                             "layer": layer, "layer_index": {"a": 0, "b": 1}[layer], "time_course": "static",
                             "model_step": 0, "model_time_ms": np.nan, "model_time_end_ms": np.nan,
                             "time_bin_start_ms": 70 + 10 * b, "time_bin_end_ms": 80 + 10 * b, "site": f"s{site}",
                             "r": r, "r_splits": np.array([r, r]), "ceiling": 0.8, "score": r * r / 0.8,
                             "score_splits": np.array([r, r]) ** 2 / 0.8})
    fits = pd.DataFrame(rows)
    # split 0 chose "a", split 1 chose "b"; on all images "b" ranks first
    sel = pd.DataFrame({"model": "m", "region": "IT", "layer": ["a", "b"] * 3, "layer_index": [0, 1] * 3,
                        "split": [-1, -1, 0, 0, 1, 1], "score": [0.2, 0.5, 0.6, 0.3, 0.1, 0.4]})
    ceil = pd.DataFrame({"site": [f"s{i}" for i in range(3)] * 2, "region": "IT",
                         "time_bin_start_ms": [70] * 3 + [80] * 3, "time_bin_end_ms": [80] * 3 + [90] * 3,
                         "r_half": 0.5, "ceiling": 0.8, "ceiling_splits": [np.array([0.8, 0.8])] * 6})
    uniform = time_course(fits, sel, ceil, placement="uniform")
    np.testing.assert_allclose(uniform["r"], 0.5)                      # (0.1 + 0.9) / 2 over the two splits
    np.testing.assert_allclose(uniform["score"], 0.25 / 0.8)
    assert (uniform["layer_share"] == 0.5).all()
    graded = time_course(fits, sel, ceil, placement="graded", graded_layers=2)
    # graded over both layers in depth order: bin 70 from "a", bin 80 from "b", whichever split
    np.testing.assert_allclose(graded.sort_values("time_bin_start_ms")["r"], [0.1, 0.9])
    table = layer_table(sel, pd.Series({"m": True}), "graded", 2)
    assert table["committed"].all() and table.set_index("layer").loc["b", "rank"] == 1
    assert table.set_index("layer")["n_splits_chosen"].to_dict() == {"a": 1, "b": 1}
    assert layer_table(sel, pd.Series({"m": False}), "graded", 2).set_index("layer")["committed"].to_dict() == {
        "a": False, "b": True}


def test_static_features_are_scored_against_every_bin():
    feats, neural, meta = _synthetic(seed=6)
    static = {"l2": feats["l2"][1:2]}                    # the response that the planted bin 2 reads
    df = score_features(static, neural, meta, static=True, n_components=10)
    assert (df["time_course"] == "static").all() and df["model_time_ms"].isna().all()
    assert sorted(df["time_bin_start_ms"].unique()) == [70, 80, 90, 100]
    by_bin = df.groupby("time_bin_start_ms")["score"].median()
    assert by_bin[90] > 0.6 and by_bin[70] < 0.2          # bin 90 = 70 + 10 * (1 + DELAY) reads step 1
    with pytest.raises(ValueError, match=r"must be \(1, N=120"):
        score_features(feats, neural, meta, static=True)


def test_layers_that_stop_responding_rank_after_responsive_ones():
    from convrnn.neural.selection import ranked_layers

    sel = pd.DataFrame({"layer": ["a", "b", "c", "d"], "split": -1, "score": [0.9, 0.5, np.nan, 0.7],
                        "responsive": [False, True, True, True]})
    assert ranked_layers(sel)[-1] == ["d", "b", "c", "a"]
    assert ranked_layers(sel.drop(columns="responsive"))[-1] == ["a", "d", "b", "c"]
