import numpy as np
import pyarrow.parquet as pq
import pandas as pd
import pytest

from convrnn.data.responses import NeuralData


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


# ------------------------------------------------------------------------- streamed Parquet table
from convrnn.data import responses as nd  # noqa: E402


def _write(tmp_path, df, chunks=3):
    parts = np.array_split(np.arange(len(df)), chunks)
    return nd.write_responses(tmp_path / "responses.parquet", (df.iloc[p] for p in parts))


def _group_starts(path):
    md = pq.ParquetFile(path).metadata
    return [md.row_group(g).column(3).statistics.min for g in range(md.num_row_groups)]


def test_write_responses_one_bin_per_row_group(tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "ROW_GROUP_ROWS", 7)  # forces several row groups per bin
    df = _long(np.random.default_rng(4), b=3).sample(frac=1.0, random_state=1)   # every chunk spans all bins
    path = _write(tmp_path, df)
    md = pq.ParquetFile(path).metadata
    assert md.num_row_groups > 3 and md.num_rows == len(df)
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        assert rg.num_rows <= 7
        for c in (3, 4):  # time_bin_start_ms, time_bin_end_ms: one value per row group
            assert rg.column(c).statistics.min == rg.column(c).statistics.max
    assert nd.response_bins(path).to_records(index=False).tolist() == [(0, 10), (10, 20), (20, 30)]
    assert nd.response_sites(path).to_dict("list") == {"site": ["site0", "site1", "site2"],
                                                       "region": ["V4", "V4", "IT"]}
    back = pd.read_parquet(path)
    assert str(back["time_bin_start_ms"].dtype) == "int32" and str(back["response"].dtype) == "float32"
    assert isinstance(back["stimulus_id"].dtype, pd.CategoricalDtype)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temp file left
    import pyarrow as pa  # converters may hand over Arrow tables: same file content
    again = nd.write_responses(tmp_path / "arrow.parquet", pa.Table.from_pandas(df, preserve_index=False))
    np.testing.assert_array_equal(nd.NeuralData.from_parquet(again).trials, nd.NeuralData.from_parquet(path).trials)


def test_from_parquet_equals_from_long_filtered(tmp_path):
    df = _long(np.random.default_rng(5), n=6, s=4, b=4, r=3)
    df = df[~((df.stimulus_id == "img1") & (df.repetition == 2))]                # unequal repetitions
    path = _write(tmp_path, df.sample(frac=1.0, random_state=2))
    order = ["img5", "img0", "img1"]
    got = nd.NeuralData.from_parquet(path, stimulus_ids=order, bins=[(30, 40), (10, 20)], regions=["IT"])
    sub = df[df.time_bin_start_ms.isin([10, 30]) & (df.region == "IT")]
    want = nd.NeuralData.from_long(sub, stimulus_ids=order)
    np.testing.assert_array_equal(got.trials[..., ::-1], want.trials)            # bins in the requested order
    assert list(got.bins.time_bin_start_ms) == [30, 10] and list(got.stimulus_ids) == order
    assert got.sites.to_dict("list") == want.sites.to_dict("list")
    full = nd.NeuralData.from_parquet(path)
    np.testing.assert_array_equal(full.trials, nd.NeuralData.from_long(df).trials)
    singles = list(nd.iter_bins(path, regions="V4"))
    assert len(singles) == 4 and all(s.trials.shape == (3, 6, 2, 1) for s in singles)
    np.testing.assert_array_equal(np.concatenate([s.trials for s in singles], -1),
                                  full.select(region="V4").trials)


def test_reading_one_bin_decodes_only_its_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "ROW_GROUP_ROWS", 10)
    path = _write(tmp_path, _long(np.random.default_rng(6), b=5))
    read = []
    original = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda self, i, **kw: read.append(i) or original(self, i, **kw))
    d = nd.NeuralData.from_parquet(path, bins=[(20, 30)])
    assert read and sorted(read) == [g for g, start in enumerate(_group_starts(path)) if start == 20]
    assert d.trials.shape == (4, 5, 3, 1) and np.isfinite(d.trials).all()
    assert sum(pq.ParquetFile(path).metadata.row_group(g).num_rows for g in read) == 5 * 3 * 4  # one bin's rows


def test_streamed_table_errors_name_the_problem(tmp_path):
    df = _long(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['response'\]"):
        nd.write_responses(tmp_path / "a.parquet", df.drop(columns="response"))
    assert not (tmp_path / "a.parquet").exists()
    bad = df.copy()
    bad.loc[(bad.site == "site0") & (bad.stimulus_id == "img4"), "region"] = "IT"
    with pytest.raises(ValueError, match="site0"):
        nd.write_responses(tmp_path / "b.parquet", [df[df.stimulus_id != "img4"], bad[bad.stimulus_id == "img4"]])
    with pytest.raises(ValueError, match="'response' must be numeric"):
        nd.write_responses(tmp_path / "s.parquet", df.assign(response="x"))
    path = nd.write_responses(tmp_path / "c.parquet", pd.concat([df, df.iloc[:1]]))
    with pytest.raises(ValueError, match="duplicate"):
        nd.NeuralData.from_parquet(path)
    path = nd.write_responses(tmp_path / "d.parquet", df)
    with pytest.raises(ValueError, match=r"no time bin\(s\) \[\(5, 15\)\]"):
        nd.NeuralData.from_parquet(path, bins=[(5, 15)])
    with pytest.raises(ValueError, match="imgX"):
        nd.NeuralData.from_parquet(path, stimulus_ids=["img0", "imgX"])
    with pytest.raises(ValueError, match="V1"):
        nd.NeuralData.from_parquet(path, regions="V1")
    df.to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="write_responses"):
        nd.response_bins(tmp_path / "plain.parquet")
