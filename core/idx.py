"""The IDX file format of the MNIST distribution, parsed with every header field checked.

An IDX file is a big-endian header, `0x00 0x00 <type> <ndim>` then one uint32 per dimension,
followed by exactly prod(dims) items. MNIST uses type 0x08 (unsigned byte) only, so that is the
only type accepted: anything else is not an MNIST file.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from core.errors import DataError

UBYTE = 0x08


def parse_idx(content: bytes, name: str, ndim: int, dims: tuple[int | None, ...] = ()) -> np.ndarray:
    """Parse IDX bytes into a uint8 array, refusing anything malformed with a DataError naming `name`.

    `dims` pins sizes that must match (None leaves one free, e.g. the number of images).
    """
    if len(content) < 4:
        raise DataError(f"{name}: {len(content)} bytes is too short for an IDX header")
    zero, dtype, got_ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or dtype != UBYTE or got_ndim != ndim:
        raise DataError(
            f"{name}: bad IDX magic number 0x{content[:4].hex()} "
            f"(expected 0x0000{UBYTE:02x}{ndim:02x}); is this an MNIST file?"
        )
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{name}: truncated IDX header ({len(content)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    for i, (want, got) in enumerate(zip(dims, shape)):
        if want is not None and want != got:
            raise DataError(f"{name}: dimension {i} is {got}, expected {want}")
    expected = header + math.prod(shape)  # Python ints: a forged header cannot overflow this
    if len(content) < expected:
        raise DataError(f"{name}: truncated: {len(content)} bytes, header promises {expected}")
    if len(content) > expected:
        raise DataError(f"{name}: {len(content) - expected} trailing bytes after the {expected} the header promises")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array: the inverse of parse_idx."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def parse_images(content: bytes, name: str) -> np.ndarray:
    """IDX images [n, 28, 28] -> uint8 [n, 784]."""
    images = parse_idx(content, name, ndim=3, dims=(None, 28, 28))
    return images.reshape(len(images), 28 * 28)


def parse_labels(content: bytes, name: str) -> np.ndarray:
    labels = parse_idx(content, name, ndim=1)
    if labels.size and labels.max() > 9:
        raise DataError(f"{name}: label value {int(labels.max())} is not a digit 0-9")
    return labels
