"""Brain-Score loaders on tiny files written in the real on-disk formats (no network)."""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr
from PIL import Image

from convrnn.data import brainscore as bs
from convrnn.data.brainscore_catalog import CATALOG, FAULTY_SITES, CatalogEntry, lookup
from convrnn.io import read_parquet


# ------------------------------------------------------------------------------------------ catalog
def test_catalog_has_full_hashes_and_brainio_urls():
    for key in ["MajajHong2015", "MajajHong2015.temporal", "MajajHong2015.temporal-10ms", "MajajHong2015.public",
                "MajajHong2015.private", "MajajHong2015.temporal.public", "MajajHong2015.temporal.private", "Kar2019",
                "hvm.csv", "hvm.zip", "hvm-public.csv", "hvm-public.zip", "hvm-private.csv", "hvm-private.zip",
                "Kar2019.csv", "Kar2019.zip"]:
        assert key in CATALOG
    assert len({e.sha1 for e in CATALOG.values()}) == len(CATALOG)
    e = lookup("dicarlo.MajajHong2015.temporal")
    assert e.url == ("https://brainscore-storage.s3.amazonaws.com/brainio-brainscore/"
                     "assy_dicarlo_MajajHong2015_temporal.nc")
    assert e.sha1 == "4c5cfe25ad53162c5c716d64004de269162eff38" and e.stimulus_set == "hvm"
    assert lookup("hvm-private.zip").filename == "stimulus_hvm-private.zip"
    assert len(FAULTY_SITES) == 40
    with pytest.raises(KeyError, match="MajajHong2016"):
        lookup("MajajHong2016")
    with pytest.raises(ValueError, match="sha1 must be 40"):
        CatalogEntry("x", "x", "assembly", "x.nc", "a56f5520", "file:///x")


# -------------------------------------------------------------------------------------------- fetch
def _entry(tmp_path, payload: bytes, sha1: str | None = None) -> CatalogEntry:
    src = tmp_path / "remote" / "assy_test.nc"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(payload)
    return CatalogEntry("test", "test", "assembly", "assy_test.nc",
                        sha1 or hashlib.sha1(payload).hexdigest(), src.as_uri())


def _no_network(*a, **k):
    raise AssertionError("opener called although the file should come from a cache")


@pytest.fixture(autouse=True)
def _empty_brainio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "brainio"))


def test_fetch_downloads_verifies_and_then_uses_cache(tmp_path):
    entry = _entry(tmp_path, b"netcdf bytes" * 1000)
    cache = tmp_path / "cache"
    path = bs.fetch(entry, cache)  # real urllib on a file:// URL
    assert path == cache / "assy_test.nc" and path.read_bytes() == b"netcdf bytes" * 1000
    assert bs.fetch(entry, cache, opener=_no_network) == path
    assert [p.name for p in cache.iterdir()] == ["assy_test.nc"]


def test_fetch_wrong_sha1_names_file_and_both_hashes_and_leaves_nothing(tmp_path):
    payload = b"tampered"
    entry = _entry(tmp_path, payload, sha1="0" * 40)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError) as err:
        bs.fetch(entry, cache)
    msg = str(err.value)
    assert "assy_test.nc" in msg and "0" * 40 in msg and hashlib.sha1(payload).hexdigest() in msg
    assert list(cache.iterdir()) == []


class _Truncated(io.BytesIO):
    headers = {"Content-Length": "100"}


def test_fetch_truncated_download_fails_and_leaves_nothing(tmp_path):
    entry = _entry(tmp_path, b"x" * 10)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match=r"assy_test.nc: truncated .* 10 of 100"):
        bs.fetch(entry, cache, opener=lambda url, timeout: _Truncated(b"x" * 10))
    assert list(cache.iterdir()) == []


def test_fetch_network_error_says_where_to_stage(tmp_path):
    entry = replace(_entry(tmp_path, b"abc"), url=(tmp_path / "missing.nc").as_uri())
    with pytest.raises(OSError, match=r"assy_test.nc: download .* stage the file as .*brainio"):
        bs.fetch(entry, tmp_path / "cache")


