"""Cross-request batching of the ranker: concurrent requests scored in one model call.

Each For-You request scores its candidates against its own viewer context. When several
requests are in the scorer at once, :class:`BatchingRanking` scores them together: the
first to arrive waits up to ``max_wait_ms`` for others (at most ``max_batch`` in all),
then one ``encode`` builds every viewer's context and one ``score_context`` scores every
candidate list, padded to the longest. Each request gets exactly its own rows back: a
candidate attends only to its own viewer's context and to itself, and its position
depends only on its index, so batching changes no score (tested against unbatched
scoring). A request never waits longer than the window for others to join.

It implements the ranking interface of :data:`components.resources.RANKER` over a
:class:`~components.phoenix.PhoenixRanking`, and is called from the Phoenix scorer's
worker threads (the batch is gathered with a condition variable, not on the event loop).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from components.models import ACTIONS, Engagement, PostCandidate
from components.phoenix import PhoenixRanking, candidate_arrays, history_items, padded_size


@dataclass(slots=True)
class _Request:
    user_id: int
    history: Sequence[Engagement]
    candidates: Sequence[PostCandidate]
    now: float
    result: np.ndarray | None = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Batch:
    requests: list[_Request] = field(default_factory=list)
    closed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class BatchingRanking:
    """Batches concurrent ``predict`` calls into one ranker call (see the module docs).

    ``batch_sizes`` records the size of every model call made (for tests and metrics).
    """

    def __init__(
        self, ranking: PhoenixRanking, max_batch: int = 8, max_wait_ms: float = 5.0
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self.ranking = ranking
        self.ranker = ranking.ranker
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        names = tuple(getattr(self.ranker.config, "action_names", ACTIONS))
        self._names = names
        self._columns = np.array([names.index(a) for a in ACTIONS])
        self._ready = threading.Condition()
        self._open: _Batch | None = None
        self.batch_sizes: list[int] = []

    def warm_up(self) -> None:
        """Compile the single-request shapes (as ``PhoenixRanking``), then the same candidate
        counts for every batch size up to ``max_batch`` (the ranker pads the batch to a
        bucket, so these are the shapes a batch can take)."""
        self.ranking.warm_up()
        compiled = sorted(self.ranking._compiled)
        if compiled and self.max_batch > 1:
            sizes = sorted({_bucket(b) for b in range(2, self.max_batch + 1)})
            self.ranker.warm_up(candidate_counts=compiled, users=sizes)

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        request = _Request(user_id, history, candidates, now)
        with self._ready:
            batch = self._open
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            batch.requests.append(request)
            if len(batch.requests) >= self.max_batch:
                self._close(batch)
        if leader:
            self._lead(batch)
        else:
            batch.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _close(self, batch: _Batch) -> None:
        batch.closed = True
        if self._open is batch:
            self._open = None
        self._ready.notify_all()

    def _lead(self, batch: _Batch) -> None:
        """Wait up to the window for others, then score the whole batch."""
        deadline = time.monotonic() + self.max_wait_s
        with self._ready:
            while not batch.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._close(batch)
                    break
                self._ready.wait(remaining)
        try:
            results = self.score_together(batch.requests)
            for request, result in zip(batch.requests, results, strict=True):
                request.result = result
        except BaseException as exc:  # every request of the batch sees the model's error
            for request in batch.requests:
                request.error = exc
        finally:
            batch.done.set()

    def score_together(self, requests: Sequence[_Request]) -> list[np.ndarray]:
        """One model call for every request: ``[C_i, 19]`` probabilities each."""
        from phoenix_models import context_batch

        self.batch_sizes.append(len(requests))
        config = self.ranker.config
        content = self.ranking.content  # the posts' content inputs, as PhoenixRanking uses
        length = config.history_seq_len
        contexts = context_batch(
            config,
            [(r.user_id, history_items(r.history, self._names, length, content)) for r in requests],
        )
        context = self.ranker.encode(contexts)
        slots = padded_size(max(len(r.candidates) for r in requests))
        rows = [candidate_arrays(config, r.candidates, r.now, slots, content) for r in requests]
        first = rows[0]
        stacked = type(first)(
            *(
                None
                if getattr(first, name) is None
                else np.concatenate([np.asarray(getattr(row, name)) for row in rows])
                for name in first._fields
            )
        )
        probabilities = self.ranker.score_context(context, stacked)  # [B, slots, A]
        return [
            probabilities[i, : len(r.candidates)][:, self._columns] for i, r in enumerate(requests)
        ]


def _bucket(size: int) -> int:
    from phoenix_models.batch import bucket_size

    return bucket_size(size, minimum=1)
