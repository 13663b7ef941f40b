"""select_architectures on a hand-made trials table with known top-k and median."""
import json

import numpy as np
import pandas as pd
import pytest

from convrnn.search import SearchSpace, select_architectures


def hand_table() -> pd.DataFrame:
    """Eligible (COMPLETE, finite) ranking: 1 (0.70), 3 (0.70, tie -> higher number second), 5, 0, 6."""
    return pd.DataFrame({
        "number": range(8),
        "state": ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "RUNNING"],
        "value": [0.50, 0.70, np.nan, 0.70, np.nan, 0.60, 0.10, np.nan],
        "tau_filter_size": pd.array([3, 5, 7, 7, None, 1, 3, None], dtype="Int64"),
        "gate_filter_size": pd.array([3, 0, 1, 5, None, 0, 2, None], dtype="Int64"),
        "tau_offset": [0.9, 0.8, 0.3, 1.0, np.nan, 0.5, 0.7, np.nan],
        "gate_nonlinearity": pd.array(["tanh", "sigmoid", "tanh", "tanh", None, "tanh", "sigmoid", None], dtype="string"),
        "out_residual": pd.array([True, True, False, False, None, True, False, None], dtype="boolean"),
        "edge_conv5_conv3": pd.array([True, True, True, False, None, True, False, None], dtype="boolean"),
        "edge_conv4_conv3": pd.array([False, True, True, True, None, False, False, None], dtype="boolean"),
        "fail_reason": [None, None, "RuntimeError: x", None, "non-finite objective: nan", None, None, None],
    })


def arch(sel, arch_id):
    return json.loads(sel.set_index("arch_id").loc[arch_id, "overrides"])


def test_top_k_and_median_of_top_n():
    sel = select_architectures(hand_table(), top_k=2, median_of_top_n=4)
    assert sel["arch_id"].tolist() == ["search_top1", "search_top2", "search_median"]
    assert sel["source"].tolist() == ["top", "top", "median"]
    assert sel["trial_number"].tolist()[:2] == [1, 3] and sel["rank"].tolist()[:2] == [1, 2]
    assert sel["val_top1"].tolist()[:2] == [0.70, 0.70] and np.isnan(sel["val_top1"].iloc[2])
    assert arch(sel, "search_top1") == {
        "cell": {"tau_filter_size": 5, "gate_filter_size": 0, "tau_offset": 0.8, "gate_nonlinearity": "sigmoid",
                 "out_residual": True},
        "edges": [["conv5", "conv3"], ["conv4", "conv3"]]}
    # top 4 = trials 1, 3, 5, 0
    median = arch(sel, "search_median")
    assert median["cell"] == {"tau_filter_size": 3,        # lower median of [1, 3, 5, 7]: a sampled value
                              "gate_filter_size": 0,       # lower median of [0, 0, 3, 5]
                              "tau_offset": pytest.approx(0.85), "gate_nonlinearity": "tanh", "out_residual": True}
    assert median["edges"] == [["conv5", "conv3"], ["conv4", "conv3"]]   # 3/4 and exactly 2/4 (>= 50%)
    assert sel["median_of"].iloc[2] == 4
    assert isinstance(median["cell"]["tau_filter_size"], int) and isinstance(median["cell"]["out_residual"], bool)


def test_mode_ties_go_to_the_best_trial_and_fraction():
    sel = select_architectures(hand_table(), top_k=0, median_of_top_n=2)   # trials 1 and 3
    assert sel["arch_id"].tolist() == ["search_median"]
    m = arch(sel, "search_median")
    assert m["cell"]["gate_nonlinearity"] == "sigmoid" and m["cell"]["out_residual"] is True  # trial 1 wins ties
    assert m["cell"]["tau_offset"] == pytest.approx(0.9) and m["cell"]["tau_filter_size"] == 5
    sel = select_architectures(hand_table(), top_k=1, median_of_top_fraction=0.5, prefix="rgc")  # ceil(2.5) = 3
    assert sel["arch_id"].tolist() == ["rgc_top1", "rgc_median"] and sel["median_of"].iloc[1] == 3


def test_space_decides_the_kind():
    space = SearchSpace.from_config({
        "tau_filter_size": {"type": "categorical", "choices": [1, 3, 5, 7]},
        "gate_filter_size": {"type": "int", "low": 0, "high": 7},
        "tau_offset": {"type": "float", "low": 0.25, "high": 1.5},
        "tau_multiplier": {"type": "tied", "to": "tau_offset", "scale": -1.0},
        "gate_nonlinearity": {"type": "categorical", "choices": ["sigmoid", "tanh"]},
        "out_residual": {"type": "categorical", "choices": [True, False]},
        "edges": {"candidate_edges": [["conv4", "conv3"], ["conv5", "conv3"]]},
    })
    df = hand_table().assign(tau_multiplier=lambda d: -d["tau_offset"])
    m = arch(select_architectures(df, top_k=0, median_of_top_n=4, space=space), "search_median")
    assert m["cell"]["tau_filter_size"] == 5       # categorical -> mode; all tied -> best trial's value
    assert m["cell"]["tau_multiplier"] == pytest.approx(-0.85)
    assert list(m["cell"]) == list(space.params) and m["edges"] == [["conv4", "conv3"], ["conv5", "conv3"]]


def test_deterministic_under_row_order():
    df = hand_table()
    a = select_architectures(df, top_k=3, median_of_top_n=4)
    b = select_architectures(df.sample(frac=1.0, random_state=0), top_k=3, median_of_top_n=4)
    pd.testing.assert_frame_equal(a, b)


def test_bad_input():
    df = hand_table()
    with pytest.raises(ValueError, match="not both"):
        select_architectures(df, median_of_top_n=2, median_of_top_fraction=0.5)
    with pytest.raises(ValueError, match="no COMPLETE trial"):
        select_architectures(df[df["state"] != "COMPLETE"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['value'\]"):
        select_architectures(df.drop(columns="value"))
    with pytest.raises(ValueError, match="'edge_conv5' is not edge_<src>_<dst>"):
        select_architectures(df.assign(edge_conv5=True))