def test_fetch_uses_prestaged_brainio_file_and_replaces_corrupt_cache(tmp_path):
    payload = b"staged assembly"
    entry = _entry(tmp_path, payload)
    staged = tmp_path / "brainio" / entry.sha1 / entry.filename
    staged.parent.mkdir(parents=True)
    staged.write_bytes(payload)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / entry.filename).write_bytes(b"stale partial file")
    path = bs.fetch(entry, cache, opener=_no_network)
    assert path.read_bytes() == payload and bs.sha1_of(path) == entry.sha1


def test_fetch_ignores_corrupt_prestaged_file(tmp_path):
    entry = _entry(tmp_path, b"good")
    staged = tmp_path / "brainio" / entry.sha1 / entry.filename
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"bad")
    assert bs.fetch(entry, tmp_path / "cache").read_bytes() == b"good"


# ---------------------------------------------------------------------------------------- assemblies
STIMS = np.array(["img_a", "img_b", "img_c"])
SITES = np.array(["Chabo_L_M_0_0", "Chabo_L_A_1_1", "Tito_L_P_8_5", "Tito_R_M_2_2"])  # 3rd is a faulty site
REGIONS = np.array(["V4", "IT", "IT", "IT"])
N_REP, BINS = 2, [(70, 80), (80, 90), (90, 100)]


def _truth(p, s, r, b):  # planted: every value encodes its own indices
    return 1000.0 * b + 100.0 * s + 10.0 * r + p


def _write_assembly(path, *, time_bins=BINS, old_style=False, neuroid_first=False):
    """An assembly laid out like brainio.packaging.write_netcdf output (MultiIndexes reset)."""
    pres = [(p, r) for r in range(N_REP) for p in range(len(STIMS))]
    nb = max(len(time_bins), 1)
    data = np.array([[[_truth(p, s, r, b) for b in range(nb)] for s in range(len(SITES))] for p, r in pres])
    coords = {
        ("image_id" if old_style else "stimulus_id"): ("presentation", STIMS[[p for p, _ in pres]]),
        "repetition": ("presentation", np.array([r for _, r in pres])),
        "object_name": ("presentation", np.array(["bear", "car", "dog"])[[p for p, _ in pres]]),
        "neuroid_id": ("neuroid", SITES), "region": ("neuroid", REGIONS),
        "animal": ("neuroid", np.array([s.split("_")[0] for s in SITES])),
    }
    if time_bins:
        coords["time_bin_start"] = ("time_bin", np.array([t0 for t0, _ in time_bins]))
        coords["time_bin_end"] = ("time_bin", np.array([t1 for _, t1 in time_bins]))
    da = xr.DataArray(data, coords=coords, dims=["presentation", "neuroid", "time_bin"])
    if neuroid_first:
        da = da.transpose("neuroid", "presentation", "time_bin")
    if old_style:  # plain DataArray.to_netcdf -> variable "__xarray_dataarray_variable__"
        da.to_netcdf(path, engine="h5netcdf")
    else:  # compressed Dataset with variable "data"
        da.to_dataset(name="data").to_netcdf(path, engine="h5netcdf",
                                             encoding={"data": {"zlib": True, "complevel": 9}})
    return path


