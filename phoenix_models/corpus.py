"""A precomputed corpus of candidate-tower embeddings, and top-K search over it.

:func:`build_corpus` runs the candidate tower over every post in fixed-size batches. A
:class:`Corpus` saves as an .npz with the keys of X's published corpus file
(``candidate_representations``, ``post_ids``, ``author_ids``), so X's corpus loads too.

:class:`CorpusIndex` answers top-K by dot product, either exactly (one matrix product and a
partial sort) or approximately with faiss (IVF or HNSW, chosen by corpus size, with the
search breadth tuned to a target recall against exact, with a margin for new queries).
Ids to exclude (already seen, already served) are never returned.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(100, 8)).astype(np.float32)
    >>> corpus = Corpus(emb, post_ids=np.arange(100, 200), author_ids=np.zeros(100, int))
    >>> index = CorpusIndex.build(corpus, method="exact")
    >>> ids, scores = index.search(emb[3], k=2, exclude_ids=[103])
    >>> 103 in ids.tolist(), ids.shape
    (False, (2,))
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from phoenix_models.atomic import atomic_savez
from phoenix_models.errors import InputError

if TYPE_CHECKING:
    from phoenix_models.retrieval import Retriever

SearchMethod = Literal["auto", "exact", "ivf", "hnsw"]
#: Below this size "auto" searches exactly: a flat scan is already sub-millisecond.
EXACT_MAX_ITEMS = 20_000
#: :meth:`CorpusIndex.tune` meets the target with this many standard errors of the mean
#: recall to spare: about 1.645 x sqrt(2), so that as many new queries as were used to tune
#: reach the target too (one-sided 95 % on the difference of the two means). Without it the
#: breadth just reaching 0.95 on 100 tuning queries (1M content-tower embeddings) gave
#: 0.942 on 100 others, and with 1.645 standard errors 0.9497.
TUNE_MARGIN_Z = 2.33


@dataclass(frozen=True)
class Corpus:
    """Candidate embeddings [N, D] (unit rows) with their post and author ids [N]."""

    embeddings: np.ndarray
    post_ids: np.ndarray
    author_ids: np.ndarray

    def __post_init__(self) -> None:
        n = self.embeddings.shape[0] if self.embeddings.ndim == 2 else -1
        if n < 0 or self.post_ids.shape != (n,) or self.author_ids.shape != (n,):
            raise InputError(
                f"corpus arrays disagree: embeddings {self.embeddings.shape}, post_ids "
                f"{self.post_ids.shape}, author_ids {self.author_ids.shape}; "
                "expected [N, D], [N], [N]"
            )

    def __len__(self) -> int:
        return int(self.post_ids.shape[0])

    def save(self, path: str | Path) -> None:
        """Write the corpus as one ``.npz``, atomically: a reader (or a run killed
        mid-save) sees the old file or the new one, never half of one."""
        atomic_savez(
            Path(path),
            {
                "candidate_representations": self.embeddings.astype(np.float32),
                "post_ids": self.post_ids,
                "author_ids": self.author_ids,
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> Corpus:
        """Load ours or X's corpus .npz; malformed files raise InputError naming the problem."""
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [
                    k
                    for k in ("candidate_representations", "post_ids", "author_ids")
                    if k not in data.files
                ]
                if missing:
                    raise InputError(
                        f"{path}: corpus is missing array {missing[0]!r} (has: "
                        f"{', '.join(data.files) or 'nothing'})"
                    )
                embeddings = data["candidate_representations"]
                post_ids, author_ids = data["post_ids"], data["author_ids"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{path}: not a readable corpus .npz ({exc})") from exc
        if embeddings.dtype.kind != "f" or post_ids.dtype.kind not in "iu":
            raise InputError(
                f"{path}: expected float embeddings and integer ids, found "
                f"{embeddings.dtype} and {post_ids.dtype}"
            )
        try:
            return cls(embeddings.astype(np.float32), post_ids, author_ids)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from exc


def build_corpus(
    retriever: Retriever,
    post_ids: np.ndarray,
    author_ids: np.ndarray,
    *,
    sids: np.ndarray | None = None,
    media: np.ndarray | None = None,
    batch_size: int = 8192,
    progress: bool = True,
) -> Corpus:
    """Embed every post with the candidate tower, ``batch_size`` posts per step
    (``sids`` ``[N, L]`` shifted codes and ``media`` ``[N]`` for a content-aware tower)."""
    from rich.progress import Progress

    post_ids, author_ids = np.asarray(post_ids), np.asarray(author_ids)
    if post_ids.shape != author_ids.shape or post_ids.ndim != 1:
        raise InputError(
            f"post_ids {post_ids.shape} and author_ids {author_ids.shape} must be equal 1-D"
        )
    out = np.empty((len(post_ids), retriever.config.emb_size), dtype=np.float32)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("embedding posts", total=len(post_ids))
        for start in range(0, len(post_ids), batch_size):
            stop = start + batch_size
            out[start:stop] = retriever.candidate_embeddings(
                post_ids[start:stop],
                author_ids[start:stop],
                None if sids is None else sids[start:stop],
                None if media is None else media[start:stop],
            )
            bar.update(task, advance=len(out[start:stop]))
    return Corpus(out, post_ids, author_ids)


@dataclass
class CorpusIndex:
    """Top-K by dot product over a corpus: ``exact``, or faiss ``ivf`` / ``hnsw``.

    Build with :meth:`build`; ``breadth`` is faiss ``nprobe`` (IVF) or ``efSearch`` (HNSW).
    """

    corpus: Corpus
    method: Literal["exact", "ivf", "hnsw"]
    index: Any = None
    breadth: int = 0
    _order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Sorted ids let exclusion map ids -> rows in O(m log N) instead of O(N) per query.
        self._order = np.argsort(self.corpus.post_ids, kind="stable")

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        method: SearchMethod = "auto",
        *,
        k: int = 1000,
        target_recall: float = 0.95,
        tune_queries: np.ndarray | None = None,
        seed: int = 0,
    ) -> CorpusIndex:
        """Build an index; ANN breadth is tuned so recall@k vs exact reaches the target.

        "auto" picks exact below :data:`EXACT_MAX_ITEMS` items and IVF above: with the large
        k of candidate retrieval IVF scans contiguous lists, where HNSW needs an efSearch
        of at least k. ``tune_queries`` should look like real queries (user embeddings); by
        default corpus rows are used.
        """
        n = len(corpus)
        if method == "auto":
            method = "exact" if n <= EXACT_MAX_ITEMS else "ivf"
        if method == "exact":
            return cls(corpus, "exact")
        index = _build_faiss(corpus.embeddings, method, seed)
        built = cls(corpus, method, index)
        if tune_queries is None:
            rng = np.random.default_rng(seed)
            tune_queries = corpus.embeddings[rng.choice(n, size=min(64, n), replace=False)]
        built.tune(tune_queries, k=min(k, n), target_recall=target_recall)
        return built

    def tune(self, queries: np.ndarray, *, k: int, target_recall: float) -> float:
        """Set the smallest breadth whose recall@k on ``queries`` meets the target with a
        margin: the mean recall less :data:`TUNE_MARGIN_Z` standard errors (over the
        queries) must reach it, so that new queries reach it too.

        Doubles until the target is met, then bisects between the last two sizes (the
        cost of a search grows about linearly with the breadth). Returns the mean recall.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        truth = CorpusIndex(self.corpus, "exact").search(queries, k)[0]
        limit = self.index.nlist if self.method == "ivf" else max(8 * k, 64)

        def recall_at(breadth: int) -> tuple[bool, float]:
            self.set_breadth(breadth)
            recalls = _recalls(self.search(queries, k)[0], truth)
            spread = recalls.std(ddof=1) / math.sqrt(len(recalls)) if len(recalls) > 1 else 0.0
            mean = float(recalls.mean())
            return mean - TUNE_MARGIN_Z * spread >= target_recall, mean

        low, high = (0, 1) if self.method == "ivf" else (k, k)  # HNSW searches >= k anyway
        while not (got := recall_at(high))[0] and high < limit:
            low, high = high, min(high * 2, limit)
        best = (high, got[1])
        while high - low > max(1, high // 16):  # bisect to ~6 % of the breadth
            middle = (low + high) // 2
            if (got := recall_at(middle))[0]:
                high, best = middle, (middle, got[1])
            else:
                low = middle
        self.set_breadth(best[0])
        return best[1]

    def set_breadth(self, breadth: int) -> None:
        self.breadth = breadth
        if self.method == "ivf":
            self.index.nprobe = breadth
        elif self.method == "hnsw":
            self.index.hnsw.efSearch = breadth

    def search(
        self, query: np.ndarray, k: int, *, exclude_ids: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` post ids and scores for one query [D] -> [k], or queries [Q, D] -> [Q, k].

        Fewer than ``k`` are returned when the corpus (minus exclusions) is smaller; an ANN
        row may also come back shorter, padded with id -1 and score -inf.
        """
        queries = np.atleast_2d(np.asarray(query, dtype=np.float32))
        excluded = self._excluded_rows(exclude_ids)
        k = min(k, len(self.corpus) - len(excluded))
        if self.method == "exact":
            rows, scores = self._exact(queries, k, excluded)
        else:
            rows, scores = self._ann(queries, k, excluded)
        ids = np.where(rows >= 0, self.corpus.post_ids[np.maximum(rows, 0)], -1)
        if np.ndim(query) == 1:
            return ids[0], scores[0]
        return ids, scores

    def author_ids_of(self, post_ids: np.ndarray) -> np.ndarray:
        """Author id of each given post id (ids must be in the corpus)."""
        return self.corpus.author_ids[self._rows_of(np.asarray(post_ids))]

    def _rows_of(self, post_ids: np.ndarray) -> np.ndarray:
        sorted_ids = self.corpus.post_ids[self._order]
        pos = np.searchsorted(sorted_ids, post_ids.astype(sorted_ids.dtype))
        return self._order[np.clip(pos, 0, len(sorted_ids) - 1)]

    def _excluded_rows(self, exclude_ids: Iterable[int] | None) -> np.ndarray:
        if exclude_ids is None:
            return np.empty(0, dtype=np.int64)
        wanted = np.asarray(list(exclude_ids), dtype=self.corpus.post_ids.dtype)
        rows = self._rows_of(wanted)
        return np.unique(rows[self.corpus.post_ids[rows] == wanted])

    def _exact(
        self, queries: np.ndarray, k: int, excluded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self.corpus.embeddings.T  # [Q, N]
        scores[:, excluded] = -np.inf
        top = (
            np.argpartition(-scores, k - 1, axis=1)[:, :k]
            if k > 0
            else np.empty((len(queries), 0), int)
        )
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)

    def _ann(
        self, queries: np.ndarray, k: int, excluded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        fetch = k + len(excluded)
        scores, rows = self.index.search(queries, fetch)
        if len(excluded):
            drop = np.isin(rows, excluded)
            rows, scores = np.where(drop, -1, rows), np.where(drop, -np.inf, scores)
            order = np.argsort(rows < 0, axis=1, kind="stable")  # kept rows first, in order
            rows, scores = (np.take_along_axis(a, order, axis=1) for a in (rows, scores))
        scores = np.where(rows < 0, -np.inf, scores)
        return rows[:, :k], scores[:, :k]


def recall_at_k(index: CorpusIndex, exact: CorpusIndex, queries: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-k that ``index`` returns, over ``queries``."""
    return _recall(index.search(queries, k)[0], exact.search(queries, k)[0])


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(_recalls(got, truth)))


def _recalls(got: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Recall of each query's answer ``got`` [Q, k] against ``truth`` [Q, k]."""
    return np.array(
        [len(set(g.tolist()) & set(t.tolist())) / len(t) for g, t in zip(got, truth, strict=True)]
    )


def _build_faiss(embeddings: np.ndarray, method: str, seed: int) -> Any:
    import faiss

    n, d = embeddings.shape
    data = np.ascontiguousarray(embeddings, dtype=np.float32)
    if method == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(data)
        return index
    # IVF: about 4 sqrt(N) lists (a power of two): at k ~ 1,000 finer lists reach a given
    # recall with fewer scanned vectors (measured on 1M trained-tower embeddings: 4,096
    # lists beat 1,024). k-means on 40 points per list, 10 iterations.
    nlist = 2 ** round(math.log2(max(4.0 * math.sqrt(n), 16.0)))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    index.cp.seed = seed
    index.cp.niter = 10
    index.train(data[rng.choice(n, size=min(n, 40 * nlist), replace=False)])
    index.add(data)
    return index
