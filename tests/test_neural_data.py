import numpy as np
import pandas as pd
import pytest

from convrnn.neural import NeuralData


def _long(rng, n=5, s=3, b=2, r=4):
    rows = [(f"img{i}", f"site{j}", "V4" if j < 2 else "IT", 10 * k, 10 * k + 10, rep, rng.normal())
            for i in range(n) for j in range(s) for k in range(b) for rep in range(r)]
    return pd.DataFrame(rows, columns=["stimulus_id", "site", "region", "time_bin_start_ms", "time_bin_end_ms",
                                       "repetition", "response"])


def test_from_long_round_trips_and_orders():
    df = _long(np.random.default_rng(0)).sample(frac=1.0, random_state=0)      # row order must not matter
    order = ["img3", "img0", "img4", "img1", "img2"]
    d = NeuralData.from_long(df, stimulus_ids=order)
    assert d.trials.shape == (4, 5, 3, 2) and d.trials.dtype == np.float32
    assert list(d.stimulus_ids) == order
    assert list(d.sites["region"]) == ["V4", "V4", "IT"]
    assert list(d.bins["time_bin_start_ms"]) == [0, 10]
    back = d.to_long()
    key = ["stimulus_id", "site", "time_bin_start_ms", "repetition"]
    a = df.sort_values(key).reset_index(drop=True)
    b = back.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a["response"], b["response"], rtol=1e-6)
    assert (a[key].astype(str).values == b[key].astype(str).values).all()
    # trial at (rep 2, img0, site1, bin 10-20) lands where expected
    row = df[(df.stimulus_id == "img0") & (df.site == "site1") & (df.time_bin_start_ms == 10) & (df.repetition == 2)]
    assert d.trials[2, 1, 1, 1] == pytest.approx(row["response"].item(), rel=1e-6)


def test_unequal_repetitions_are_nan_and_nanmeaned():
    df = _long(np.random.default_rng(1))
    df = df[~((df.stimulus_id == "img2") & (df.repetition >= 2))]                # img2 has only 2 reps
    d = NeuralData.from_long(df)
    assert np.isnan(d.trials[2:, 2]).all() and np.isfinite(d.trials[:, [0, 1, 3, 4]]).all()
    assert list(d.n_repetitions) == [4, 4, 2, 4, 4]
    expect = df[(df.stimulus_id == "img2") & (df.site == "site0") & (df.time_bin_start_ms == 0)]["response"].mean()
    assert d.mean()[2, 0, 0] == pytest.approx(expect, rel=1e-5)


def test_select_region_and_stimuli():
    d = NeuralData.from_long(_long(np.random.default_rng(2)))
    it = d.select(region="IT", stimulus_ids=["img4", "img0"])
    assert it.trials.shape == (4, 2, 1, 2) and list(it.sites["site"]) == ["site2"]
    np.testing.assert_array_equal(it.trials[:, 0], d.trials[:, 4, [2]])
    with pytest.raises(ValueError, match="region"):
        d.select(region="V1")


def test_errors_name_the_problem():
    df = _long(np.random.default_rng(3))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['repetition', 'response'\]"):
        NeuralData.from_long(df.drop(columns=["repetition", "response"]))
    with pytest.raises(ValueError, match="duplicate"):
        NeuralData.from_long(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(ValueError, match="imgX"):
        NeuralData.from_long(df, stimulus_ids=["img0", "imgX"])
    bad = df.copy()
    bad.loc[bad.site == "site0", "region"] = np.where(np.arange((bad.site == "site0").sum()) % 2, "V4", "IT")
    with pytest.raises(ValueError, match="site0"):
        NeuralData.from_long(bad)
