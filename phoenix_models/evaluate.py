"""Evaluation: the MovieLens protocol side by side with baselines, and the demo world vs its oracle.

:func:`evaluate_movielens` runs the protocol of :mod:`phoenix_models.data.movielens`:

1. baselines: MostPopular, and implicit's ALS tuned on the validation targets (NDCG@10)
   over :data:`~phoenix_models.baselines.ALS_GRID`, refitted on the test phase's training
   data;
2. our retrieval model, trained on the validation phase with early stopping on validation
   NDCG@10 (or loaded from a checkpoint), ranks the whole catalogue from each user's
   test-phase context;
3. retrieval followed by ranking: the ranker, warm-started from the retrieval model,
   trained on the validation phase with retrieval's hard negatives and early-stopped on
   validation NDCG@10 of re-ranking retrieval's top K, re-orders the top ``K``; the rest
   keeps retrieval's order. Two rows: by P(favorite) alone, and by ``log P(favorite) +
   w * retrieval cosine`` with ``w`` chosen among :data:`BLEND_WEIGHTS` on the validation
   targets (the final stage of a feed blends several signals in the same way).

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
from phoenix_models.config import PhoenixConfig
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
    demo_post_features,
    demo_retrieval_targets,
    demo_unrankable,
    demo_windows,
    movielens_model_config,
    movielens_ranker_task,
    movielens_retrieval_task,
)

REPORTED = ("HR@10", "NDCG@10", "Recall@100", "MRR")
RERANK_K = 100
BLEND_WEIGHTS = (0.0, 5.0, 10.0, 20.0, 40.0)
"""Weights of retrieval's cosine next to the ranker's log P(favorite), tried on validation."""


MOVIELENS_RANKER = TrainConfig(
    batch_size=32,
    learning_rate=2e-3,
    warmup_steps=50,
    max_steps=1_500,
    eval_every=100,
    checkpoint_every=100,
    patience=3,
    ema_decay=0.99,
)
MOVIELENS_RETRIEVAL = dataclasses.replace(
    MOVIELENS_RANKER, batch_size=256, temperature=0.05, logq_correction=True
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
    refit_on_test: bool = True
    """Retrain on everything before the test targets for the steps validation chose, as
    the baselines are refit; ``False`` reports the validation-phase models."""


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
    data: MovieLens,
    validation: ProtocolSplit,
    test: ProtocolSplit,
    seed: int,
    grid: dict[str, tuple] = ALS_GRID,
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

    best, _ = tune_als(validation_ndcg, grid)
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


@dataclasses.dataclass(frozen=True, eq=False)
class StageScores:
    """Both stages' outputs for one protocol phase."""

    phase: MovieLensPhase
    retrieval_ranks: np.ndarray  # [E] target rank over the catalogue
    candidates: np.ndarray  # [E, K] retrieval's top K, best first
    retrieval: np.ndarray  # [E, K] their cosine scores
    log_favorite: np.ndarray  # [E, K] ranker log P(favorite)

    def ranks(self, weight: float) -> np.ndarray:
        """Target ranks when the top K is re-ordered by ``log P(favorite) + w * cosine``."""
        blend = self.log_favorite + weight * self.retrieval
        return _reranked_ranks(
            self.candidates, blend, self.phase.target_index, self.retrieval_ranks
        )


