"""Evaluation: the MovieLens protocol side by side with baselines, and the demo world vs its oracle.

:func:`evaluate_movielens` runs the protocol of :mod:`phoenix_models.data.movielens`:

1. baselines: MostPopular, and implicit's ALS tuned on the validation targets (NDCG@10)
   over :data:`~phoenix_models.baselines.ALS_GRID`, refitted on the test phase's training
   data;
2. our retrieval model, trained on the validation phase with early stopping on validation
   NDCG@10 (or loaded from a checkpoint), ranks the whole catalogue from each user's
   test-phase context;
3. retrieval followed by ranking: the ranker, trained on the validation phase and
   early-stopped on validation NDCG@10 of re-ranking retrieval's top K, re-orders the top
   ``K`` by P(favorite); the rest keeps retrieval's order.

Every row reports HR@10, NDCG@10, Recall@100 and MRR over the test targets with a 95 %
percentile bootstrap interval (the same resampled users for every method).

:func:`evaluate_demo` reports the ranker's per-action ROC-AUC and log loss on the demo
world's test window, and retrieval's ranking metrics, next to the oracle (the generator's
own probabilities).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from phoenix_models.baselines import ALS_GRID, Als, MostPopular, tune_als
from phoenix_models.data.demo_world import ACTIONS, DemoWorld, engagement_gate, oracle_probabilities
from phoenix_models.data.examples import HashedLog, impression_chunks, ranker_batch
from phoenix_models.data.movielens import (
    POSITIVE_RATING,
    PROTOCOL,
    MovieLens,
    ProtocolSplit,
    load_movielens,
    protocol_split,
    split_sha256,
)
from phoenix_models.eval_scoring import RankerScorer, RetrievalScorer
from phoenix_models.metrics import (
    bootstrap_ci,
    per_action_metrics,
    ranking_metrics,
    target_ranks,
)
from phoenix_models.train import TrainConfig, fit
from phoenix_models.train_tasks import (
    CorpusHashes,
    MovieLensPhase,
    demo_retrieval_targets,
    demo_windows,
    movielens_model_config,
    movielens_ranker_task,
    movielens_retrieval_task,
    seen_before,
)

REPORTED = ("HR@10", "NDCG@10", "Recall@100", "MRR")
RERANK_K = 100


MOVIELENS_RETRIEVAL = TrainConfig(
    batch_size=256,
    learning_rate=2e-3,
    warmup_steps=50,
    max_steps=1_500,
    eval_every=100,
    checkpoint_every=100,
    patience=4,
    temperature=0.05,
    logq_correction=True,
)
MOVIELENS_RANKER = TrainConfig(
    batch_size=32,
    learning_rate=2e-3,
    warmup_steps=50,
    max_steps=1_500,
    eval_every=100,
    checkpoint_every=100,
    patience=4,
)


@dataclasses.dataclass(frozen=True)
class MovieLensRecipe:
    """How :func:`evaluate_movielens` trains our models when no checkpoint is given.

    Chosen on the validation phase only (see docs/training.md for what was tried).
    """

    retrieval: TrainConfig = MOVIELENS_RETRIEVAL
    ranker: TrainConfig = MOVIELENS_RANKER
    model_overrides: tuple[tuple[str, Any], ...] = (("history_seq_len", 32),)
    rated_per_request: int = 8


def _summary(values: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    intervals: dict[str, list[float]] = {}
    for name in REPORTED:
        estimate = bootstrap_ci(values[name], seed=seed)
        row[name] = round(estimate.mean, 4)
        intervals[name] = [round(estimate.low, 4), round(estimate.high, 4)]
    row["ci95"] = intervals
    return row


def _catalogue_ranks(data: MovieLens, split: ProtocolSplit, scores: np.ndarray) -> np.ndarray:
    return target_ranks(scores, data.movie_index(split.target_movie), split.excluded_mask())


def _positives(data: MovieLens, split: ProtocolSplit) -> tuple[np.ndarray, np.ndarray]:
    keep = split.train.rating >= POSITIVE_RATING
    return split.train.user_id[keep], data.movie_index(split.train.movie_id[keep])


def baseline_rows(
    data: MovieLens, validation: ProtocolSplit, test: ProtocolSplit, seed: int
) -> list[dict[str, Any]]:
    """MostPopular and validation-tuned ALS on the test targets."""
    n_items = data.movie_ids.size
    metrics = {}
    users, items = _positives(data, test)
    popular = MostPopular.fit(users, items, n_items).score(test.eval_users)
    metrics["MostPopular"] = ranking_metrics(_catalogue_ranks(data, test, popular), (10, 100))

    val_users, val_items = _positives(data, validation)

    def validation_ndcg(config) -> float:
        als = Als.fit(val_users, val_items, n_items, config, seed=seed)
        ranks = _catalogue_ranks(data, validation, als.score(validation.eval_users))
        return float(ranking_metrics(ranks, (10,))["NDCG@10"].mean())

    best, _ = tune_als(validation_ndcg, ALS_GRID)
    als = Als.fit(users, items, n_items, best, seed=seed)
    metrics["ALS"] = ranking_metrics(
        _catalogue_ranks(data, test, als.score(test.eval_users)), (10, 100)
    )
    rows = [
        {"method": "MostPopular", **_summary(metrics["MostPopular"], seed)},
        {
            "method": "ALS (implicit, tuned on validation)",
            **_summary(metrics["ALS"], seed),
            "config": dataclasses.asdict(best),
        },
    ]
    return rows


def evaluate_movielens(
    seed: int = 0,
    checkpoint: str | Path | None = None,
    save_to: str | Path | None = None,
    recipe: MovieLensRecipe = MovieLensRecipe(),
    progress: bool = True,
    baselines: bool = True,
) -> dict[str, Any]:
    """Runs the protocol and returns the report (JSON-ready).

    Args:
        seed: seeds training, ALS and the bootstrap.
        checkpoint: a folder with ``retrieval/`` and ``ranker/`` checkpoints to evaluate
            instead of training (e.g. one written by an earlier ``save_to``).
        save_to: where to keep the models trained here (default: a temporary folder).
    """
    from phoenix_models.ranker import Ranker, ranker_network
    from phoenix_models.retrieval import Retriever, retrieval_network

    data = load_movielens()
    validation = protocol_split(data, "validation")
    test = protocol_split(data, "test")
    rows = baseline_rows(data, validation, test, seed) if baselines else []

    with tempfile.TemporaryDirectory(prefix="feedmixer-movielens-") as scratch:
        folder = Path(save_to) if save_to is not None else Path(scratch)
        if checkpoint is not None:
            retriever = Retriever.load(Path(checkpoint) / "retrieval")
            ranker = Ranker.load(Path(checkpoint) / "ranker")
            retrieval_params, retrieval_cfg = retriever.params, retriever.config
            ranker_params, ranker_cfg = ranker.params, ranker.config
        else:
            retrieval_cfg = movielens_model_config(**dict(recipe.model_overrides))
            ranker_cfg = retrieval_cfg
            val_phase = MovieLensPhase.build(validation, retrieval_cfg)
            train_cfg = dataclasses.replace(recipe.retrieval, seed=seed)
            retrieval_params = fit(
                movielens_retrieval_task(val_phase, train_cfg),
                train_cfg,
                folder / "retrieval",
                progress=progress,
            ).params
            scores = val_phase.retrieval_scores(
                RetrievalScorer(retrieval_network(retrieval_cfg)), retrieval_params
            )
            candidates = top_k_candidates(scores, RERANK_K)
            train_cfg = dataclasses.replace(recipe.ranker, seed=seed)
            ranker_params = fit(
                movielens_ranker_task(val_phase, train_cfg, candidates, recipe.rated_per_request),
                train_cfg,
                folder / "ranker",
                progress=progress,
            ).params

        test_phase = MovieLensPhase.build(test, retrieval_cfg)
        scores = test_phase.retrieval_scores(
            RetrievalScorer(retrieval_network(retrieval_cfg)), retrieval_params
        )
        retrieval_ranks = target_ranks(scores, test_phase.target_index, test_phase.excluded)
        candidates = top_k_candidates(scores, RERANK_K)
        ranker_phase = (
            test_phase if ranker_cfg == retrieval_cfg else MovieLensPhase.build(test, ranker_cfg)
        )
        favorite = ranker_phase.rerank(
            RankerScorer(ranker_network(ranker_cfg)), ranker_params, candidates
        )
        reranked = _reranked_ranks(candidates, favorite, test_phase.target_index, retrieval_ranks)

    rows.append(
        {
            "method": "Phoenix retrieval",
            **_summary(ranking_metrics(retrieval_ranks, (10, 100)), seed),
        }
    )
    rows.append(
        {
            "method": f"Phoenix retrieval -> ranking (top {RERANK_K} re-ranked by P(favorite))",
            **_summary(ranking_metrics(reranked, (10, 100)), seed),
        }
    )
    return {
        "protocol": PROTOCOL,
        "split_sha256": split_sha256(test),
        "users": int(test.eval_users.size),
        "seed": seed,
        "results": rows,
    }


def top_k_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """``[E, k]`` column indices of the k best scores per row, best first (stable ties)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part.sort(axis=1)  # item order, so ties below break by item index like target_ranks
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _reranked_ranks(
    candidates: np.ndarray, scores: np.ndarray, target: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Target rank after re-ordering the top K; targets outside it keep retrieval's rank."""
    order = np.argsort(-scores, axis=1, kind="stable")
    reordered = np.take_along_axis(candidates, order, axis=1)
    hit = reordered == target[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), fallback)


