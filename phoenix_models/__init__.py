"""Phoenix models in JAX + dm-haiku: ranker, two-tower retrieval, checkpoints, corpus search.

This package only re-exports. Names from modules that need JAX are imported on first
access, so ``import phoenix_models`` (and the CLI) stays fast and JAX-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from phoenix_models.batch import (
    CandidateBatch,
    CandidatePost,
    ContextBatch,
    HistoryItem,
    PhoenixBatch,
    candidate_batch,
    context_batch,
    make_batch,
)
from phoenix_models.config import PUBLISHED_ACTIONS, EntityHash, PhoenixConfig
from phoenix_models.errors import CheckpointError, ConfigError, InputError

if TYPE_CHECKING:
    from phoenix_models.corpus import Corpus, CorpusIndex, build_corpus
    from phoenix_models.ranker import Ranker, RankerNetwork, ranker_network
    from phoenix_models.retrieval import RetrievalNetwork, Retriever, retrieval_network

_LAZY = {
    "Ranker": "phoenix_models.ranker",
    "RankerNetwork": "phoenix_models.ranker",
    "ranker_network": "phoenix_models.ranker",
    "Retriever": "phoenix_models.retrieval",
    "RetrievalNetwork": "phoenix_models.retrieval",
    "retrieval_network": "phoenix_models.retrieval",
    "Corpus": "phoenix_models.corpus",
    "CorpusIndex": "phoenix_models.corpus",
    "build_corpus": "phoenix_models.corpus",
}

__all__ = [
    "PUBLISHED_ACTIONS",
    "CandidateBatch",
    "CandidatePost",
    "CheckpointError",
    "ConfigError",
    "ContextBatch",
    "Corpus",
    "CorpusIndex",
    "EntityHash",
    "HistoryItem",
    "InputError",
    "PhoenixBatch",
    "PhoenixConfig",
    "Ranker",
    "RankerNetwork",
    "RetrievalNetwork",
    "Retriever",
    "build_corpus",
    "candidate_batch",
    "context_batch",
    "make_batch",
    "ranker_network",
    "retrieval_network",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phoenix_models' has no attribute {name!r}")
