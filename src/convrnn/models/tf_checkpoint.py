"""TensorFlow (TF1 ``tf.train.Saver`` V2) checkpoints read and written without TensorFlow.

A checkpoint ``<prefix>`` is a *tensor bundle* (TF ``core/util/tensor_bundle``):

- ``<prefix>.index``: an SSTable in the LevelDB table format. Data blocks hold sorted key/value entries with
  prefix-compressed keys (varint32 shared, non_shared, value_length; key delta; value) and a restart array
  (uint32 offsets + uint32 count); each block is followed by a 5-byte trailer (compression type: 0 none,
  1 snappy; masked crc32c of contents + type byte). An index block maps a separator key per data block to its
  block handle (varint64 offset, size); a 48-byte footer holds the metaindex and index handles, zero padding
  and the magic 0xdb4775248b80fb57 (little-endian fixed64).
- The key ``""`` holds a ``BundleHeaderProto`` (num_shards = 1, endianness = 2, version = 3); every other key is a
  tensor name whose value is a ``BundleEntryProto`` (dtype = 1, shape = 2 (TensorShapeProto: dim = 2 {size = 1}),
  shard_id = 3, offset = 4, size = 5, crc32c = 6 (fixed32), slices = 7).
- ``<prefix>.data-SSSSS-of-NNNNN``: the raw little-endian tensor bytes at ``offset`` of shard ``shard_id``.
  ``crc32c`` is the *masked* CRC-32C of those bytes (``Mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8``),
  checked on every read here, as TF's ``BundleReader`` does.

Protobuf is decoded by hand (varints and length-delimited fields only; the messages are tiny).
``write_checkpoint`` writes the same format (one shard, uncompressed blocks, restart interval 16, one data
block per ~4 KiB like LevelDB's default). It is tested against ``read_checkpoint`` and, once, against
TensorFlow itself (``tests/fixtures/tf_checkpoint_roundtrip.py``: TF reads our output, we read TF's).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = 0xDB4775248B80FB57
FOOTER_LEN = 48
BLOCK_TRAILER_LEN = 5

# tensorflow/core/framework/types.proto
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
DTYPE_CODES = {np.dtype(v): k for k, v in DTYPES.items()}


class CheckpointError(ValueError):
    """A malformed or corrupted checkpoint; the message names the file and, where known, the tensor."""


# ---------------------------------------------------------------- crc32c
def _crc_table() -> list[int]:
    poly, table = 0x82F63B78, []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def _crc32c_py(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # fast C implementations when installed (extra ``pretrained``); the table fallback is exact but slow
    import google_crc32c as _gcrc

    def crc32c(data: bytes) -> int:
        return int(_gcrc.value(bytes(data)))
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import crc32c as _crc

        def crc32c(data: bytes) -> int:
            return int(_crc.crc32c(data))
    except ImportError:
        crc32c = _crc32c_py


def mask_crc(c: int) -> int:
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def unmask_crc(m: int) -> int:
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------- varints / protobuf
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("varint too long")


def _put_varint(v: int) -> bytes:
    if v < 0:
        v &= (1 << 64) - 1   # protobuf int64: negatives as 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            v = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            v = bytes(buf[pos:pos + n])
            pos += n
        elif wt == 5:
            v = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wt}")
        out.append((num, wt, v))
    if pos != len(buf):
        raise CheckpointError("truncated protobuf message")
    return out


def _field_varint(num: int, v: int) -> bytes:
    return _put_varint(num << 3) + _put_varint(v)


def _field_bytes(num: int, b: bytes) -> bytes:
    return _put_varint((num << 3) | 2) + _put_varint(len(b)) + b


def _field_fixed32(num: int, v: int) -> bytes:
    return _put_varint((num << 3) | 5) + struct.pack("<I", v)


@dataclass(frozen=True)
class Entry:
    """One ``BundleEntryProto``."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int          # masked, as stored
    sliced: bool = False


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_entry(buf: bytes) -> Entry:
    kw = dict(dtype=0, shape=(), shard_id=0, offset=0, size=0, crc32c=0, sliced=False)
    for num, _, v in _fields(buf):
        if num == 1:
            kw["dtype"] = v
        elif num == 2:
            dims = []
            for n2, _, v2 in _fields(v):
                if n2 == 2:
                    size = 0
                    for n3, _, v3 in _fields(v2):
                        if n3 == 1:
                            size = _signed64(v3)
                    dims.append(size)
                elif n2 == 3 and v2:
                    raise CheckpointError("tensor of unknown rank")
            kw["shape"] = tuple(dims)
        elif num == 3:
            kw["shard_id"] = v
        elif num == 4:
            kw["offset"] = v
        elif num == 5:
            kw["size"] = v
        elif num == 6:
            kw["crc32c"] = v
        elif num == 7:
            kw["sliced"] = True
    return Entry(**kw)


