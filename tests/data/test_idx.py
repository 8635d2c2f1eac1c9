"""IDX reading and writing: round trips, gzip detection, and every kind of broken file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfnn.data import DataError, read_idx, write_idx
from tfnn.data.idx import encode_idx

DTYPES = ["u1", "i1", "i2", "i4", "f4", "f8"]


@settings(max_examples=30, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    ),
    compress=st.booleans(),
)
def test_round_trip(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / "a-idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "raw-named.gz", array, compress=False)
    write_idx(tmp_path / "gz-named-raw", array, compress=True)
    assert (tmp_path / "gz-named-raw").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-named.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "gz-named-raw"), array)


def test_result_is_writable_and_native(tmp_path):
    write_idx(tmp_path / "a", np.arange(3, dtype=">i4"))
    back = read_idx(tmp_path / "a")
    back[0] = 7
    assert back.dtype.isnative


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_unsupported_dtype_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"convert to one of"):
        write_idx(tmp_path / "a", np.zeros(2, dtype=np.complex64))


BROKEN = {
    "empty": b"",
    "short magic": b"\x00\x00",
    "wrong magic": b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc",
    "unknown dtype": b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc",
    "truncated header": b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"),
    "truncated data": b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc",
    "extra data": b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc",
}


@pytest.mark.parametrize("content", BROKEN.values(), ids=BROKEN.keys())
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_broken_file_is_a_data_error_naming_it(tmp_path, content, compress):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError, match=r"broken-idx1-ubyte.*download it again") as info:
        read_idx(path)
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_is_a_data_error(tmp_path):
    data = gzip.compress(encode_idx(np.arange(1000, dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.gz.*not a valid gzip stream"):
        read_idx(path)


def test_corrupt_gzip_is_a_data_error(tmp_path):
    data = bytearray(gzip.compress(encode_idx(np.arange(1000, dtype=np.uint8))))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flipped.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"flipped.gz"):
        read_idx(path)
