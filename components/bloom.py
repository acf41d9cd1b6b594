"""A Bloom filter over integer ids, sized for a target false-positive rate.

The client's impression Bloom filters let the previously-seen filter drop posts the viewer
already saw without shipping every id. A Bloom filter never misses an id it holds; it wrongly
reports an id it does not hold with probability about ``false_positive_rate`` at capacity.

Hashing is vectorised (splitmix64 + double hashing, ``h1 + i * h2``), so checking a whole
candidate list is a few numpy operations rather than a Python loop per id.

Examples:
    >>> bloom = BloomFilter.for_capacity(1_000, false_positive_rate=0.01)
    >>> bloom.add_many([1, 2, 3])
    >>> 2 in bloom, 4 in bloom
    (True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@dataclass(eq=True, slots=True)
class BloomFilter:
    """``num_bits`` bits and ``num_hashes`` hash functions; ``bits`` is the packed bit array."""

    num_bits: int
    num_hashes: int
    bits: bytearray

    @classmethod
    def for_capacity(cls, capacity: int, false_positive_rate: float = 0.01) -> BloomFilter:
        """An empty filter whose false-positive rate stays at most ``false_positive_rate``
        while it holds up to ``capacity`` ids."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if not 0.0 < false_positive_rate < 1.0:
            raise ValueError(
                f"false_positive_rate must lie strictly between 0 and 1, got {false_positive_rate}"
            )
        num_bits = max(8, math.ceil(-capacity * math.log(false_positive_rate) / math.log(2) ** 2))
        num_hashes = max(1, round(num_bits / capacity * math.log(2)))
        return cls(num_bits, num_hashes, bytearray((num_bits + 7) // 8))

    @classmethod
    def of(cls, ids: Iterable[int], false_positive_rate: float = 0.01) -> BloomFilter:
        """A filter holding ``ids``, sized for exactly that many."""
        ids = np.fromiter(ids, dtype=np.int64)
        bloom = cls.for_capacity(max(1, ids.size), false_positive_rate)
        bloom.add_many(ids)
        return bloom

    def _positions(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        keys = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=np.int64)
        h1 = _splitmix64(keys.astype(np.uint64))
        h2 = _splitmix64(h1) | np.uint64(1)
        steps = np.arange(self.num_hashes, dtype=np.uint64)
        return ((h1[:, None] + steps[None, :] * h2[:, None]) % np.uint64(self.num_bits)).astype(
            np.int64
        )  # [N, num_hashes]

    def add_many(self, ids: Iterable[int] | np.ndarray) -> None:
        positions = self._positions(ids).ravel()
        bits = np.frombuffer(self.bits, dtype=np.uint8)
        np.bitwise_or.at(bits, positions >> 3, (1 << (positions & 7)).astype(np.uint8))

    def contains_many(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """A boolean array: may each id be in the filter? (``False`` is certain.)"""
        positions = self._positions(ids)
        if positions.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        bits = np.frombuffer(self.bits, dtype=np.uint8)
        hit = (bits[positions >> 3] >> (positions & 7).astype(np.uint8)) & 1
        return hit.all(axis=1)

    def __contains__(self, post_id: int) -> bool:
        return bool(self.contains_many([post_id])[0])

    def to_bytes(self) -> bytes:
        """``num_bits`` and ``num_hashes`` as two little-endian uint32, then the bits."""
        header = np.array([self.num_bits, self.num_hashes], dtype="<u4").tobytes()
        return header + bytes(self.bits)

    @classmethod
    def from_bytes(cls, data: bytes) -> BloomFilter:
        if len(data) < 8:
            raise ValueError(
                f"a serialised BloomFilter has an 8-byte header, got {len(data)} bytes"
            )
        num_bits, num_hashes = (int(v) for v in np.frombuffer(data[:8], dtype="<u4"))
        body = bytearray(data[8:])
        if len(body) != (num_bits + 7) // 8 or num_hashes < 1:
            raise ValueError(
                f"corrupt BloomFilter: header says {num_bits} bits / {num_hashes} hashes, "
                f"body has {len(body)} bytes"
            )
        return cls(num_bits, num_hashes, body)