def encode_entry(e: Entry) -> bytes:
    dims = b"".join(_field_bytes(2, _field_varint(1, d) if d else b"") for d in e.shape)
    out = _field_varint(1, e.dtype) + _field_bytes(2, dims)
    if e.shard_id:
        out += _field_varint(3, e.shard_id)
    if e.offset:
        out += _field_varint(4, e.offset)
    if e.size:
        out += _field_varint(5, e.size)
    return out + _field_fixed32(6, e.crc32c)


def parse_header(buf: bytes) -> dict:
    h = {"num_shards": 0, "endianness": 0, "producer": 0}
    for num, _, v in _fields(buf):
        if num == 1:
            h["num_shards"] = v
        elif num == 2:
            h["endianness"] = v
        elif num == 3:
            for n2, _, v2 in _fields(v):
                if n2 == 1:
                    h["producer"] = v2
    return h


def encode_header(num_shards: int = 1) -> bytes:
    return _field_varint(1, num_shards) + _field_bytes(3, _field_varint(1, 1))   # version {producer: 1}


# ---------------------------------------------------------------- snappy (blocks may be compressed)
def snappy_decompress(src: bytes) -> bytes:
    n, pos = _varint(src, 0)
    out = bytearray()
    while pos < len(src):
        tag = src[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:   # literal
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(src[pos:pos + nb], "little")
                pos += nb
            ln += 1
            out += src[pos:pos + ln]
            pos += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | src[pos]
            pos += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(src[pos:pos + 2], "little")
            pos += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(src[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise CheckpointError("corrupt snappy block")
        for _ in range(ln):   # copies may overlap their own output
            out.append(out[-off])
    if len(out) != n:
        raise CheckpointError("corrupt snappy block (length)")
    return bytes(out)


# ---------------------------------------------------------------- SSTable reading
def _read_block(data: bytes, offset: int, size: int, where: str) -> bytes:
    end = offset + size
    if end + BLOCK_TRAILER_LEN > len(data):
        raise CheckpointError(f"{where}: block at {offset} runs past the end of the file")
    contents = data[offset:end]
    ctype = data[end]
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if unmask_crc(stored) != crc32c(data[offset:end + 1]):
        raise CheckpointError(f"{where}: block checksum mismatch at offset {offset}")
    if ctype == 0:
        return contents
    if ctype == 1:
        return snappy_decompress(contents)
    raise CheckpointError(f"{where}: unknown block compression type {ctype}")


def _block_entries(block: bytes, where: str):
    if len(block) < 4:
        raise CheckpointError(f"{where}: block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise CheckpointError(f"{where}: bad restart array")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + vlen > limit:
            raise CheckpointError(f"{where}: corrupt block entry")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + vlen]
        pos += vlen


def read_index(index_path: str | os.PathLike) -> tuple[dict, dict[str, Entry]]:
    """(header, {tensor name: Entry}) from a ``.index`` file."""
    where = str(index_path)
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_LEN:
        raise CheckpointError(f"{where}: too short for an SSTable footer")
    footer = data[-FOOTER_LEN:]
    if struct.unpack_from("<Q", footer, 40)[0] != MAGIC:
        raise CheckpointError(f"{where}: bad magic (not a TF tensor-bundle index)")
    pos = 0
    _, pos = _varint(footer, pos)          # metaindex offset
    _, pos = _varint(footer, pos)          # metaindex size
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)
    header, entries = None, {}
    for _, handle in _block_entries(_read_block(data, idx_off, idx_size, where), where):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block_entries(_read_block(data, off, size, where), where):
            if key == b"":
                header = parse_header(value)
            else:
                name = key.decode("utf-8")
                try:
                    entries[name] = parse_entry(value)
                except CheckpointError as e:
                    raise CheckpointError(f"{where}: tensor {name!r}: {e}") from None
    if header is None:
        raise CheckpointError(f"{where}: no bundle header (empty key)")
    if header["endianness"] != 0:
        raise CheckpointError(f"{where}: big-endian bundles are not supported")
    return header, entries


def _index_path(prefix) -> Path:
    return Path(f"{prefix}.index")


def data_path(prefix, shard: int, num_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def read_checkpoint(prefix: str | os.PathLike, names=None, verify: bool = True) -> dict[str, np.ndarray]:
    """Every tensor (or those in ``names``) of the checkpoint ``prefix`` as numpy arrays, each crc32c-checked.

    A checksum mismatch raises ``CheckpointError`` naming the tensor and the data file.
    """
    header, entries = read_index(_index_path(prefix))
    shards = max(1, header["num_shards"])
    wanted = sorted(entries) if names is None else list(names)
    out: dict[str, np.ndarray] = {}
    files: dict[int, bytes] = {}
    for name in wanted:
        if name not in entries:
            raise CheckpointError(f"{prefix}: no tensor {name!r}")
        e = entries[name]
        if e.sliced:
            raise CheckpointError(f"{prefix}: tensor {name!r} is saved in slices (partitioned); not supported")
        if e.dtype not in DTYPES:
            raise CheckpointError(f"{prefix}: tensor {name!r} has unsupported dtype code {e.dtype}")
        path = data_path(prefix, e.shard_id, shards)
        if e.shard_id not in files:
            if not path.exists():
                raise CheckpointError(f"{path}: data shard missing (needed by tensor {name!r})")
            files[e.shard_id] = path.read_bytes()
        buf = files[e.shard_id]
        raw = buf[e.offset:e.offset + e.size]
        if len(raw) != e.size:
            raise CheckpointError(f"{path}: tensor {name!r} runs past the end of the file")
        if verify and crc32c(raw) != unmask_crc(e.crc32c):
            raise CheckpointError(f"{path}: crc32c mismatch for tensor {name!r} (corrupted data)")
        dt = np.dtype(DTYPES[e.dtype]).newbyteorder("<")
        count = int(np.prod(e.shape)) if e.shape else 1
        if count * dt.itemsize != e.size:
            raise CheckpointError(f"{prefix}: tensor {name!r}: {e.size} bytes for shape {list(e.shape)} of {dt}")
        out[name] = np.frombuffer(raw, dtype=dt).reshape(e.shape).astype(dt.newbyteorder("="))
    return out


def list_variables(prefix: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """{name: shape} without reading the data (``tf.train.list_variables``)."""
    return {k: e.shape for k, e in read_index(_index_path(prefix))[1].items()}


# ---------------------------------------------------------------- writing
class _BlockBuilder:
    def __init__(self, restart_interval: int = 16):
        self.buf, self.restarts, self.count, self.last = bytearray(), [0], 0, b""
        self.interval = restart_interval

    def add(self, key: bytes, value: bytes):
        shared = 0
        if self.count < self.interval:
            n = min(len(key), len(self.last))
            while shared < n and key[shared] == self.last[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.count = 0
        self.buf += _put_varint(shared) + _put_varint(len(key) - shared) + _put_varint(len(value))
        self.buf += key[shared:] + value
        self.last, self.count = key, self.count + 1

    def finish(self) -> bytes:
        return bytes(self.buf) + b"".join(struct.pack("<I", r) for r in self.restarts) + struct.pack(
            "<I", len(self.restarts))

    def size(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def empty(self) -> bool:
        return not self.buf


def _write_block(out: bytearray, contents: bytes) -> bytes:
    """Append a block with an uncompressed trailer; return its encoded handle."""
    off = len(out)
    out += contents + b"\x00" + struct.pack("<I", mask_crc(crc32c(contents + b"\x00")))
    return _put_varint(off) + _put_varint(len(contents))


def write_checkpoint(prefix: str | os.PathLike, tensors: dict[str, np.ndarray], block_size: int = 4096) -> None:
    """Write ``tensors`` as a one-shard V2 checkpoint ``prefix`` (``.index`` + ``.data-00000-of-00001``).

    Files are written to temporaries and renamed, so a reader never sees half a checkpoint.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(tensors)
    if "" in tensors:
        raise ValueError("the empty tensor name is reserved for the bundle header")
    data = bytearray()
    entries = {}
    for name in names:
        arr = np.asarray(tensors[name])
        if arr.dtype not in DTYPE_CODES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        entries[name] = Entry(DTYPE_CODES[arr.dtype], tuple(int(d) for d in arr.shape), 0, len(data), len(raw),
                              mask_crc(crc32c(raw)))
        data += raw
    table = bytearray()
    index = _BlockBuilder(restart_interval=1)
    block = _BlockBuilder()
    last_key = None
    for key, value in [(b"", encode_header(1))] + [(n.encode(), encode_entry(entries[n])) for n in names]:
        block.add(key, value)
        last_key = key
        if block.size() >= block_size:
            index.add(last_key, _write_block(table, block.finish()))
            block = _BlockBuilder()
    if not block.empty():
        index.add(last_key, _write_block(table, block.finish()))
    meta_handle = _write_block(table, _BlockBuilder().finish())
    index_handle = _write_block(table, index.finish())
    footer = meta_handle + index_handle
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", MAGIC)
    table += footer
    for path, payload in ((data_path(prefix, 0, 1), bytes(data)), (_index_path(prefix), bytes(table))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
