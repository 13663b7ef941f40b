import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cross_decomposition import PLSRegression

from convrnn.neural import NeuralData, score_features, split_half_reliability, stratified_splits, summarize

torch.set_num_threads(1)
LAYERS, T, D, DELAY = ("l1", "l2", "l3"), 4, 30, 1           # sites read layer l2 at model step (bin - DELAY)


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


@pytest.mark.parametrize("convention", ["brainscore", "nayebi"])
def test_planted_layer_and_delay_are_recovered(convention):
    feats, neural, meta = _synthetic()
    kw = dict(n_components=10) if convention == "brainscore" else dict(alphas=np.logspace(-1, 4, 6), n_halves=4)
    df = score_features(feats, neural, meta, convention=convention, pairing="all", latency_offset_ms=70, **kw)
    assert len(df) == len(LAYERS) * T * 4 * 5
    assert df["model_time_ms"].max() == 70 + 10 * (T - 1)
    for b in range(DELAY, 4):
        sub = df[df.time_bin_start_ms == 70 + 10 * b]
        best = sub.groupby(["layer", "model_step"])["score"].median().idxmax()
        assert best == ("l2", b - DELAY)
        assert sub.set_index(["layer", "model_step"]).loc[best, "score"].min() > 0.6
    summary = summarize(df)
    assert {"r", "ceiling", "score", "n_sites"} <= set(summary.columns) and (summary.n_sites == 5).all()


def test_shuffled_images_score_near_zero_and_matched_pairing():
    feats, neural, meta = _synthetic(seed=1, n_obj=16, per_obj=20, s=10)
    shuffled = {k: v[:, np.random.default_rng(5).permutation(v.shape[1])] for k, v in feats.items()}
    df = score_features({"l2": shuffled["l2"]}, neural, meta, n_components=10, latency_offset_ms=80, pairing="matched")
    # matched: step t <-> time 80 + 10 t, i.e. bin t + 1 (the planted delay); step 3 (110 ms) has no bin
    assert sorted(zip(df.model_step.unique(), df.time_bin_start_ms.unique())) == [(0, 80), (1, 90), (2, 100)]
    assert abs(df["r"].mean()) < 0.05 and df["score"].median() < 0.02
    real = score_features({"l2": feats["l2"]}, neural, meta, n_components=10, latency_offset_ms=80)
    assert real["score"].median() > 0.6


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
    with pytest.raises(ValueError, match="convention"):
        score_features(feats, neural, meta, convention="rsa")
    with pytest.raises(ValueError, match="no model time"):
        score_features(feats, neural, meta, latency_offset_ms=500)