@pytest.mark.parametrize("old_style,neuroid_first", [(False, False), (True, True)])
def test_convert_assembly_round_trips_planted_values(tmp_path, old_style, neuroid_first):
    nc = _write_assembly(tmp_path / "assy.nc", old_style=old_style, neuroid_first=neuroid_first)
    out = bs.convert_assembly(nc, tmp_path / "neural.parquet", rows_per_block=7)
    df = read_parquet(out, required=bs.NEURAL_COLUMNS)
    assert list(df.columns) == bs.NEURAL_COLUMNS
    assert "Tito_L_P_8_5" not in set(df.site)
    assert len(df) == len(STIMS) * N_REP * 3 * len(BINS)
    assert df.response.dtype == np.float32 and df.time_bin_start_ms.dtype == np.int32
    site_idx = {s: i for i, s in enumerate(SITES)}
    stim_idx = {s: i for i, s in enumerate(STIMS)}
    bin_idx = {t0: i for i, (t0, _) in enumerate(BINS)}
    expected = [_truth(stim_idx[a], site_idx[s], r, bin_idx[t]) for a, s, r, t in
                zip(df.stimulus_id, df.site, df.repetition, df.time_bin_start_ms)]
    np.testing.assert_array_equal(df.response.to_numpy(), np.array(expected, np.float32))
    assert (df.time_bin_end_ms - df.time_bin_start_ms == 10).all()
    assert dict(zip(df.site, df.region)) == {"Chabo_L_M_0_0": "V4", "Chabo_L_A_1_1": "IT", "Tito_R_M_2_2": "IT"}
    # streaming: small row groups, none spanning two time bins
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups > len(BINS)
    col = meta.schema.names.index("time_bin_start_ms")
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(col).statistics
        assert stats.min == stats.max


def test_convert_assembly_region_filter_and_keeping_all_sites(tmp_path):
    nc = _write_assembly(tmp_path / "assy.nc")
    df = read_parquet(bs.convert_assembly(nc, tmp_path / "it.parquet", region="IT", drop_sites=()))
    assert set(df.site) == {"Chabo_L_A_1_1", "Tito_L_P_8_5", "Tito_R_M_2_2"} and set(df.region) == {"IT"}
    with pytest.raises(ValueError, match=r"assy.nc: no sites with region='V1'"):
        bs.convert_assembly(nc, tmp_path / "v1.parquet", region="V1")
    assert not (tmp_path / "v1.parquet").exists()


def test_static_assembly_maps_to_one_bin(tmp_path):
    nc = _write_assembly(tmp_path / "static.nc", time_bins=[])  # size-1 time_bin dim, no bin coords
    df = read_parquet(bs.convert_assembly(nc, tmp_path / "static.parquet"))
    assert set(zip(df.time_bin_start_ms, df.time_bin_end_ms)) == {bs.STATIC_WINDOW_MS}
    assert len(df) == len(STIMS) * N_REP * 3


def test_convert_assembly_errors_name_the_file_and_field(tmp_path):
    da = xr.DataArray(np.zeros((2, 3)), dims=["presentation", "neuroid"],
                      coords={"stimulus_id": ("presentation", ["a", "b"]),
                              "neuroid_id": ("neuroid", ["x", "y", "z"]), "region": ("neuroid", ["IT"] * 3)})
    nc = tmp_path / "norep.nc"
    da.to_netcdf(nc, engine="h5netcdf")
    with pytest.raises(ValueError, match=r"norep.nc: assembly needs coordinate 'repetition'"):
        bs.convert_assembly(nc, tmp_path / "x.parquet")
    bad = tmp_path / "notnc.nc"
    bad.write_bytes(b"PK\x03\x04 not netcdf")
    with pytest.raises(ValueError, match="notnc.nc: not a netCDF file"):
        bs.convert_assembly(bad, tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError, match="absent.nc"):
        bs.convert_assembly(tmp_path / "absent.nc", tmp_path / "x.parquet")


