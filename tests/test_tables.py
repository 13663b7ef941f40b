"""The tables beside the figures: what each holds, computed from small hand-made inputs."""
import json

import numpy as np
import pandas as pd
import pytest

from convrnn.tables import (area_table, brain_vs_task, markdown, model_table, pareto_front, search_table,
                            write_table)


def _training():
    spec = lambda arch, width=None: json.dumps({"arch": arch, "overrides": {"width": width} if width else {}})  # noqa
    return pd.DataFrame({
        "model": ["a", "b", "c", "d"], "arch": ["rgc_intermediate", "ff_intermediate", "rgc_shallow", "resnet18"],
        "spec": [spec("rgc_intermediate"), spec("ff_intermediate"), spec("rgc_shallow", 0.25), spec("resnet18")],
        "n_params": [15e6, 16e6, 2e6, 11e6], "n_units": [1.3e6, 1.3e6, 0.1e6, 0.9e6], "n_units_pre_pool": np.nan,
        "val_top1": [0.73, 0.60, 0.50, 0.70], "val_top5": [0.9, 0.8, 0.7, 0.89]})


def test_pareto_front_keeps_only_undominated_points():
    assert pareto_front([1, 2, 3, 2], [0.5, 0.6, 0.55, 0.4]).tolist() == [True, True, False, False]


def test_model_table_reports_the_papers_accuracy_only_for_full_size_imagenet_runs():
    kinds = {"a": ("rgc", "convrnn"), "b": ("feedforward", "ff"), "c": ("rgc", "convrnn"), "d": ("resnet", "resnet")}
    released = {"rgc_intermediate": (0.73, 0.9116), "rgc_shallow": (0.6697, 0.8702)}
    t = model_table(_training(), kinds, released, imagenet=True).set_index("model")
    assert t.loc["a", "paper_top1"] == 0.73 and np.isnan(t.loc["c", "paper_top1"])   # c is a width-0.25 variant
    assert t.loc["c", "width"] == 0.25 and t.loc["a", "width"] == 1.0
    assert np.isnan(model_table(_training(), kinds, released, imagenet=False).set_index("model").loc["a", "paper_top1"])
    # by parameters: c (2M, 0.50), d (11M, 0.70), a (15M, 0.73) are undominated; b (16M, 0.60) is not
    assert t["pareto_params"].to_dict() == {"a": True, "b": False, "c": True, "d": True}
    assert t.loc["b", "kind"] == "ff" and t.loc["d", "family"] == "resnet"


def test_area_table_averages_the_reliable_bins_per_split():
    layers = pd.DataFrame({"model": "m", "region": "IT", "layer": ["x", "y"], "layer_index": [0, 1],
                           "committed": [False, True], "rank": [2, 1], "n_splits_chosen": [3, 7],
                           "score_all": [0.2, 0.4]})
    course = pd.DataFrame({"model": "m", "region": "IT", "time_bin_start_ms": [70, 80, 90],
                           "time_bin_end_ms": [80, 90, 100], "ceiling": [0.05, 0.5, 0.6],
                           "score_splits": [np.array([9.0, 9.0]), np.array([0.2, 0.4]), np.array([0.4, 0.6])]})
    row = area_table(layers, course).iloc[0]
    assert row["layers"] == "y" and row["n_splits_chosen"] == 7 and row["selection_score"] == 0.4
    # the 70 ms bin (ceiling 0.05) is left out; per split (0.3, 0.5): mean 0.4, s.e.m. 0.1
    assert row["score"] == pytest.approx(0.4) and row["score_sem"] == pytest.approx(0.1)
    assert row["n_bins"] == 2 and row["time_bin_start_ms"] == 80


def test_brain_vs_task_correlates_across_models_and_needs_three():
    models = pd.DataFrame({"model": list("abcd"), "val_top1": [0.1, 0.2, 0.3, 0.4]})
    areas = pd.DataFrame({"model": list("abcd"), "region": "IT", "score": [0.1, 0.3, 0.2, 0.4]})
    behavior = pd.DataFrame({"model": ["a", "b"], "convention": "brainscore", "rho": [0.1, 0.2]})
    c = brain_vs_task(models, areas, behavior).set_index("y")
    assert c.loc["neural score (IT)", "spearman_rho"] == pytest.approx(0.8) and c.loc["neural score (IT)", "n_models"] == 4
    assert np.isnan(c.loc["OST rho (brainscore)", "spearman_rho"])                      # two models only


def test_search_table_flattens_the_selected_hyperparameters():
    selected = pd.DataFrame({"arch_id": ["search_top1", "search_median"], "source": ["top", "median"],
                             "rank": [1, None], "val_top1": [0.4, np.nan],
                             "overrides": [json.dumps({"cell": {"tau_filter_size": 3}, "edges": [["conv5", "conv3"]]}),
                                           json.dumps({"cell": {"tau_filter_size": 5}, "edges": []})]})
    trials = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "FAIL"]})
    t = search_table(selected, trials, top_k=1)
    assert t["cell.tau_filter_size"].tolist() == [3, 5] and t["edges"].tolist() == ["conv5->conv3", ""]
    assert (t["n_trials"] == 2).all() and (t["top_k"] == 1).all()


def test_write_table_writes_parquet_csv_and_markdown(tmp_path):
    table = pd.DataFrame({"model": ["a"], "score": [0.123456], "missing": [np.nan]})
    write_table(table, tmp_path / "t.parquet")
    assert pd.read_parquet(tmp_path / "t.parquet").equals(table)
    assert pd.read_csv(tmp_path / "t.csv")["score"].iloc[0] == pytest.approx(0.123456)
    assert (tmp_path / "t.md").read_text() == markdown(table) == (
        "| model | score | missing |\n| --- | --- | --- |\n| a | 0.123 |  |\n")
