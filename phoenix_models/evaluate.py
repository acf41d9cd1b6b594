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

Our models follow the demo recipe where it applies (:attr:`MovieLensRecipe.content`, the
default): the ranker's per-action output bias starts at the base-rate logits, and every
movie token reads the semantic IDs of its text (title + genres, TF-IDF + SVD, the same
content code path as the demo world's posts); ``content=False`` trains X's id-only inputs.

:func:`evaluate_movielens_seeds` runs the protocol once per seed and reports, per method,
the mean over seeds with a bootstrap interval over users of each user's metric averaged
over the seeds (:func:`pool_seeds`), next to each seed's own mean.

:func:`evaluate_demo` reports the ranker's per-action ROC-AUC and log loss on the demo
world's test window, and retrieval's ranking metrics, next to the oracle (the generator's
own probabilities).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phoenix_models.atomic import atomic_savez, atomic_write
from phoenix_models.baselines import ALS_GRID, Als, MostPopular, tune_als
from phoenix_models.config import PhoenixConfig
from phoenix_models.content import ContentModel
from phoenix_models.data.demo_world import (
    ACTIONS,
    DemoWorld,
    engagement_gate,
    oracle_probabilities,
    without_post_quality,
)
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
from phoenix_models.engagement_prior import with_engagement_prior
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
    movielens_content_model,
    movielens_model_config,
    movielens_ranker_task,
    movielens_retrieval_task,
)

REPORTED = ("HR@10", "NDCG@10", "Recall@100", "MRR")
ORACLE_BLOCK = 100
"""Users per block of derived retrieval scores (oracles, the engagement prior)."""
RETRIEVAL_PRIOR = {"weight": 0.1, "prior_share": 0.15, "strength": 20.0}
"""The engagement prior of ``recipes/for_you.yaml``'s Phoenix source (``engagement_weight``,
``prior_share``, ``strength``), weight chosen on the demo validation window
(docs/training.md): the served retrieval, measured."""
ALS_METHOD = "ALS (implicit, tuned on validation)"
RERANK_K = 100
BLEND_METHOD = (
    f"Phoenix retrieval -> ranking (top {RERANK_K} by log P(favorite) + w x retrieval cosine, "
    "w tuned on validation)"
)
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
    MOVIELENS_RANKER,
    batch_size=256,
    temperature=0.05,
    logq_correction=True,
    # re-chosen on the validation targets once hash tables started small (issue 12):
    # 6e-3 against 2e-3, mean of 3 seeds (docs/training.md)
    learning_rate=6e-3,
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
    content: bool = False
    """``True``: the demo recipe's inputs (output bias at base rates, semantic IDs of each
    movie's title + genres); ``False`` (the default): ids only, no output bias (X's
    inputs), which scored higher on the validation targets of each of three seeds."""
    encoder: str = "tfidf"
    """Text encoder of the semantic IDs (a name of :data:`phoenix_models.encoders.ENCODERS`)."""

    def model_config(self) -> PhoenixConfig:
        return movielens_model_config(content=self.content, **dict(self.model_overrides))


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
    metrics, best = baseline_metrics(data, validation, test, seed, grid)
    return [
        {"method": name, **_summary(values, seed), **({"config": best} if "ALS" in name else {})}
        for name, values in metrics.items()
    ]


