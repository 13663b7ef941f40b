"""Atomic, pickle-free persistence: a failed write leaves nothing behind; bad files are named in errors."""
import numpy as np
import pandas as pd
import pytest

from convrnn.io import atomic_path, load_tensors, read_parquet, save_tensors, tensor_metadata, write_parquet


def test_failed_write_leaves_neither_file_nor_temp(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_parquet_round_trip_and_missing_columns_named(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_parquet(df, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "t.parquet", required=["a"]), df)
    with pytest.raises(ValueError, match=r"t\.parquet: missing column\(s\) \['c'\]"):
        read_parquet(tmp_path / "t.parquet", required=["a", "c"])


def test_tensors_round_trip_with_metadata_and_corrupt_file_named(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_tensors({"x": x}, tmp_path / "t.safetensors", metadata={"ids": "[1, 2]"})
    np.testing.assert_array_equal(load_tensors(tmp_path / "t.safetensors")["x"], x)
    assert tensor_metadata(tmp_path / "t.safetensors") == {"ids": "[1, 2]"}
    with pytest.raises(KeyError, match="missing tensor"):
        load_tensors(tmp_path / "t.safetensors", keys=["y"])
    (tmp_path / "bad.safetensors").write_bytes(b"\x00corrupt\x00")
    with pytest.raises(ValueError, match=r"bad\.safetensors: not a readable safetensors file"):
        load_tensors(tmp_path / "bad.safetensors")