# ---- demo world --------------------------------------------------------------------------------


def evaluate_demo(
    world: DemoWorld,
    ranker: Any | None = None,
    retriever: Any | None = None,
    max_requests: int = 4_000,
    max_users: int = 1_000,
) -> dict[str, Any]:
    """Model metrics on the test window (the last 12 h) next to the oracle's."""
    windows = demo_windows(world)
    report: dict[str, Any] = {"dataset": f"demo world seed={world.config.seed}"}
    if ranker is not None:
        report["ranker"] = _demo_ranker(world, windows, ranker, max_requests)
    if retriever is not None:
        report["retrieval"] = _demo_retrieval(world, windows, retriever, max_users)
    return report


def _demo_ranker(world, windows, ranker, max_requests) -> dict[str, Any]:
    from phoenix_models.ranker import ranker_network

    log = windows.log
    hashed = HashedLog.build(log, ranker.config)
    chunks = impression_chunks(log, windows.test, ranker.config.candidate_seq_len)
    chunks = chunks.take(np.arange(min(max_requests, len(chunks.context_row))))
    batch = ranker_batch(hashed, chunks)
    probs = RankerScorer(ranker_network(ranker.config)).probabilities(
        ranker.params, batch.context, batch.candidates
    )
    valid = chunks.post_id != 0
    labels = chunks.labels[valid]
    users = log.user_id[chunks.context_row][:, None].repeat(valid.shape[1], axis=1)[valid]
    oracle = oracle_probabilities(world, users, chunks.post_id[valid])
    model = per_action_metrics(labels, probs[valid], ACTIONS)
    truth = per_action_metrics(labels, oracle, ACTIONS)
    return {
        "impressions": int(valid.sum()),
        "actions": {
            name: {
                "positives": model[name]["positives"],
                "auc": round(model[name]["auc"], 4),
                "oracle_auc": round(truth[name]["auc"], 4),
                "log_loss": round(model[name]["log_loss"], 5),
                "oracle_log_loss": round(truth[name]["log_loss"], 5),
            }
            for name in ACTIONS
        },
    }