def test_convert_kar2019_selects_decoder_and_drops_duplicates(tmp_path, caplog):
    ids = ["s0", "s1", "s1", "s2"]
    da = xr.DataArray(np.array([[100.0, 120.0, 999.0, np.nan], [105.0, 125.0, 998.0, 150.0]]),
                      dims=["decoder", "presentation"],
                      coords={"decoder": ["svm", "logistic"], "image_id": ("presentation", ids),
                              "i1": ("presentation", [0.5, 1.5, 1.5, 2.5]),
                              "image_label": ("presentation", ["bear", "dog", "dog", "zebra"])})
    nc = tmp_path / "assy_dicarlo_Kar2019.nc"
    da.to_netcdf(nc, engine="h5netcdf")
    with caplog.at_level("INFO"):
        df = read_parquet(bs.convert_kar2019(nc, tmp_path / "beh.parquet"), required=["stimulus_id", "i1", "ost_ms"])
    assert "dropping 1 duplicate" in caplog.text
    assert df.stimulus_id.tolist() == ["s0", "s1", "s2"]
    np.testing.assert_array_equal(df.ost_ms, [100.0, 120.0, np.nan])
    np.testing.assert_array_equal(df.i1, [0.5, 1.5, 2.5])
    df = read_parquet(bs.convert_kar2019(nc, tmp_path / "beh2.parquet", decoder="logistic"))
    np.testing.assert_array_equal(df.ost_ms, [105.0, 125.0, 150.0])
    with pytest.raises(ValueError, match=r"Kar2019.nc: decoder 'lda' not in \['svm', 'logistic'\]"):
        bs.convert_kar2019(nc, tmp_path / "beh3.parquet", decoder="lda")


FIXTURES = Path(__file__).parent / "fixtures"  # written by Brain-Score's own code: fixtures/make_brainscore_fixtures.py


@pytest.mark.parametrize("name,has_label", [("assy_Kar2019_2020.nc", False), ("assy_Kar2019_core.nc", True)])
def test_convert_kar2019_reads_brainscore_written_files(tmp_path, name, has_label):
    # On disk: `decoder_` (old-xarray reset_index of a one-coordinate index); the 2020 file has no image_label.
    df = read_parquet(bs.convert_kar2019(FIXTURES / name, tmp_path / "beh.parquet"))
    assert df.stimulus_id.tolist() == ["k0", "k1", "k2", "k3"]           # the duplicated k2 is dropped, first kept
    np.testing.assert_array_equal(df.ost_ms, [100.0, 110.0, 120.0, np.nan])
    np.testing.assert_array_equal(df.i1, [0.5, 1.5, 2.5, 4.5])
    assert ("object" in df.columns) == has_label
    df = read_parquet(bs.convert_kar2019(FIXTURES / name, tmp_path / "beh2.parquet", decoder="logistic"))
    np.testing.assert_array_equal(df.ost_ms, [200.0, 210.0, 220.0, np.nan])


def test_convert_kar2019_without_decoder_labels_names_what_it_has(tmp_path):
    da = xr.DataArray(np.zeros((2, 2)), dims=["decoder", "presentation"],
                      coords={"image_id": ("presentation", ["a", "b"]), "i1": ("presentation", [0.0, 1.0])})
    da.to_netcdf(tmp_path / "nolabels.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match=r"nolabels.nc: assembly needs coordinate 'decoder' \(or 'decoder_'\)"):
        bs.convert_kar2019(tmp_path / "nolabels.nc", tmp_path / "x.parquet")


def test_convert_assembly_reads_brainscore_written_temporal_file(tmp_path):
    from convrnn.neural.data import NeuralData, response_bins, response_sites

    out = bs.convert_assembly(FIXTURES / "assy_temporal10ms_core.nc", tmp_path / "r.parquet", rows_per_block=9)
    assert response_bins(out).values.tolist() == [[70, 80], [80, 90], [90, 100]]
    sites = response_sites(out)
    assert sites.site.tolist() == ["Chabo_L_A_1_1", "Chabo_L_M_0_0", "Tito_R_M_2_2"]   # faulty Tito_L_P dropped
    nd = NeuralData.from_parquet(out, stimulus_ids=["m0", "m1", "m2"])
    assert nd.n_repetitions.tolist() == [2, 3, 4]                       # unequal repetitions, NaN-padded
    s_orig = {"Chabo_L_M_0_0": 0, "Chabo_L_A_1_1": 1, "Tito_R_M_2_2": 3}
    for r in range(4):
        for n, img in enumerate(["m0", "m1", "m2"]):
            for s, site in enumerate(sites.site):
                want = [1000 * b + 100 * s_orig[site] + 10 * r + n for b in range(3)] if r < n + 2 else [np.nan] * 3
                np.testing.assert_array_equal(nd.trials[r, n, s], np.array(want, np.float32))


# ------------------------------------------------------------------------------------- stimulus sets
COLORS = {"h0": (255, 0, 0), "h1": (0, 255, 0), "h2": (0, 0, 255)}


def _write_stimulus_set(tmp_path):
    rows, zbuf = [], io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        for i, (sid, rgb) in enumerate(COLORS.items()):
            im = np.zeros((30, 40, 3), np.uint8)  # landscape: crop must drop the sides
            im[:, 5:35] = rgb  # coloured centre, black 5-px borders left/right
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, format="PNG")
            zf.writestr(f"{sid}.png", buf.getvalue())
            rows.append(dict(image_id=sid, object_name=["bear", "car", "car"][i], category_name=["Animals", "Cars", "Cars"][i],
                             variation=[0, 3, 6][i], tx=0.1 * i, filename=f"{sid}.png"))
    csv, zp = tmp_path / "stimulus_hvm.csv", tmp_path / "stimulus_hvm.zip"
    pd.DataFrame(rows).to_csv(csv, index=False)
    zp.write_bytes(zbuf.getvalue())
    return csv, zp


