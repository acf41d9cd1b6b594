"""The published multi-hash function that maps raw entity ids to embedding-table rows.

Hashing runs on the host in NumPy (int64 arithmetic needs no JAX x64 mode) before a batch
is handed to the model. Per hash function ``j``::

    h_j(id) = ((id * scale_j + bias_j) mod modulus) mod (vocab_size - 1) + 1,   h_j(0) = 0

computed in int64 with wrap-around on overflow and a floor (non-negative) modulo, exactly
as X's published ``run_pipeline.py`` does. Ids are read as unsigned 64-bit and
reinterpreted as int64, as the published code does with its ``uint64`` arrays.

Examples:
    >>> import numpy as np
    >>> from phoenix_models.config import EntityHash
    >>> spec = EntityHash(vocab_size=10, scales=(3, 5), biases=(1, 2), modulus=97)
    >>> hash_ids(np.array([0, 7]), spec).tolist()
    [[0, 0], [5, 2]]
"""

from __future__ import annotations

import numpy as np

from phoenix_models.config import EntityHash


def as_int64_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    """Ids as int64, reinterpreting values >= 2**63 the way a uint64 -> int64 cast does."""
    array = np.asarray(ids)
    if array.dtype == object or array.dtype.kind not in "iu":
        array = np.asarray(ids, dtype=np.uint64)
    return array.astype(np.int64)


def hash_ids(ids: np.ndarray | list[int], spec: EntityHash) -> np.ndarray:
    """Hash ids of any shape ``[...]`` to int32 rows ``[..., num_hashes]``; id 0 -> 0."""
    ids64 = as_int64_ids(ids)
    scales = np.asarray(spec.scales, dtype=np.int64)
    biases = np.asarray(spec.biases, dtype=np.int64)
    with np.errstate(over="ignore"):
        raw = ids64[..., None] * scales + biases  # [..., H] int64, wraps on overflow
    raw = np.mod(raw, np.int64(spec.modulus))  # floor modulo: in [0, modulus)
    rows = np.mod(raw, np.int64(spec.vocab_size - 1)) + 1
    rows[ids64 == 0] = 0
    return rows.astype(np.int32)