def _demo_retrieval(world, windows, retriever, max_users) -> dict[str, Any]:
    from phoenix_models.retrieval import retrieval_network

    log = windows.log
    hashed = HashedLog.build(log, retriever.config)
    targets = demo_retrieval_targets(windows, windows.test, max_users)
    target_index = world.post_index(log.post_id[targets])
    excluded = seen_before(log, targets, world.post_index, world.config.n_posts)
    scorer = RetrievalScorer(retrieval_network(retriever.config))
    corpus = CorpusHashes.demo(world, retriever.config)
    scores = (
        scorer.users(retriever.params, hashed.context(targets))
        @ corpus.embed(scorer, retriever.params).T
    )
    model = ranking_metrics(target_ranks(scores, target_index, excluded), (10, 100))
    oracle_scores = np.stack(
        [
            engagement_gate(
                world, np.full(world.config.n_posts, log.user_id[t]), world.posts.post_id
            )
            for t in targets
        ]
    )
    oracle = ranking_metrics(target_ranks(oracle_scores, target_index, excluded), (10, 100))
    return {
        "users": int(targets.size),
        "model": {k: round(float(model[k].mean()), 4) for k in REPORTED},
        "oracle": {k: round(float(oracle[k].mean()), 4) for k in REPORTED},
    }