def test_convert_stimulus_set_and_load_images(tmp_path):
    csv, zp = _write_stimulus_set(tmp_path)
    out = bs.convert_stimulus_set(csv, zp, tmp_path / "hvm_meta.parquet", tmp_path / "images")
    meta = read_parquet(out, required=["stimulus_id", "object", "category", "variation", "image_path", "tx"])
    assert meta.stimulus_id.tolist() == list(COLORS)
    assert meta.object.tolist() == ["bear", "car", "car"] and meta.object_id.tolist() == [0, 1, 1]
    assert meta.category.tolist() == ["Animals", "Cars", "Cars"] and meta.variation.tolist() == [0, 3, 6]
    images = bs.load_images(meta, 16)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    for img, rgb in zip(images, COLORS.values()):  # 30x40 -> 16x21 -> centre 16x16: border mostly cropped
        np.testing.assert_allclose(img[:, 3:13].reshape(-1, 3).mean(0), rgb, atol=1)
    # idempotent: a second conversion reuses the extracted images
    bs.convert_stimulus_set(csv, zp, tmp_path / "hvm_meta.parquet", tmp_path / "images")


def test_stimulus_set_errors_name_the_file(tmp_path):
    csv, zp = _write_stimulus_set(tmp_path)
    bad = tmp_path / "nofile.csv"
    pd.read_csv(csv).drop(columns="filename").to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"nofile.csv: missing column 'filename'"):
        bs.convert_stimulus_set(bad, zp, tmp_path / "m.parquet", tmp_path / "im")
    extra = tmp_path / "extra.csv"
    df = pd.read_csv(csv)
    pd.concat([df, df.iloc[:1].assign(image_id="h9", filename="h9.png")]).to_csv(extra, index=False)
    with pytest.raises(ValueError, match=r"stimulus_hvm.zip: 1 csv filename\(s\) not in the zip.*h9.png"):
        bs.convert_stimulus_set(extra, zp, tmp_path / "m.parquet", tmp_path / "im")
    evil = tmp_path / "evil.csv"
    df.iloc[:1].assign(filename="../evil.png").to_csv(evil, index=False)
    ez = tmp_path / "evil.zip"
    with zipfile.ZipFile(ez, "w") as zf:
        zf.writestr("../evil.png", b"x")
    with pytest.raises(ValueError, match="evil.zip: member '../evil.png' points outside"):
        bs.convert_stimulus_set(evil, ez, tmp_path / "m.parquet", tmp_path / "im")
    assert not (tmp_path / "m.parquet").exists()
    with pytest.raises(ValueError, match=r"gone.png: cannot read image"):
        bs.load_images(pd.DataFrame({"image_path": [str(tmp_path / "gone.png")]}), 8)
