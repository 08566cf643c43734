import struct

import numpy as np
import pytest

from core.errors import DataError
from core.idx import parse_images, parse_labels, write_idx


def test_images_round_trip_through_idx():
    images = np.arange(3 * 784, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28)
    parsed = parse_images(write_idx(images), "x")
    assert parsed.shape == (3, 784)
    np.testing.assert_array_equal(parsed, images.reshape(3, 784))


def test_bad_magic_number_is_refused():
    content = bytearray(write_idx(np.zeros((2, 28, 28), np.uint8)))
    content[2] = 0x0D  # float type instead of unsigned byte
    with pytest.raises(DataError, match="bad IDX magic"):
        parse_images(bytes(content), "x")


def test_labels_file_given_as_images_is_refused():
    with pytest.raises(DataError, match="magic"):
        parse_images(write_idx(np.zeros(5, np.uint8)), "x")


def test_truncated_idx_file_is_refused():
    content = write_idx(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="truncated"):
        parse_images(content[:-1], "x")
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_images(content[:10], "x")
    with pytest.raises(DataError, match="too short"):
        parse_images(b"\x00\x00", "x")


def test_trailing_bytes_are_refused():
    with pytest.raises(DataError, match="trailing"):
        parse_labels(write_idx(np.zeros(5, np.uint8)) + b"\x00", "x")


def test_wrong_image_dimensions_are_refused():
    content = struct.pack(">HBBIII", 0, 8, 3, 1, 27, 29) + bytes(27 * 29)
    with pytest.raises(DataError, match="dimension 1 is 27, expected 28"):
        parse_images(content, "x")


def test_label_above_nine_is_refused():
    with pytest.raises(DataError, match="label value 10"):
        parse_labels(write_idx(np.array([1, 10], np.uint8)), "x")


# ---------------------------------------------------------------- property-based: only clean refusals
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALID = write_idx(np.arange(2 * 784, dtype=np.uint64).astype(np.uint8).reshape(2, 28, 28) % 10)


def _parse_both(content: bytes) -> None:
    for parse in (parse_images, parse_labels):
        try:
            result = parse(content, "fuzz")
        except DataError as exc:
            assert str(exc).startswith("fuzz: ") and "\n" not in str(exc)
        else:
            assert result.dtype == np.uint8


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_are_parsed_or_refused_cleanly(content):
    _parse_both(content)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, len(VALID)),
    st.binary(max_size=8),
)
def test_mutated_idx_files_are_parsed_or_refused_cleanly(edits, cut, tail):
    content = bytearray(VALID)
    for position, value in edits:
        content[position] = value
    _parse_both(bytes(content[:cut]) + tail)