def stage_scores(
    split: ProtocolSplit,
    retrieval: tuple[PhoenixConfig, Any],
    ranker: tuple[PhoenixConfig, Any],
) -> StageScores:
    """Retrieval over the catalogue, then the ranker over retrieval's top ``RERANK_K``."""
    from phoenix_models.ranker import ranker_network
    from phoenix_models.retrieval import retrieval_network

    (retrieval_cfg, retrieval_params), (ranker_cfg, ranker_params) = retrieval, ranker
    phase = MovieLensPhase.build(split, retrieval_cfg)
    scores = phase.retrieval_scores(
        RetrievalScorer(retrieval_network(retrieval_cfg)), retrieval_params
    )
    candidates = top_k_candidates(scores, RERANK_K)
    ranker_phase = phase if ranker_cfg == retrieval_cfg else MovieLensPhase.build(split, ranker_cfg)
    favorite = ranker_phase.rerank(
        RankerScorer(ranker_network(ranker_cfg)), ranker_params, candidates
    )
    return StageScores(
        phase=phase,
        retrieval_ranks=target_ranks(scores, phase.target_index, phase.excluded),
        candidates=candidates,
        retrieval=np.take_along_axis(scores, candidates, axis=1),
        log_favorite=np.log(np.clip(favorite, 1e-12, 1.0)),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedModels:
    """Both models of one training run, with the step each was kept at."""

    retrieval: tuple[PhoenixConfig, Any]
    ranker: tuple[PhoenixConfig, Any]
    steps: tuple[int, int]  # (retrieval, ranker)


def train_movielens_models(
    split: ProtocolSplit,
    folder: Path,
    recipe: MovieLensRecipe,
    seed: int,
    progress: bool,
    steps: tuple[int, int] | None = None,
) -> TrainedModels:
    """Retrieval, then the ranker (warm-started from it), on one protocol phase.

    Without ``steps``: the validation phase, early-stopped on its targets. With ``steps``
    (retrieval, ranker): the phase's training data up to those steps of the recipe's
    learning-rate schedule (the trajectory validation chose them on), with no validation:
    the final refit on everything before the test targets, which are never looked at (the
    protocol: tune on validation, then train on all that precedes the test).
    """
    model_cfg = movielens_model_config(**dict(recipe.model_overrides))
    phase = MovieLensPhase.build(split, model_cfg)

    def config(base: TrainConfig, index: int) -> TrainConfig:
        fixed = {} if steps is None else {"stop_step": max(steps[index], 1)}
        return dataclasses.replace(base, seed=seed, **fixed)

    cfg = config(recipe.retrieval, 0)
    task = movielens_retrieval_task(phase, cfg)
    if steps is not None:
        task = dataclasses.replace(task, validate=None)
    retrieval = fit(task, cfg, folder / "retrieval", progress=progress)
    candidates = None
    if steps is None:
        from phoenix_models.retrieval import retrieval_network

        scorer = RetrievalScorer(retrieval_network(model_cfg))
        candidates = top_k_candidates(phase.retrieval_scores(scorer, retrieval.params), RERANK_K)
    cfg = config(recipe.ranker, 1)
    task = movielens_ranker_task(
        phase, cfg, candidates, recipe.rated_per_request, retrieval_params=retrieval.params
    )
    ranker = fit(task, cfg, folder / "ranker", progress=progress)
    return TrainedModels(
        retrieval=(model_cfg, retrieval.params),
        ranker=(model_cfg, ranker.params),
        steps=(retrieval.best_step, ranker.best_step) if steps is None else steps,
    )


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
        save_to: where to keep the models trained here (default: a temporary folder): the
            validation-phase models in ``retrieval/`` and ``ranker/``, the final refit on
            everything before the test targets in ``test/``.
    """
    from phoenix_models.ranker import Ranker
    from phoenix_models.retrieval import Retriever

    data = load_movielens()
    validation = protocol_split(data, "validation")
    test = protocol_split(data, "test")
    rows = baseline_rows(data, validation, test, seed) if baselines else []

    with tempfile.TemporaryDirectory(prefix="feedmixer-movielens-") as scratch:
        if checkpoint is not None:
            retriever = Retriever.load(Path(checkpoint) / "retrieval")
            ranker = Ranker.load(Path(checkpoint) / "ranker")
            retrieval = (retriever.config, retriever.params)
            ranking = (ranker.config, ranker.params)
            refit = None
            training: dict[str, Any] = {"checkpoint": str(checkpoint)}
        else:
            folder = Path(save_to) if save_to is not None else Path(scratch)
            trained = train_movielens_models(validation, folder, recipe, seed, progress)
            retrieval, ranking = trained.retrieval, trained.ranker
            refit = trained.steps if recipe.refit_on_test else None
            training = {
                "steps": dict(zip(("retrieval", "ranker"), trained.steps, strict=True)),
                "refit_on_test": refit is not None,
            }
        tuned = stage_scores(validation, retrieval, ranking)
        weight = max(
            BLEND_WEIGHTS,
            key=lambda w: float(ranking_metrics(tuned.ranks(w), (10,))["NDCG@10"].mean()),
        )
        reports = [("", stage_scores(test, retrieval, ranking))]
        if refit is not None:
            final_models = train_movielens_models(
                test, folder / "test", recipe, seed, progress, steps=refit
            )
            refitted = stage_scores(test, final_models.retrieval, final_models.ranker)
            reports = [(" [refit]", refitted), (" [validation-phase models]", reports[0][1])]

    for label, final in reports:
        rows += _phoenix_rows(final, weight, label, seed)
    return {
        "protocol": PROTOCOL,
        "split_sha256": split_sha256(test),
        "users": int(test.eval_users.size),
        "seed": seed,
        "phoenix_training": training,
        "results": rows,
    }


def _phoenix_rows(final: StageScores, weight: float, label: str, seed: int) -> list[dict]:
    """Our three result rows (retrieval; re-ranked; blended) for one pair of models."""
    return [
        {
            "method": f"Phoenix retrieval{label}",
            **_summary(ranking_metrics(final.retrieval_ranks, (10, 100)), seed),
        },
        {
            "method": f"Phoenix retrieval -> ranking (top {RERANK_K} by P(favorite)){label}",
            **_summary(ranking_metrics(final.ranks(0.0), (10, 100)), seed),
        },
        {
            "method": f"Phoenix retrieval -> ranking (top {RERANK_K} by log P(favorite) + "
            f"{weight:g} x retrieval cosine, weight tuned on validation){label}",
            **_summary(ranking_metrics(final.ranks(weight), (10, 100)), seed),
            "blend_weight": weight,
        },
    ]


def top_k_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """``[E, k]`` column indices of the k best scores per row, best first (stable ties).

    A catalogue smaller than ``k`` gives all of it.
    """
    k = min(k, scores.shape[1])
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
    max_users: int = 500,
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
    features = demo_post_features(world, ranker.content)
    hashed = HashedLog.build(log, ranker.config, features)
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
                "observed_rate": round(float(labels[:, k].mean()), 5),
                "mean_predicted": round(float(probs[valid][:, k].mean()), 5),
            }
            for k, name in enumerate(ACTIONS)
        },
    }


def _demo_retrieval(world, windows, retriever, max_users) -> dict[str, Any]:
    from phoenix_models.retrieval import retrieval_network

    log = windows.log
    features = demo_post_features(world, retriever.content)
    hashed = HashedLog.build(log, retriever.config, features)
    targets = demo_retrieval_targets(windows, windows.test, max_users)
    target_index = world.post_index(log.post_id[targets])
    excluded = demo_unrankable(world, log, targets)
    scorer = RetrievalScorer(retrieval_network(retriever.config))
    corpus = CorpusHashes.demo(world, retriever.config, features)
    scores = (
        scorer.users(retriever.params, hashed.context(targets))
        @ corpus.embed(scorer, retriever.params).T
    )
    model = ranking_metrics(target_ranks(scores, target_index, excluded), (10, 100))
    oracle_ranks = np.concatenate(
        [
            target_ranks(
                _oracle_scores(world, log.user_id[targets[a : a + 100]]),
                target_index[a : a + 100],
                excluded[a : a + 100],
            )
            for a in range(0, targets.size, 100)
        ]
    )
    oracle = ranking_metrics(oracle_ranks, (10, 100))
    return {
        "users": int(targets.size),
        "model": {k: round(float(model[k].mean()), 4) for k in REPORTED},
        "oracle": {k: round(float(oracle[k].mean()), 4) for k in REPORTED},
    }


def _oracle_scores(world: DemoWorld, user_ids: np.ndarray) -> np.ndarray:
    """``[U, P]`` the hidden engagement probability of every post for each user."""
    posts = world.posts.post_id
    return np.stack([engagement_gate(world, np.full(posts.size, u), posts) for u in user_ids])
