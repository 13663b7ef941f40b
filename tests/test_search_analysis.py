"""Search analysis: per-feature effects, best-so-far curve, figures; and the training objective's wiring."""
import math
import sys
import types

import numpy as np
import pytest

from convrnn.figures import plot_best_so_far, plot_feature_effects
from convrnn.search.analysis import best_so_far, feature_effects
from test_search_select import hand_table


def test_feature_effects_on_a_hand_made_table():
    fx = feature_effects(hand_table()).set_index(["feature", "level"])
    # eligible: 0 (0.5), 1 (0.7), 3 (0.7), 5 (0.6), 6 (0.1)
    assert fx.loc[("gating", "on"), "mean"] == pytest.approx((0.5 + 0.7 + 0.1) / 3)   # gate_filter_size > 0
    assert fx.loc[("gating", "off"), "mean"] == pytest.approx(0.65)
    assert fx.loc[("out_residual", "on"), "n"] == 3 and fx.loc[("out_residual", "on"), "mean"] == pytest.approx(0.6)
    assert fx.loc[("edge_conv5_conv3", "absent"), "best"] == pytest.approx(0.7)
    assert fx.loc[("gate_nonlinearity", "sigmoid"), "sem"] == pytest.approx(np.std([0.7, 0.1], ddof=1) / math.sqrt(2))
    assert "tau_filter_size" not in fx.index.get_level_values("feature")   # ints are not binary features


def test_best_so_far_ignores_unfinished_and_failed_values():
    b = best_so_far(hand_table())
    assert b["number"].tolist() == list(range(7))                         # RUNNING trial 7 left out
    assert b["best_value"].tolist() == pytest.approx([0.5, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7])
    assert b["value"].isna().tolist() == [False, False, True, False, True, False, False]


def test_plots_write_png_and_pdf(tmp_path):
    for fn, data, name in ((plot_feature_effects, feature_effects(hand_table()), "fx.png"),
                           (plot_best_so_far, best_so_far(hand_table()), "best.png")):
        png = tmp_path / name
        fn(data, [png, png.with_suffix(".pdf")])
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert png.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_training_objective_builds_the_sampled_model_and_maps_divergence_to_nan(monkeypatch, tmp_path):
    calls = {}
    models = types.ModuleType("convrnn.models")
    training = types.ModuleType("convrnn.training")

    def build(name, **kw):
        calls["build"] = (name, kw)
        return "model"

    class TrainConfig:
        @staticmethod
        def from_dict(d):
            if d.get("max_steps", 1) < 1:
                raise ValueError("training.max_steps must be >= 1")
            return d

    def fit(model, train_set, val_set, cfg, out_dir):
        calls["fit"] = (model, train_set, val_set, cfg, out_dir)
        return {"val_top1": 0.25, "diverged": cfg.get("diverge", False)}

    models.build, training.TrainConfig, training.fit = build, TrainConfig, fit
    monkeypatch.setitem(sys.modules, "convrnn.models", models)
    monkeypatch.setitem(sys.modules, "convrnn.training", training)
    from convrnn.search.objective import training_objective

    trial = {"number": 7, "cell": {"tau_filter_size": 3}, "edges": [["conv5", "conv3"]]}
    obj = training_objective("rgc_shallow", "tr", "va", {"max_steps": 5}, tmp_path, {"width": 0.25})
    assert obj(trial) == 0.25
    assert calls["build"] == ("rgc_shallow", {"cell": {"tau_filter_size": 3}, "edges": [["conv5", "conv3"]], "width": 0.25})
    assert calls["fit"][4] == tmp_path / "trial_00007" and calls["fit"][1:3] == ("tr", "va")
    assert math.isnan(training_objective("rgc_shallow", "tr", "va", {"diverge": True}, tmp_path)(trial))
    with pytest.raises(ValueError, match="max_steps"):                      # config checked before any trial
        training_objective("rgc_shallow", "tr", "va", {"max_steps": 0}, tmp_path)
    with pytest.raises(ValueError, match=r"must not set \['edges'\]"):
        training_objective("rgc_shallow", "tr", "va", {}, tmp_path, {"edges": []})