def baseline_metrics(
    data: MovieLens,
    validation: ProtocolSplit,
    test: ProtocolSplit,
    seed: int,
    grid: dict[str, tuple] = ALS_GRID,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Per-user test metrics of MostPopular and validation-tuned ALS (by method name), and
    the ALS settings chosen."""
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
    metrics[ALS_METHOD] = ranking_metrics(
        _catalogue_ranks(data, test, als.score(test.eval_users)), (10, 100)
    )
    return metrics, dataclasses.asdict(best)


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
    content: ContentModel | None = None,
) -> StageScores:
    """Retrieval over the catalogue, then the ranker over retrieval's top ``RERANK_K``
    (``content``: the models' content model, for configs with content inputs)."""
    from phoenix_models.ranker import ranker_network
    from phoenix_models.retrieval import retrieval_network

    (retrieval_cfg, retrieval_params), (ranker_cfg, ranker_params) = retrieval, ranker
    phase = MovieLensPhase.build(split, retrieval_cfg, content)
    scores = phase.retrieval_scores(
        RetrievalScorer(retrieval_network(retrieval_cfg)), retrieval_params
    )
    candidates = top_k_candidates(scores, RERANK_K)
    ranker_phase = (
        phase if ranker_cfg == retrieval_cfg else MovieLensPhase.build(split, ranker_cfg, content)
    )
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
    content: ContentModel | None = None


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
    model_cfg = recipe.model_config()
    content = movielens_content_model(split.data, model_cfg, recipe.encoder)
    phase = MovieLensPhase.build(split, model_cfg, content)

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
        content=content,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class MovieLensRun:
    """One run of the protocol: per-user test metrics of every method, and the facts."""

    metrics: dict[str, dict[str, np.ndarray]]  # method -> metric -> [E] per-user values
    extras: dict[str, dict[str, Any]]  # method -> facts for its row (ALS config, weight)
    report: dict[str, Any]  # everything but the results (protocol, split, training)


def run_movielens(
    seed: int = 0,
    checkpoint: str | Path | None = None,
    save_to: str | Path | None = None,
    recipe: MovieLensRecipe = MovieLensRecipe(),
    progress: bool = True,
    baselines: bool = True,
) -> MovieLensRun:
    """Runs the protocol once (arguments as :func:`evaluate_movielens`)."""
    from phoenix_models.ranker import Ranker
    from phoenix_models.retrieval import Retriever

    data = load_movielens()
    validation = protocol_split(data, "validation")
    test = protocol_split(data, "test")
    metrics: dict[str, dict[str, np.ndarray]] = {}
    extras: dict[str, dict[str, Any]] = {}
    if baselines:
        metrics, als_config = baseline_metrics(data, validation, test, seed)
        extras[ALS_METHOD] = {"config": als_config}

    with tempfile.TemporaryDirectory(prefix="feedmixer-movielens-") as scratch:
        if checkpoint is not None:
            retriever = Retriever.load(Path(checkpoint) / "retrieval")
            ranker = Ranker.load(Path(checkpoint) / "ranker")
            retrieval = (retriever.config, retriever.params)
            ranking = (ranker.config, ranker.params)
            content = retriever.content
            refit = None
            training: dict[str, Any] = {"checkpoint": str(checkpoint)}
        else:
            folder = Path(save_to) if save_to is not None else Path(scratch)
            trained = train_movielens_models(validation, folder, recipe, seed, progress)
            retrieval, ranking, content = trained.retrieval, trained.ranker, trained.content
            refit = trained.steps if recipe.refit_on_test else None
            training = {
                "steps": dict(zip(("retrieval", "ranker"), trained.steps, strict=True)),
                "refit_on_test": refit is not None,
                "content": recipe.content,
            }
        tuned = stage_scores(validation, retrieval, ranking, content)
        weight = max(
            BLEND_WEIGHTS,
            key=lambda w: float(ranking_metrics(tuned.ranks(w), (10,))["NDCG@10"].mean()),
        )
        training["validation"] = {
            "retrieval NDCG@10": round(_mean_ndcg(tuned.retrieval_ranks), 4),
            "blend NDCG@10": round(_mean_ndcg(tuned.ranks(weight)), 4),
            "blend_weight": weight,
        }
        reports = [("", stage_scores(test, retrieval, ranking, content))]
        if refit is not None:
            final_models = train_movielens_models(
                test, folder / "test", recipe, seed, progress, steps=refit
            )
            refitted = stage_scores(
                test, final_models.retrieval, final_models.ranker, final_models.content
            )
            reports = [(" [refit]", refitted), (" [validation-phase models]", reports[0][1])]

    for label, final in reports:
        metrics.update(_phoenix_metrics(final, weight, label))
        extras[BLEND_METHOD + label] = {"blend_weight": weight}
    report = {
        "protocol": PROTOCOL,
        "split_sha256": split_sha256(test),
        "users": int(test.eval_users.size),
        "seed": seed,
        "phoenix_training": training,
    }
    return MovieLensRun(metrics, extras, report)


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
    run = run_movielens(seed, checkpoint, save_to, recipe, progress, baselines)
    rows = [
        {"method": method, **_summary(values, seed), **run.extras.get(method, {})}
        for method, values in run.metrics.items()
    ]
    return {**run.report, "results": rows}


def pool_seeds(
    per_seed: list[dict[str, dict[str, np.ndarray]]], bootstrap_seed: int = 0
) -> list[dict[str, Any]]:
    """One row per method over several runs of the protocol (same users in each).

    ``per_seed[s][method][metric]`` holds run ``s``'s per-user values. The row's value is
    the mean over seeds of each seed's mean (= the mean over users of each user's value
    averaged over the seeds); its interval is the percentile bootstrap over users of those
    per-user averages (the same resampled users for every method); ``per_seed`` keeps each
    run's own mean. Methods missing from a run are left out.
    """
    if not per_seed:
        raise ValueError("no runs to pool")
    rows = []
    for method in per_seed[0]:
        if any(method not in run for run in per_seed):
            continue
        row: dict[str, Any] = {"method": method}
        intervals, seeds = {}, {}
        for name in REPORTED:
            stacked = np.stack([np.asarray(run[method][name], np.float64) for run in per_seed])
            estimate = bootstrap_ci(stacked.mean(axis=0), seed=bootstrap_seed)
            row[name] = round(estimate.mean, 4)
            intervals[name] = [round(estimate.low, 4), round(estimate.high, 4)]
            seeds[name] = [round(float(v), 4) for v in stacked.mean(axis=1)]
        row["ci95"] = intervals
        row["per_seed"] = seeds
        rows.append(row)
    return rows


def evaluate_movielens_seeds(
    seeds: list[int],
    save_to: str | Path | None = None,
    recipe: MovieLensRecipe = MovieLensRecipe(),
    progress: bool = True,
    baselines: bool = True,
    on_seed: Any = None,
    resume: bool = False,
) -> dict[str, Any]:
    """The protocol once per seed (training, ALS), pooled by :func:`pool_seeds`.

    With ``save_to``, seed ``s`` keeps its models, its report (``report.json``) and its
    per-user metrics (``per_user.npz``, ``method|metric`` keys) in ``save_to/seed<s>/``,
    each written as soon as the seed is done. ``on_seed(seed, report)`` is called after each.
    With ``resume``, a seed already saved there is read back instead of run again (a run
    of an hour stopped during its last seed loses only that seed); one saved with another
    content setting, split or set of methods is refused, as pooling it would mix recipes.
    """

    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    if resume and save_to is None:
        raise ValueError("resuming reads the seeds saved by an earlier run: give its --save folder")
    runs, reports = [], []
    for seed in seeds:
        folder = None if save_to is None else Path(save_to) / f"seed{seed}"
        if resume and folder is not None and (folder / SEED_REPORT).is_file():
            report, metrics = _load_seed(folder, recipe)
        else:
            run = run_movielens(seed, None, folder, recipe, progress, baselines)
            metrics = run.metrics
            report = {
                **run.report,
                "results": [
                    {"method": m, **_summary(v, seed), **run.extras.get(m, {})}
                    for m, v in run.metrics.items()
                ],
            }
            if folder is not None:
                _save_seed(folder, report, metrics)
        if runs and (
            metrics.keys() != runs[0].keys() or report["split_sha256"] != reports[0]["split_sha256"]
        ):
            raise ValueError(
                f"seed {seed}: its methods or split differ from seed {seeds[0]}'s "
                "(one run with baselines and one without?); seeds pool only when alike"
            )
        if on_seed is not None:
            on_seed(seed, report)
        runs.append(metrics)
        reports.append(report)
    first = reports[0]
    return {
        "protocol": first["protocol"],
        "split_sha256": first["split_sha256"],
        "users": first["users"],
        "seeds": list(seeds),
        "aggregation": "mean over seeds; 95 % bootstrap over users of each user's metric "
        "averaged over the seeds (1,000 resamples)",
        "phoenix_training": {r["seed"]: r["phoenix_training"] for r in reports},
        "per_seed_extras": {
            r["seed"]: {
                x["method"]: x.get("blend_weight", x.get("config"))
                for x in r["results"]
                if "blend_weight" in x or "config" in x
            }
            for r in reports
        },
        "results": pool_seeds(runs, bootstrap_seed=seeds[0]),
    }


SEED_REPORT = "report.json"
SEED_METRICS = "per_user.npz"


def _save_seed(folder: Path, report: dict[str, Any], metrics: dict[str, dict]) -> None:
    """Each file atomically, the report last: a seed counts as saved (for ``resume``) only
    once both files are whole."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"{m}|{k}": v for m, values in metrics.items() for k, v in values.items()}
    atomic_savez(folder / SEED_METRICS, arrays)
    atomic_write(folder / SEED_REPORT, json.dumps(report, indent=1).encode())


SEED_KEYS = ("protocol", "split_sha256", "users", "seed", "phoenix_training", "results")


def _load_seed(folder: Path, recipe: MovieLensRecipe) -> tuple[dict[str, Any], dict]:
    """A saved seed, pooled only if it ran this protocol with this recipe's inputs; a
    file that cannot be read is named, with what to do."""
    import json
    import zipfile

    try:
        report = json.loads((folder / SEED_REPORT).read_text())
        missing = (
            [key for key in SEED_KEYS if key not in report]
            if isinstance(report, dict)
            else SEED_KEYS
        )
        if missing:
            raise ValueError(f"{SEED_REPORT} lacks {', '.join(missing)}")
        rows = report["results"]
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and "method" in r for r in rows
        ):
            raise ValueError(f"{SEED_REPORT}: results must be a list of rows with a method")
        metrics = load_per_user(folder / SEED_METRICS)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{folder}: cannot resume from this saved seed ({error}); remove the folder to "
            "run the seed again"
        ) from None
    training = report["phoenix_training"]
    content = training.get("content") if isinstance(training, dict) else None
    if report["protocol"] != PROTOCOL or content != recipe.content:
        raise ValueError(
            f"{folder}: saved with content={content} under another protocol or recipe; this "
            f"run has content={recipe.content}: resume into a fresh --save folder"
        )
    return report, metrics


def load_per_user(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Reads a ``per_user.npz`` of :func:`evaluate_movielens_seeds` back (for
    :func:`pool_seeds`)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            method, metric = key.rsplit("|", 1)
            out.setdefault(method, {})[metric] = data[key]
    return out


def _mean_ndcg(ranks: np.ndarray) -> float:
    return float(ranking_metrics(ranks, (10,))["NDCG@10"].mean())


def _phoenix_metrics(final: StageScores, weight: float, label: str) -> dict[str, dict]:
    """Per-user metrics of our three methods (retrieval; re-ranked; blended) for one pair
    of models. The blend's name does not carry its weight (tuned per run on validation),
    so runs of several seeds pool under one name."""
    return {
        f"Phoenix retrieval{label}": ranking_metrics(final.retrieval_ranks, (10, 100)),
        f"Phoenix retrieval -> ranking (top {RERANK_K} by P(favorite)){label}": ranking_metrics(
            final.ranks(0.0), (10, 100)
        ),
        BLEND_METHOD + label: ranking_metrics(final.ranks(weight), (10, 100)),
    }


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
    max_users: int | None = None,
) -> dict[str, Any]:
    """Model metrics on the test window (the last 12 h) next to the oracle's.

    Retrieval scores every user with a positive engagement in the window (``max_users``:
    the first that many): 1,875 targets on the default world, whose Recall@100 is a
    handful of hits, so fewer would leave the comparison to chance.
    """
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
                # the rate these impressions were drawn at: how far the observed rate of
                # a rare action strays from it by chance alone
                "oracle_mean_predicted": round(float(oracle[:, k].mean()), 5),
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
    shown, engaged = log.post_counts_before(
        world.post_index(log.post_id), world.config.n_posts, log.timestamp[targets]
    )
    user_ids = log.user_id[targets]

    def means(scores_of: Callable[[slice], np.ndarray]) -> dict[str, float]:
        """Mean metrics of the scores ``scores_of(rows)`` gives, a block of rows at a time
        (a block is ``[rows, posts]`` float64)."""
        blocks = (slice(a, a + ORACLE_BLOCK) for a in range(0, targets.size, ORACLE_BLOCK))
        ranks = np.concatenate(
            [target_ranks(scores_of(b), target_index[b], excluded[b]) for b in blocks]
        )
        metrics = ranking_metrics(ranks, (10, 100))
        return {k: round(float(metrics[k].mean()), 4) for k in REPORTED}

    blind = without_post_quality(world)
    return {
        "users": int(targets.size),
        "model": {k: round(float(model[k].mean()), 4) for k in REPORTED},
        "model_with_engagement_prior": means(
            lambda b: with_engagement_prior(scores[b], shown[b], engaged[b], **RETRIEVAL_PRIOR)
        ),
        "oracle": means(lambda b: _oracle_scores(world, user_ids[b])),
        "oracle_without_post_quality": means(lambda b: _oracle_scores(blind, user_ids[b])),
    }


def _oracle_scores(world: DemoWorld, user_ids: np.ndarray) -> np.ndarray:
    """``[U, P]`` the hidden engagement probability of every post for each user."""
    posts = world.posts.post_id
    return np.stack([engagement_gate(world, np.full(posts.size, u), posts) for u in user_ids])
