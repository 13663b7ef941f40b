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
from convrnn.data.staged import StagedFileError
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


def test_fetch_uses_prestaged_brainio_file_and_refuses_a_wrong_cache_file(tmp_path):
    """A wrong file already in the cache may be a copy someone staged by hand: refused, named, and left alone."""
    payload = b"staged assembly"
    entry = _entry(tmp_path, payload)
    staged = tmp_path / "brainio" / entry.sha1 / entry.filename
    staged.parent.mkdir(parents=True)
    staged.write_bytes(payload)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / entry.filename).write_bytes(b"someone else's file")
    with pytest.raises(StagedFileError, match=rf"cache/{entry.filename}: sha1 [0-9a-f]{{40}} is not the catalog's "
                                              rf"{entry.sha1}"):
        bs.fetch(entry, cache, opener=_no_network)
    assert (cache / entry.filename).read_bytes() == b"someone else's file"
    (cache / entry.filename).unlink()
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
    from convrnn.data.responses import NeuralData, response_bins, response_sites

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


def _planted(nd, sites, s_orig, n_bins, rebin=None):
    """Expected trials of the fixtures: 1000 * bin + 100 * site + 10 * repetition + image index (NaN-padded)."""
    for r in range(4):
        for n in range(3):
            for s, site in enumerate(sites):
                raw = np.array([1000 * b + 100 * s_orig[site] + 10 * r + n for b in range(n_bins)], np.float64)
                want = (raw if rebin is None else rebin @ raw) if r < n + 2 else np.full(nd.trials.shape[-1], np.nan)
                np.testing.assert_allclose(nd.trials[r, n, s], want.astype(np.float32), rtol=1e-6)


def test_convert_assembly_reads_brainscore_written_public_static_file(tmp_path):
    """MajajHong2015.public as Brain-Score's 2020 packaging wrote it: presentation-first, one 70-170 ms bin."""
    from convrnn.data.responses import NeuralData, response_bins, response_sites

    out = bs.convert_assembly(FIXTURES / "assy_public_2020.nc", tmp_path / "r.parquet", rows_per_block=5)
    assert response_bins(out).values.tolist() == [[70, 170]]
    sites = response_sites(out)
    assert sorted(sites.site) == ["Chabo_L_A_1_1", "Chabo_L_M_0_0", "Tito_R_M_2_2"]
    nd = NeuralData.from_parquet(out, stimulus_ids=["m0", "m1", "m2"])
    # the public split was packaged without the faulty site: site numbers follow its own neuroid order
    _planted(nd, list(sites.site), {"Chabo_L_M_0_0": 0, "Chabo_L_A_1_1": 1, "Tito_R_M_2_2": 2}, 1)


def test_convert_assembly_rebins_brainscore_written_windows_file(tmp_path):
    """MajajHong2015.temporal.public-like windows [60, 80) .. [90, 110) written by brainscore-core; re-binned to the
    model steps [70, 80) .. [90, 100) with Brain-Score's portion rule: each step = the mean of the two windows that
    cover it (overlap 10 ms of 20 each), e.g. [70, 80) <- windows 0 and 1."""
    from convrnn.data.responses import NeuralData, response_bins, response_sites

    steps = [(70, 80), (80, 90), (90, 100)]
    out = bs.convert_assembly(FIXTURES / "assy_temporal_windows_core.nc", tmp_path / "r.parquet",
                              time_align="portion", time_bins=steps)
    assert response_bins(out).values.tolist() == [list(b) for b in steps]
    sites = response_sites(out)
    nd = NeuralData.from_parquet(out, stimulus_ids=["m0", "m1", "m2"])
    rebin = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]])
    _planted(nd, list(sites.site), {"Chabo_L_M_0_0": 0, "Chabo_L_A_1_1": 1, "Tito_R_M_2_2": 3}, 4, rebin)
    # stored as they are, the 20 ms windows pair with no model step: refused, not silently shifted
    from convrnn.neural.scoring import check_bins_pair

    raw = bs.convert_assembly(FIXTURES / "assy_temporal_windows_core.nc", tmp_path / "raw.parquet")
    with pytest.raises(ValueError, match="bin"):
        check_bins_pair(response_bins(raw), 12, 10.0, 0.0)


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


