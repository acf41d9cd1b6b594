"""Post content as model inputs: a text encoder, semantic IDs, and per-post feature tables.

The pieces, as in X's newest release (done here on CPU, fitted on the corpus):

* A text encoder (:mod:`phoenix_models.encoders`): texts -> unit float vectors, behind one
  interface (:class:`~phoenix_models.encoders.TextEncoder`, ``encode(texts) -> [N, d]
  float32``): the TF-IDF + truncated-SVD :class:`TfidfSvdEncoder` fitted on the corpus (the
  default), or a pretrained sentence-transformers model (``encoder="minilm"``, the ``text``
  extra).
* :class:`ResidualQuantizer`: residual k-means: level 0 clusters the embeddings, each next
  level clusters what the previous levels left unexplained. A post's **semantic ID** is its
  code at every level (``[L]`` ints); similar posts share leading codes, so a post never
  seen in training has a trained representation as soon as it has text.
  :meth:`ResidualQuantizer.report` gives the codebook quality: reconstruction cosine,
  per-level usage and perplexity, and collisions (posts sharing a full SID).
* :class:`ContentModel`: encoder + quantizer, saved beside a checkpoint's weights as
  ``content.npz`` (plain arrays and a JSON header: no pickle), and
  :meth:`ContentModel.features` -> :class:`PostFeatures` (SIDs and media buckets by post id).

Model inputs use codes shifted by one (``code + 1``, 0 = unknown), so an all-zero array
means "no content" and padding needs no special case.

Examples:
    >>> texts = ["goal striker derby", "striker goal keeper", "sourdough oven recipe",
    ...          "oven pasta recipe"] * 4
    >>> model = ContentModel.fit(texts, dim=2, levels=2, codebook_size=2, seed=0)
    >>> model.sids(["goal keeper derby", "pasta sourdough"]).shape
    (2, 2)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phoenix_models.atomic import atomic_savez
from phoenix_models.batch import media_bucket
from phoenix_models.encoders import (
    TextEncoder,
    TfidfSvdEncoder,
    check_texts,
    encoder_from_file,
    l2_normalize,
    make_encoder,
)
from phoenix_models.errors import InputError, MissingPackageError

__all__ = [
    "CONTENT_FILE",
    "ContentCache",
    "ContentModel",
    "PostFeatures",
    "ResidualQuantizer",
    "TextEncoder",
    "TfidfSvdEncoder",
]

CONTENT_FILE = "content.npz"
CONTENT_FORMAT = "feedmixer.content"
_RESERVED = frozenset({"header", "codebooks"})


@dataclass(frozen=True, eq=False)
class ResidualQuantizer:
    """Residual k-means codebooks ``[L, K, d]``."""

    codebooks: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, levels: int = 3, codebook_size: int = 64, seed: int = 0
    ) -> ResidualQuantizer:
        from sklearn.cluster import KMeans

        x = np.asarray(x, np.float32)
        if x.shape[0] < codebook_size:
            raise InputError(f"{x.shape[0]} vectors cannot fit {codebook_size} codes per level")
        residual = x.copy()
        books = []
        for level in range(levels):
            km = KMeans(codebook_size, n_init=1, max_iter=50, random_state=seed + level)
            km.fit(residual)
            book = km.cluster_centers_.astype(np.float32)
            books.append(book)
            residual -= book[_nearest(residual, book)]
        return cls(np.stack(books))

    @property
    def levels(self) -> int:
        return int(self.codebooks.shape[0])

    @property
    def codebook_size(self) -> int:
        return int(self.codebooks.shape[1])

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``[N, L]`` int32 codes (0..K-1) of each vector, greedily level by level."""
        residual = np.asarray(x, np.float32).copy()
        codes = np.empty((residual.shape[0], self.levels), np.int32)
        for level, book in enumerate(self.codebooks):
            codes[:, level] = _nearest(residual, book)
            residual -= book[codes[:, level]]
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return sum(self.codebooks[level][codes[:, level]] for level in range(self.levels))

    def report(self, x: np.ndarray) -> dict[str, Any]:
        """Codebook quality on ``x``: reconstruction cosine (mean, after each level), per
        level the share of codes used and the perplexity of code usage, and collisions
        (share of vectors whose full SID another vector also has; distinct SIDs)."""
        x = np.asarray(x, np.float32)
        codes = self.encode(x)
        nonzero = np.linalg.norm(x, axis=1) > 0
        cosines, partial = [], np.zeros_like(x)
        for level in range(self.levels):
            partial = partial + self.codebooks[level][codes[:, level]]
            cos = np.sum(l2_normalize(partial) * l2_normalize(x), axis=1)
            cosines.append(round(float(cos[nonzero].mean()), 4))
        usage, perplexity = [], []
        for level in range(self.levels):
            counts = np.bincount(codes[:, level], minlength=self.codebook_size)
            p = counts[counts > 0] / counts.sum()
            usage.append(round(float((counts > 0).mean()), 4))
            perplexity.append(round(float(math.exp(-(p * np.log(p)).sum())), 1))
        _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
        return {
            "vectors": int(x.shape[0]),
            "levels": self.levels,
            "codebook_size": self.codebook_size,
            "reconstruction_cosine": cosines,
            "usage": usage,
            "perplexity": perplexity,
            "distinct_sids": int(counts.size),
            "collision_share": round(float((counts[inverse.reshape(-1)] > 1).mean()), 4),
        }