def test_convert_stimulus_set_written_by_brainscore_core(tmp_path):
    """Today's packaging (brainscore-core create_stimulus_csv / create_stimulus_zip): no filename column, zip members
    named <stimulus_id>.<ext>."""
    meta = bs.convert_stimulus_set(FIXTURES / "stimulus_core.csv", FIXTURES / "stimulus_core.zip",
                                   tmp_path / "m.parquet", tmp_path / "images")
    m = pd.read_parquet(meta)
    assert m["stimulus_id"].tolist() == ["s0", "s1", "s2"] and m["object"].tolist() == ["bear", "car", "car"]
    images = bs.load_images(m, 8)
    for img, rgb in zip(images, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        np.testing.assert_allclose(img.reshape(-1, 3).mean(0), rgb, atol=1)


def test_stimulus_set_errors_name_the_file(tmp_path):
    csv, zp = _write_stimulus_set(tmp_path)
    bad = tmp_path / "nofile.csv"
    pd.read_csv(csv).drop(columns="filename").assign(image_id=["x0", "x1", "x2"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"nofile.csv: no column 'filename', and 3 stimulus id\(s\) have no"):
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


# --------------------------------------------------------------------- issue 12: staging, credentials, re-binning
def test_fetch_finds_file_in_old_brainio_cache_layout(tmp_path):
    """brainio 2021-2024 cached at $BRAINIO_HOME/<file stem>/<file>; such a file is used after its sha1 check."""
    payload = b"old-layout assembly"
    entry = _entry(tmp_path, payload)
    staged = tmp_path / "brainio" / "assy_test" / "assy_test.nc"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(payload)
    assert bs.staged_paths(entry)[0] == tmp_path / "brainio" / entry.sha1 / "assy_test.nc"
    assert staged in bs.staged_paths(entry)
    path = bs.fetch(entry, tmp_path / "cache", opener=_no_network)
    assert path.read_bytes() == payload and bs.sha1_of(path) == entry.sha1


def test_fetch_refuses_old_layout_file_with_wrong_sha1_and_leaves_it(tmp_path, caplog):
    entry = _entry(tmp_path, b"the real file")
    staged = tmp_path / "brainio" / "assy_test" / "assy_test.nc"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"someone else's file")

    def offline(url, timeout):
        raise OSError("no network")

    cache = tmp_path / "cache"
    with pytest.raises(OSError) as err:
        bs.fetch(entry, cache, opener=offline)
    msg = str(err.value)
    assert "refused pre-staged" in msg and str(staged) in msg and entry.sha1 in msg
    assert str(tmp_path / "brainio" / entry.sha1 / "assy_test.nc") in msg   # where to put the right one
    assert staged.read_bytes() == b"someone else's file"                     # the user's file is not deleted
    assert not cache.exists() or list(cache.iterdir()) == []                 # our partial download is
    assert "refusing pre-staged file" in caplog.text and str(staged) in caplog.text
    # with the network, the download replaces nothing of the user's and lands in the cache
    assert bs.fetch(entry, cache).read_bytes() == b"the real file" and staged.read_bytes() == b"someone else's file"


S3_URL = "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore/assy_test.nc"


def _s3_entry(payload: bytes) -> CatalogEntry:
    return CatalogEntry("test", "dicarlo.Test.private", "assembly", "assy_test.nc",
                        hashlib.sha1(payload).hexdigest(), S3_URL, public=False)


def test_fetch_403_without_boto3_says_private_how_to_get_access_and_where_to_stage(tmp_path, monkeypatch):
    import sys
    import urllib.error

    monkeypatch.setitem(sys.modules, "boto3", None)   # boto3 not installed: plain (anonymous) urllib

    def forbidden(url, timeout):
        assert url == S3_URL
        raise urllib.error.HTTPError(url, 403, "Forbidden", {}, None)

    monkeypatch.setattr(bs.urllib.request, "urlopen", forbidden)
    entry = _s3_entry(b"private bytes")
    with pytest.raises(bs.PrivateFileError) as err:
        bs.fetch(entry, tmp_path / "cache")
    msg = str(err.value)
    assert "assy_test.nc" in msg and "403" in msg and "not publicly available" in msg
    assert "Brain-Score account" in msg and "data owners" in msg and "AWS_ACCESS_KEY_ID" in msg
    assert str(tmp_path / "brainio" / entry.sha1 / "assy_test.nc") in msg
    assert str(tmp_path / "brainio" / "assy_test" / "assy_test.nc") in msg
    assert list((tmp_path / "cache").iterdir()) == []


class _FakeS3:
    """Stand-ins for boto3 / botocore: records which client config each request used; no network."""

    def __init__(self, payload: bytes, *, credentials: bool, allow: set[str]):
        import types

        self.payload, self.credentials, self.allow, self.calls = payload, credentials, allow, []
        fake = self

        class ClientError(Exception):
            def __init__(self, response, operation):
                super().__init__(f"{response['Error']['Code']} on {operation}")
                self.response = response

        class BotoCoreError(Exception):
            pass

        class Config:
            def __init__(self, signature_version="signed", **kw):
                self.signature_version = signature_version

        class Body(io.BytesIO):
            pass

        class Client:
            def __init__(self, config):
                self.config = config

            def get_object(self, Bucket, Key):
                kind = "unsigned" if self.config.signature_version == "UNSIGNED" else "signed"
                fake.calls.append((kind, Bucket, Key))
                if kind not in fake.allow:
                    raise ClientError({"Error": {"Code": "AccessDenied"},
                                       "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
                return {"Body": Body(fake.payload), "ContentLength": len(fake.payload)}

        class Session:
            def get_credentials(self):
                return object() if fake.credentials else None

            def client(self, name, config=None):
                assert name == "s3"
                return Client(config)

        boto3 = types.ModuleType("boto3")
        boto3.session = types.SimpleNamespace(Session=Session)
        botocore = types.ModuleType("botocore")
        botocore.UNSIGNED = "UNSIGNED"
        config_mod = types.ModuleType("botocore.config")
        config_mod.Config = Config
        exc_mod = types.ModuleType("botocore.exceptions")
        exc_mod.ClientError, exc_mod.BotoCoreError = ClientError, BotoCoreError
        self.modules = {"boto3": boto3, "botocore": botocore, "botocore.config": config_mod,
                        "botocore.exceptions": exc_mod}

    def install(self, monkeypatch):
        import sys

        for name, mod in self.modules.items():
            monkeypatch.setitem(sys.modules, name, mod)
        monkeypatch.setattr(bs.urllib.request, "urlopen", _no_network)
        return self


@pytest.mark.parametrize("credentials,allow,calls", [
    (True, {"signed"}, ["signed"]),                  # private file, credentials from the default chain
    (False, {"unsigned"}, ["unsigned"]),             # public file, no credentials: unsigned request
    (True, {"unsigned"}, ["signed", "unsigned"]),    # public file refusing foreign credentials: unsigned retry
])
def test_fetch_uses_boto3_credentials_when_installed(tmp_path, monkeypatch, credentials, allow, calls):
    payload = b"assembly via s3" * 100
    s3 = _FakeS3(payload, credentials=credentials, allow=allow).install(monkeypatch)
    path = bs.fetch(_s3_entry(payload), tmp_path / "cache")
    assert path.read_bytes() == payload
    assert s3.calls == [(c, "brainscore-storage", "brainio-brainscore/assy_test.nc") for c in calls]


def test_fetch_boto3_403_is_a_private_file_error(tmp_path, monkeypatch):
    s3 = _FakeS3(b"x", credentials=False, allow=set()).install(monkeypatch)
    with pytest.raises(bs.PrivateFileError, match=r"assy_test.nc: access denied \(403\).*no credentials.*"
                                                   r"not publicly available.*stage a copy"):
        bs.fetch(_s3_entry(b"x"), tmp_path / "cache")
    assert [c[0] for c in s3.calls] == ["unsigned"]
    assert list((tmp_path / "cache").iterdir()) == []


def test_catalog_marks_private_files_and_known_bin_layouts():
    assert {k for k, e in CATALOG.items() if e.kind == "assembly" and not e.public} == {
        "MajajHong2015", "MajajHong2015.temporal", "MajajHong2015.temporal-10ms", "MajajHong2015.private",
        "MajajHong2015.temporal.private", "Kar2019"}
    bins = lookup("MajajHong2015.temporal.public").time_bins
    assert len(bins) == 39 and bins[0] == (-100, -80) and bins[-1] == (280, 300)
    assert lookup("MajajHong2015.temporal-10ms").time_bins is None       # edges not published
    assert lookup("MajajHong2015.temporal-10ms").stem == "assy_dicarlo_MajajHong2015_temporal-10ms"


def test_time_align_weights_match_brainscore_rule():
    """Expected matrices derived by hand from Brain-Score's documented rule (brain-score/vision @ c642dbe4,
    ``model_helpers/brain_transformation/temporal.py::time_align``): ``portion`` weight = overlap(target, source) /
    len(source), a target row zeroed unless some source starts <= its start and some source ends >= its end;
    ``center`` weight = 1 if the target midpoint lies in [source start, source end). The same numbers were printed by
    Brain-Score's own function, run outside this project::

        time_align([(0,100),(100,200),(200,300)], [(0,50),(250,300)], 'portion')  # [[.5,0,0],[0,0,.5]] (its docstring)
        time_align([(-20,0),(-10,10),(0,20),(10,30),(20,40)],
                   [(0,10),(10,20),(20,30),(30,40),(40,50)], 'portion')
        # [[0,.5,.5,0,0],[0,0,.5,.5,0],[0,0,0,.5,.5],[0,0,0,0,.5],[0,0,0,0,0]]
        time_align([(0,20),(10,30)], [(5,15)], 'portion')  # [[.5,.25]]: overlaps 10 and 5 over 20 ms windows
    """
    from convrnn.data.brainscore_catalog import time_align_weights

    doc_src, doc_tgt = [(0, 100), (100, 200), (200, 300)], [(0, 50), (250, 300)]
    np.testing.assert_array_equal(time_align_weights(doc_src, doc_tgt, "portion"), [[0.5, 0, 0], [0, 0, 0.5]])
    np.testing.assert_array_equal(time_align_weights(doc_src, doc_tgt, "center"), [[1, 0, 0], [0, 0, 1]])
    src = [(-20, 0), (-10, 10), (0, 20), (10, 30), (20, 40)]
    tgt = [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50)]
    np.testing.assert_array_equal(time_align_weights(src, tgt, "portion"), [
        [0, .5, .5, 0, 0], [0, 0, .5, .5, 0], [0, 0, 0, .5, .5], [0, 0, 0, 0, .5], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(time_align_weights([(0, 20), (10, 30)], [(5, 15)], "portion"), [[.5, .25]])
    # the public temporal layout on the model's 26 steps (offset 0): each step = mean of the two 20 ms windows
    # [10t-10, 10t+10) and [10t, 10t+20) (window indices t+9 and t+10); edges: one window; past 300 ms: none
    pub = lookup("MajajHong2015.temporal.public").time_bins
    w = time_align_weights(pub, bs.model_step_bins(26, 10, 0) + [(-100, -90), (290, 300), (300, 310)], "portion")
    for t in range(26):
        assert np.flatnonzero(w[t]).tolist() == [t + 9, t + 10] and (w[t][w[t] > 0] == 0.5).all()
    assert np.flatnonzero(w[26]).tolist() == [0] and np.flatnonzero(w[27]).tolist() == [38] and not w[28].any()
    with pytest.raises(ValueError, match="portion' or 'center"):
        time_align_weights(src, tgt, "nearest")


def test_convert_assembly_rebins_overlapping_windows_to_model_steps(tmp_path):
    """20 ms windows every 10 ms -> the model's 10 ms steps, per trial, on planted values.

    Stored bins b = 0..4 are [-20,0), [-10,10), [0,20), [10,30), [20,40); value(p, s, r, b) = _truth(p, s, r, b).
    Targets: 5 model steps of 10 ms from 0 ms. By the weights of test_time_align_weights_match_brainscore_rule:
    step 0 [0,10) = (x1 + x2)/2, step 1 = (x2 + x3)/2, step 2 = (x3 + x4)/2, step 3 [30,40) = x4 alone,
    step 4 [40,50) is not covered (no window ends at or after 50 ms) and is left out. Since _truth is
    1000 b + 100 s + 10 r + p, the expected values are _truth(p, s, r, b*) with b* = 1.5, 2.5, 3.5, 4.
    A NaN in stored bin 2 of one trial makes steps 0 and 1 of that trial NaN and leaves steps 2, 3 alone.
    """
    windows = [(-20, 0), (-10, 10), (0, 20), (10, 30), (20, 40)]
    nc = _write_assembly(tmp_path / "temporal.nc", time_bins=windows)
    with xr.open_dataset(nc, engine="h5netcdf") as ds:
        ds = ds.load()
    ds["data"][0, 0, 2] = np.nan          # presentation 0 = (img_a, rep 0), site 0, stored bin 2
    ds.to_netcdf(tmp_path / "temporal_nan.nc", engine="h5netcdf")
    out = bs.convert_assembly(tmp_path / "temporal_nan.nc", tmp_path / "r.parquet", rows_per_block=5,
                              time_align="portion", time_bins=bs.model_step_bins(5, 10, 0))
    df = read_parquet(out)
    assert sorted(set(zip(df.time_bin_start_ms, df.time_bin_end_ms))) == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert len(df) == len(STIMS) * N_REP * 3 * 4
    b_star = {0: 1.5, 10: 2.5, 20: 3.5, 30: 4.0}
    site_idx, stim_idx = {s: i for i, s in enumerate(SITES)}, {s: i for i, s in enumerate(STIMS)}
    for row in df.itertuples():
        want = _truth(stim_idx[row.stimulus_id], site_idx[row.site], row.repetition, b_star[row.time_bin_start_ms])
        if (row.stimulus_id, row.site, row.repetition) == ("img_a", SITES[0], 0) and row.time_bin_start_ms < 20:
            want = np.nan
        np.testing.assert_allclose(row.response, want, rtol=1e-6)
    # the model-step bins pair one to one with the steps
    from convrnn.neural.scoring import step_bin_pairs
    bins = pd.DataFrame(sorted(set(zip(df.time_bin_start_ms, df.time_bin_end_ms))),
                        columns=["time_bin_start_ms", "time_bin_end_ms"])
    assert step_bin_pairs(5, bins, 10, 0) == {0: [0], 1: [1], 2: [2], 3: [3]}
    # unequal weights: target [0, 15) overlaps [-10,10) by 10, [0,20) by 15, [10,30) by 5 -> weights .5, .75, .25
    # (of 20 ms windows), so b* = (.5*1 + .75*2 + .25*3) / 1.5 = 11/6 (a plain mean would give 2)
    odd = read_parquet(bs.convert_assembly(nc, tmp_path / "odd.parquet", time_align="portion", time_bins=[(0, 15)]))
    np.testing.assert_allclose(odd.response.to_numpy(), [
        _truth(stim_idx[a], site_idx[s], r, 11 / 6) for a, s, r in zip(odd.stimulus_id, odd.site, odd.repetition)],
        rtol=1e-6)
    # default: stored bins kept (10 ms data unchanged); nothing covered: an error naming the file
    kept = read_parquet(bs.convert_assembly(nc, tmp_path / "k.parquet"))
    assert sorted(set(kept.time_bin_start_ms)) == [-20, -10, 0, 10, 20]
    with pytest.raises(ValueError, match=r"temporal.nc: time_align='portion'.*cover none"):
        bs.convert_assembly(nc, tmp_path / "x.parquet", time_align="portion", time_bins=[(100, 110)])
    with pytest.raises(ValueError, match="needs time_bins"):
        bs.convert_assembly(nc, tmp_path / "x.parquet", time_align="portion")


def _public_config() -> dict:
    from convrnn.workflow.overlays import load_config

    return load_config(Path(__file__).resolve().parents[1] / "config/public.yaml")  # an overlay on paper.yaml


def test_public_config_is_accepted_and_rebins_to_the_model_steps():
    from convrnn.workflow.preflight import validate_config

    cfg = validate_config(_public_config())
    bsc = cfg["data"]["brainscore"]
    assert bsc["neural_assembly"] == "dicarlo.MajajHong2015.temporal.public" and bsc["stimulus_set"] == "hvm-public"
    assert lookup(bsc["neural_assembly"]).public and lookup(bsc["stimulus_set"] + ".zip").public
    assert cfg["neural"]["time_align"] == "portion" and cfg["neural"]["pairing"] == "matched"
    kw = bs.time_align_kwargs(cfg)
    assert kw["time_align"] == "portion" and kw["time_bins"][:2] == [(0, 10), (10, 20)] and len(kw["time_bins"]) == 26
    from convrnn.data.brainscore_catalog import check_time_bins
    check_time_bins(cfg)


def test_unpaired_bins_are_a_config_time_error():
    from convrnn.data.brainscore_catalog import check_time_bins
    from convrnn.workflow.preflight import validate_config
    from convrnn.errors import ConfigError

    cfg = _public_config()
    del cfg["neural"]["time_align"]                       # the schema refuses matched pairing of the 20 ms windows
    with pytest.raises(ConfigError, match=r"'neural'.*time_align"):
        validate_config(cfg)
    cfg["neural"]["time_align"] = "none"
    with pytest.raises(ConfigError, match=r"'neural.time_align'"):
        validate_config(cfg)
    with pytest.raises(ConfigError, match=r"'neural.time_align'.*\[-100, -80\).*set neural.time_align: portion"):
        check_time_bins(cfg)                              # the same rule, in words (for the preflight)
    cfg["neural"]["time_align"] = "portion"
    cfg["presentation"]["latency_offset_ms"] = 400       # steps [400, 660) ms: past the recording
    with pytest.raises(ConfigError, match=r"'neural.time_align'.*cover none of the model's 26 steps"):
        check_time_bins(cfg)
    cfg = _public_config()
    cfg["neural"].update(pairing="all", time_align="none")   # every step x bin: nothing to pair
    check_time_bins(cfg)
    # 10 ms data with unknown edges (paper.yaml): default none, checked when the file is read
    from convrnn.workflow.overlays import load_config
    paper = load_config(Path(__file__).resolve().parents[1] / "config/paper.yaml")
    check_time_bins(paper)
    assert bs.time_align_kwargs(paper) == {}