def _nearest(x: np.ndarray, book: np.ndarray, block: int = 16_384) -> np.ndarray:
    out = np.empty(x.shape[0], np.int32)
    half_norms = 0.5 * np.sum(book * book, axis=1)
    for start in range(0, x.shape[0], block):
        part = x[start : start + block]
        out[start : start + block] = np.argmax(part @ book.T - half_norms, axis=1)
    return out


@dataclass(frozen=True, eq=False)
class PostFeatures:
    """Model inputs by post id: shifted SID codes ``[P, L]``, media buckets ``[P]`` and,
    when the data set has them, safety-label buckets ``[P]``
    (:func:`phoenix_models.batch.safety_label_bucket`)."""

    post_id: np.ndarray  # [P] int64, ascending
    sids: np.ndarray  # [P, L] int32, code + 1
    media: np.ndarray  # [P] int32
    safety_label: np.ndarray | None = None  # [P] int32; None: labels not known

    @classmethod
    def build(
        cls,
        post_id: np.ndarray,
        sids: np.ndarray,
        media: np.ndarray,
        safety_label: np.ndarray | None = None,
    ) -> PostFeatures:
        order = np.argsort(post_id, kind="stable")
        return cls(
            np.asarray(post_id, np.int64)[order],
            np.asarray(sids, np.int32)[order],
            np.asarray(media, np.int32)[order],
            None if safety_label is None else np.asarray(safety_label, np.int32)[order],
        )

    def _find(self, post_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        post_ids = np.asarray(post_ids, np.int64)
        at = np.clip(np.searchsorted(self.post_id, post_ids), 0, max(self.post_id.size - 1, 0))
        known = (self.post_id[at] == post_ids) if self.post_id.size else post_ids < 0
        return at, known

    def lookup(self, post_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sids [..., L], media [...])`` of each id; unknown ids (and 0) give zeros."""
        at, known = self._find(post_ids)
        sids = np.where(known[..., None], self.sids[at], 0).astype(np.int32)
        return sids, np.where(known, self.media[at], 0).astype(np.int32)

    def safety_labels(self, post_ids: np.ndarray) -> np.ndarray:
        """Safety-label bucket of each id; 0 ("unknown") for unknown ids, and for every
        post when the data set has no labels."""
        at, known = self._find(post_ids)
        if self.safety_label is None:
            return np.zeros(known.shape, np.int32)
        return np.where(known, self.safety_label[at], 0).astype(np.int32)


@dataclass(frozen=True, eq=False)
class ContentModel:
    """A text encoder and the residual quantizer of its embeddings."""

    encoder: TextEncoder
    quantizer: ResidualQuantizer

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        *,
        encoder: str | TextEncoder = "tfidf",
        dim: int = 32,
        levels: int = 3,
        codebook_size: int = 64,
        seed: int = 0,
    ) -> ContentModel:
        """Encoder (``"tfidf"``: fitted here with ``dim``; ``"minilm"``: pretrained; or an
        encoder object) plus codebooks fitted on the embeddings of ``texts``."""
        texts = check_texts(texts)
        if not texts:
            raise InputError("cannot fit a content model on no texts")
        encoder = make_encoder(encoder, texts, dim=dim, seed=seed)
        embeddings = encoder.encode(texts)
        return cls(encoder, ResidualQuantizer.fit(embeddings, levels, codebook_size, seed))

    def sids(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, L]`` raw semantic-ID codes (0..K-1) of each text."""
        return self.quantizer.encode(self.encoder.encode(texts))

    def report(self, texts: Sequence[str]) -> dict[str, Any]:
        return self.quantizer.report(self.encoder.encode(texts))

    def save(self, path: str | Path) -> None:
        """``content.npz``: a JSON header naming the encoder kind with its settings, the
        encoder's arrays (none for a pretrained one) and the codebooks; no pickle."""
        settings, arrays = self.encoder.to_file()
        if _RESERVED & arrays.keys():
            raise InputError(f"encoder arrays may not be named {sorted(_RESERVED)}")
        header = {
            "format": CONTENT_FORMAT,
            "version": 1,
            **settings,
            "encoder": self.encoder.kind,
        }
        atomic_savez(
            Path(path),
            {
                "header": np.array(json.dumps(header)),
                **arrays,
                "codebooks": self.quantizer.codebooks,
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> ContentModel:
        """Reads :meth:`save`'s file. An encoder whose package is missing raises
        :class:`~phoenix_models.errors.MissingPackageError` naming it."""
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("format") != CONTENT_FORMAT or header.get("version") != 1:
                    raise InputError(f"{path}: not a feedmixer content model ({header})")
                arrays = {k: data[k] for k in data.files if k not in _RESERVED}
                encoder = encoder_from_file(header.get("encoder", "tfidf_svd"), header, arrays)
                quantizer = ResidualQuantizer(data["codebooks"].astype(np.float32))
        except MissingPackageError as exc:
            raise MissingPackageError(f"{path}: {exc}") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: content model cannot be read ({exc})") from exc
        if encoder.dim != quantizer.codebooks.shape[2]:
            raise InputError(
                f"{path}: the encoder gives {encoder.dim}-d vectors, the codebooks are "
                f"{quantizer.codebooks.shape[2]}-d"
            )
        return cls(encoder, quantizer)


class ContentCache:
    """Model inputs of posts by id, computed once per post: a request of 1,500 candidates
    encodes only the posts it has not seen before.

    ``content`` is the model's :class:`ContentModel` (None for a model without SID inputs:
    media buckets only). Entries are kept up to ``max_posts``, then the cache starts over
    (posts are immutable, so an entry never goes stale; only memory is bounded).
    """

    def __init__(self, content: ContentModel | None, levels: int, max_posts: int = 1_000_000):
        self.content = content
        self.levels = levels
        self.max_posts = max_posts
        self._rows: dict[int, tuple[np.ndarray, int]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def features(
        self,
        post_ids: Sequence[int],
        texts: Sequence[str | None],
        has_image: Sequence[bool],
        video_duration_s: Sequence[float | None],
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(sids [N, L] shifted codes, media [N])`` of these posts (text None = "")."""
        rows = self._rows
        missing = [i for i, post_id in enumerate(post_ids) if post_id not in rows]
        if missing:
            if len(rows) + len(missing) > self.max_posts:
                rows.clear()
            durations = [video_duration_s[i] or 0.0 for i in missing]
            media = media_bucket([bool(has_image[i]) for i in missing], durations)
            if self.content is not None:
                sids = self.content.sids([texts[i] or "" for i in missing]) + 1
            else:
                sids = np.zeros((len(missing), self.levels), np.int32)  # unknown codes
            for j, i in enumerate(missing):
                rows[int(post_ids[i])] = (sids[j], int(media[j]))
        sids = np.zeros((len(post_ids), self.levels), np.int32)
        media = np.zeros(len(post_ids), np.int32)
        for i, post_id in enumerate(post_ids):
            sids[i], media[i] = rows[int(post_id)]
        return sids, media
