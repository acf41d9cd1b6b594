"""Training tasks: a data set + a model kind -> a :class:`~phoenix_models.train.TrainingTask`.

* Demo world: impressions before ``now - 24 h`` train, ``[now - 24 h, now - 12 h)``
  validates, the last 12 h are the test window (:func:`demo_windows`). The ranker learns
  every logged action from feed-like requests of consecutive impressions; retrieval learns
  the next positively engaged post.
* MovieLens: the validation phase of the protocol trains and validates (its targets are
  never trained on); the test phase is only used by :mod:`phoenix_models.evaluate`. The
  ranker sees each user's rated movies in requests padded with sampled unrated movies
  (labelled "no action"); retrieval learns the next positive.

Model presets (:func:`demo_model_config`, :func:`movielens_model_config`) use right-anchored
positions, so a candidate's score does not depend on its slot or on how many candidates are
scored with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from phoenix_models.batch import media_bucket, safety_label_bucket
from phoenix_models.checkpoint import save_checkpoint
from phoenix_models.config import EntityHash, PhoenixConfig
from phoenix_models.content import ContentModel, PostFeatures
from phoenix_models.data.demo_world import ACTION_INDEX, DemoWorld
from phoenix_models.data.examples import (
    Catalogue,
    HashedLog,
    RankerExamples,
    impression_chunks,
    pool_picks,
    popularity_picks,
    ranker_batch,
    retrieval_batch,
    with_sampled_negatives,
)
from phoenix_models.data.interactions import (
    POSITIVE_ACTIONS,
    InteractionLog,
    demo_world_log,
    movielens_log,
)
from phoenix_models.data.movielens import MovieLens, ProtocolSplit
from phoenix_models.eval_scoring import RankerScorer, RetrievalScorer
from phoenix_models.hashing import hash_ids
from phoenix_models.metrics import ranking_metrics, roc_auc, target_ranks
from phoenix_models.ranker import ranker_network
from phoenix_models.retrieval import retrieval_network
from phoenix_models.train import (
    ModelKind,
    RankerTrainBatch,
    RetrievalTrainBatch,
    TrainConfig,
    TrainingTask,
    base_rate_logits,
    ranker_loss_fn,
    retrieval_loss_fn,
    warm_start,
    with_action_bias,
)

MOVIELENS_ACTIONS = ("click", "dwell", "favorite", "share", "not_interested")
"""The only actions MovieLens ratings produce; the others are masked out of the loss."""
DEMO_VALIDATION_REQUESTS = 1_500
DEMO_VALIDATION_USERS = 600
RANKER_VALIDATION_K = 100


DEMO_HISTORY: dict[ModelKind, int] = {"ranker": 128, "retrieval": 32}
"""History length of each demo model (``demo_model_config``)."""
TRAINING_PRESETS: dict[str, float] = {"ema_decay": 0.99, "weight_decay": TrainConfig.weight_decay}
"""``feedmixer phoenix train``'s defaults for these options, for every model but the demo
ranker."""
DEMO_RANKER_TRAINING: dict[str, float] = {"ema_decay": 0.997, "weight_decay": 0.3}
"""The demo ranker's own: over its 1,000-step schedule (about 6 passes over 10,923
training requests) a longer weight average and a stronger decay held out better
(docs/training.md)."""

CONTENT_DIM = 16
"""Width of the demo content embedding (TF-IDF -> truncated SVD) that SIDs quantise."""


def demo_model_config(
    content: bool = True, kind: ModelKind = "ranker", **overrides: Any
) -> PhoenixConfig:
    """A small model for the demo world: checkpoints of about 3 MB that train in minutes.

    With ``content`` (the default) post tokens read 3 semantic-ID levels of 16 codes (a
    level 0 as coarse as the demo's 16 topics, so ``sid_match``'s level-0 share is "share of
    the history on this topic") and the media bucket, and no user or post id is read: the
    model learns a viewer's taste from the content of their history, which held out better
    than memorising ids (docs/training.md); candidates also read their engagement so far
    and their safety label. Without, the model sees ids only (X's inputs).
    Both have the per-action output bias. The ranker (``kind``) reads the last 128
    engagements (the served history is 127 long): with ``sid_match`` the share of a longer
    history on a topic estimates the viewer's taste better, and 128 held out better than 32
    (docs/training.md); retrieval keeps 32, where it was measured.
    """
    history = DEMO_HISTORY[kind]
    base = _small_model(emb_size=32, key_size=16, history=history, candidates=16, users=4_096)
    base = dataclasses.replace(base, action_bias=True)
    if content:
        base = dataclasses.replace(
            base,
            sid_levels=3,
            sid_codebook_size=16,
            media_inputs=True,
            candidate_post_ids=False,
            content_cross=True,
            sid_match=True,
            engagement_inputs=True,
            safety_label_inputs=True,
            user_ids=False,
            history_post_ids=False,
        )
    return dataclasses.replace(base, **overrides)


def fit_content_model(
    texts: list[str], model_cfg: PhoenixConfig, encoder: str = "tfidf"
) -> ContentModel | None:
    """The content model for ``model_cfg`` fitted on every post text of a data set (the
    encoder and codebooks are unsupervised, so fitting them on posts of held-out windows
    or targets leaks no label); None for a model without SID inputs. ``encoder`` is a name
    of :data:`phoenix_models.encoders.ENCODERS` (``"tfidf"`` is fitted at ``CONTENT_DIM``)."""
    if not model_cfg.sid_levels:
        return None
    return ContentModel.fit(
        texts,
        encoder=encoder,
        dim=CONTENT_DIM,
        levels=model_cfg.sid_levels,
        codebook_size=model_cfg.sid_codebook_size,
        seed=0,
    )


def post_features(
    post_id: np.ndarray,
    texts: list[str],
    has_image: np.ndarray,
    video_duration_s: np.ndarray,
    content: ContentModel | None,
    safety_labels: Sequence[str] | None = None,
) -> PostFeatures:
    """Model inputs of a data set's posts: SIDs (zero without a content model), media
    buckets, and safety-label buckets where the data set labels its posts."""
    sids = (
        content.sids(texts) + 1
        if content is not None
        else np.zeros((np.size(post_id), 0), np.int32)
    )
    return PostFeatures.build(
        post_id,
        sids,
        media_bucket(has_image, video_duration_s),
        None if safety_labels is None else safety_label_bucket(safety_labels),
    )


def demo_content_model(
    world: DemoWorld, model_cfg: PhoenixConfig, encoder: str = "tfidf"
) -> ContentModel | None:
    """:func:`fit_content_model` on every post text of the world."""
    return fit_content_model(world.posts.text.tolist(), model_cfg, encoder)


def demo_post_features(world: DemoWorld, content: ContentModel | None) -> PostFeatures:
    """Content inputs of every post of the world (SIDs zero without a content model)."""
    posts = world.posts
    return post_features(
        posts.post_id,
        posts.text.tolist(),
        posts.has_image,
        posts.video_duration_s,
        content,
        posts.safety_label,
    )


def movielens_model_config(content: bool = False, **overrides: Any) -> PhoenixConfig:
    """The model used on MovieLens (671 users, 9,066 movies, 901 genre-signature authors).

    Without ``content``: ids only (X's inputs), no output bias. With ``content``, the demo
    recipe where it applies: the per-action output bias, and every movie token also reads
    3 semantic-ID levels of 16 codes of its text (title + genres), with the ranker's
    content cross and SID-prefix match. Unlike the demo preset, user and movie ids stay
    (a fixed catalogue whose every movie has ratings to learn an id from), and there are no
    media or engagement inputs (MovieLens has neither media nor impressions).
    """
    base = _small_model(emb_size=64, key_size=32, history=64, candidates=32, users=2_048)
    if content:
        base = dataclasses.replace(
            base,
            action_bias=True,
            sid_levels=3,
            sid_codebook_size=16,
            content_cross=True,
            sid_match=True,
        )
    return dataclasses.replace(base, **overrides)


def movielens_content_model(
    data: MovieLens, model_cfg: PhoenixConfig, encoder: str = "tfidf"
) -> ContentModel | None:
    """:func:`fit_content_model` on every movie's text (:meth:`MovieLens.movie_texts`)."""
    return fit_content_model(data.movie_texts(), model_cfg, encoder)


def movielens_post_features(data: MovieLens, content: ContentModel | None) -> PostFeatures:
    """Content inputs of every movie of the catalogue (text only: no image, no video)."""
    none = np.zeros(data.movie_ids.size)
    return post_features(data.movie_ids, data.movie_texts(), none.astype(bool), none, content)


def _small_model(
    *, emb_size: int, key_size: int, history: int, candidates: int, users: int
) -> PhoenixConfig:
    """Two layers, two heads, right-anchored positions (a score independent of its slot)."""
    return PhoenixConfig(
        emb_size=emb_size,
        num_layers=2,
        num_q_heads=2,
        num_kv_heads=2,
        key_size=key_size,
        history_seq_len=history,
        candidate_seq_len=candidates,
        dwell_hidden=16,
        user_hash=EntityHash.default(0, users),
        item_hash=EntityHash.default(1, 16_384),
        author_hash=EntityHash.default(2, 2_048),
        position_mode="right_anchored",
    )


# ---- shared plumbing -------------------------------------------------------------------------


def _validation_score(
    ranks: np.ndarray, score: str, ks: tuple[int, ...] = (10, 100)
) -> tuple[float, dict[str, float]]:
    """``validate`` result from target ranks: the early-stopping metric and every mean."""
    metrics = {k: float(v.mean()) for k, v in ranking_metrics(ranks, ks=ks).items()}
    return metrics[score], metrics


def _epoch_batches(n: int, batch_size: int, seed: int) -> Callable[[int], np.ndarray]:
    """``indices(step)``: a fresh permutation per epoch, a pure function of (seed, step)."""
    if n < batch_size:
        raise ValueError(f"only {n} training examples for a batch of {batch_size}")
    per_epoch = n // batch_size

    def indices(step: int) -> np.ndarray:
        epoch, offset = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        return order[offset * batch_size : (offset + 1) * batch_size]

    return indices


def _saver(
    kind: str, model_cfg: PhoenixConfig, content: ContentModel | None = None
) -> Callable[[Any, Path], None]:
    def save(params: Any, folder: Path) -> None:
        save_checkpoint(
            folder, kind=kind, config=model_cfg, params=jax.device_get(params), content=content
        )

    return save


def _ranker_train_batch(hashed: HashedLog, examples: RankerExamples) -> RankerTrainBatch:
    return RankerTrainBatch(
        inputs=ranker_batch(hashed, examples),
        labels=examples.labels.astype(np.float32),
        dwell_s=examples.dwell_s,
    )


def _log_q(log: InteractionLog, rows: np.ndarray, enabled: bool) -> Callable[[np.ndarray], Any]:
    """``log_q(batch_rows)``: log frequency of each row's post among the positives."""
    if not enabled:
        return lambda batch_rows: np.zeros(len(batch_rows), np.float32)
    posts, counts = np.unique(log.post_id[rows], return_counts=True)
    log_freq = np.log(counts / counts.sum()).astype(np.float32)
    return lambda batch_rows: log_freq[np.searchsorted(posts, log.post_id[batch_rows])]


def _weighted_bce(
    labels: np.ndarray, probs: np.ndarray, valid: np.ndarray, weights: np.ndarray
) -> float:
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    bce = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))  # [M, C, A]
    per_action = (bce * valid[..., None]).sum(axis=(0, 1)) / max(valid.sum(), 1)
    return float((per_action * weights).sum() / weights.sum())


# ---- demo world --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class DemoWindows:
    """Rows of the demo log in the train, validation and test windows."""

    log: InteractionLog
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def demo_windows(world: DemoWorld) -> DemoWindows:
    log = demo_world_log(world)
    age = world.now - log.timestamp
    return DemoWindows(
        log=log,
        train=np.flatnonzero(age > 24 * 3_600),
        validation=np.flatnonzero((age <= 24 * 3_600) & (age > 12 * 3_600)),
        test=np.flatnonzero(age <= 12 * 3_600),
    )


def demo_ranker_task(
    world: DemoWorld,
    model_cfg: PhoenixConfig,
    cfg: TrainConfig,
    holdout: bool = True,
    encoder: str = "tfidf",
) -> TrainingTask:
    """The ranker on feed requests of ``candidate_seq_len`` consecutive impressions.

    ``holdout=False`` trains on every impression up to ``now`` (a model to serve the demo
    world with, whose posts then all have trained embeddings) for a fixed number of steps,
    without validation: choose the step count with a ``holdout=True`` run.
    """
    windows = demo_windows(world)
    content = demo_content_model(world, model_cfg, encoder)
    hashed = HashedLog.build(windows.log, model_cfg, demo_post_features(world, content))
    slots = model_cfg.candidate_seq_len
    rows = windows.train if holdout else np.arange(len(windows.log))
    train = impression_chunks(windows.log, rows, slots)
    bias = base_rate_logits(train.labels, train.post_id != 0)
    validation = impression_chunks(windows.log, windows.validation, slots)
    validation = validation.take(np.arange(min(DEMO_VALIDATION_REQUESTS, len(validation[0]))))
    net = ranker_network(model_cfg)
    loss_fn = ranker_loss_fn(net, model_cfg, cfg, np.ones(model_cfg.num_actions))
    indices = _epoch_batches(len(train.context_row), cfg.batch_size, cfg.seed)
    scorer = RankerScorer(net)
    weights = np.ones(model_cfg.num_actions) if cfg.action_weights is None else cfg.action_weights
    val_inputs = ranker_batch(hashed, validation)
    valid = validation.post_id != 0
    favorite = ACTION_INDEX["favorite"]

    def validate(params: Any) -> tuple[float, dict[str, float]]:
        probs = scorer.probabilities(params, val_inputs.context, val_inputs.candidates)
        loss = _weighted_bce(validation.labels, probs, valid, np.asarray(weights))
        auc = roc_auc(validation.labels[valid][:, favorite], probs[valid][:, favorite])
        return -loss, {"val_loss": loss, "val_favorite_auc": auc}

    return TrainingTask(
        kind="ranker",
        model_config=model_cfg,
        init_params=lambda key: with_action_bias(net.init(key), bias),
        loss_fn=loss_fn,
        batch=lambda step: _ranker_train_batch(hashed, train.take(indices(step))),
        validate=validate if holdout else None,
        save_model=_saver("ranker", model_cfg, content),
        description=f"demo world seed={world.config.seed}, {len(train.context_row)} requests",
        examples_per_row=slots,
        summary=_content_summary(world, content),
    )


def _content_summary(world: DemoWorld, content: ContentModel | None) -> dict[str, Any]:
    if content is None:
        return {}
    return {"semantic_ids": content.report(world.posts.text.tolist())}


def demo_retrieval_targets(
    windows: DemoWindows, rows: np.ndarray, max_users: int | None = None
) -> np.ndarray:
    """Each user's first positive row among ``rows`` (one target per user)."""
    log = windows.log
    positive = rows[log.positive(POSITIVE_ACTIONS)[rows]]
    _, first = np.unique(log.user_id[positive], return_index=True)
    targets = positive[first]
    return targets if max_users is None else targets[:max_users]


def demo_retrieval_task(
    world: DemoWorld,
    model_cfg: PhoenixConfig,
    cfg: TrainConfig,
    holdout: bool = True,
    encoder: str = "tfidf",
) -> TrainingTask:
    """Retrieval on (context, next positively engaged post) pairs, whole corpus validation.

    ``holdout=False`` trains on every impression up to ``now`` without validation, as for
    the ranker.
    """
    windows = demo_windows(world)
    log = windows.log
    content = demo_content_model(world, model_cfg, encoder)
    features = demo_post_features(world, content)
    hashed = HashedLog.build(log, model_cfg, features)
    rows = windows.train if holdout else np.arange(len(log))
    positives = rows[log.positive(POSITIVE_ACTIONS)[rows]]
    net = retrieval_network(model_cfg)
    indices = _epoch_batches(positives.size, cfg.batch_size, cfg.seed)
    log_q = _log_q(log, positives, cfg.logq_correction)

    def batch(step: int) -> RetrievalTrainBatch:
        rows = positives[indices(step)]
        return RetrievalTrainBatch(retrieval_batch(hashed, rows), log_q(rows))

    corpus = CorpusHashes.demo(world, model_cfg, features)
    targets = demo_retrieval_targets(windows, windows.validation, DEMO_VALIDATION_USERS)
    context = hashed.context(targets)
    target_index = world.post_index(log.post_id[targets])
    excluded = demo_unrankable(world, log, targets)
    scorer = RetrievalScorer(net)

    def validate(params: Any) -> tuple[float, dict[str, float]]:
        scores = scorer.users(params, context) @ corpus.embed(scorer, params).T
        return _validation_score(target_ranks(scores, target_index, excluded), "HR@100")

    return TrainingTask(
        kind="retrieval",
        model_config=model_cfg,
        init_params=net.init,
        loss_fn=retrieval_loss_fn(net, cfg),
        batch=batch,
        validate=validate if holdout else None,
        save_model=_saver("retrieval", model_cfg, content),
        description=f"demo world seed={world.config.seed}, {positives.size} positives",
        summary=_content_summary(world, content),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class CorpusHashes:
    """Hashed ids (and content inputs) of every candidate post: what retrieval ranks."""

    post_id: np.ndarray  # [I]
    post_hashes: np.ndarray  # [I, Hi]
    author_hashes: np.ndarray  # [I, Ha]
    sids: np.ndarray | None = None  # [I, L] shifted codes (content models)
    media: np.ndarray | None = None  # [I]

    @classmethod
    def build(
        cls,
        post_id: np.ndarray,
        author_id: np.ndarray,
        cfg: PhoenixConfig,
        features: PostFeatures | None = None,
    ) -> CorpusHashes:
        sids, media = features.lookup(post_id) if features is not None else (None, None)
        return cls(
            post_id,
            hash_ids(post_id, cfg.item_hash),
            hash_ids(author_id, cfg.author_hash),
            sids if cfg.sid_levels else None,
            media if cfg.media_inputs else None,
        )

    @classmethod
    def demo(
        cls, world: DemoWorld, cfg: PhoenixConfig, features: PostFeatures | None = None
    ) -> CorpusHashes:
        return cls.build(world.posts.post_id, world.posts.author_id, cfg, features)

    def embed(self, scorer: RetrievalScorer, params: Any) -> np.ndarray:
        return scorer.items(params, self.post_hashes, self.author_hashes, self.sids, self.media)


def demo_unrankable(world: DemoWorld, log: InteractionLog, rows: np.ndarray) -> np.ndarray:
    """``[R, P]`` bool: posts not to rank for each target row.

    Those the user already saw before the row, and those not yet created at the row's time
    (retrieval can only return posts that exist).
    """
    mask = world.posts.created_at[None, :] >= log.timestamp[rows][:, None]
    for i, row in enumerate(rows):
        first = np.searchsorted(log.user_id, log.user_id[row])
        mask[i, world.post_index(log.post_id[first:row])] = True
    return mask


# ---- MovieLens ---------------------------------------------------------------------------------


def movielens_action_mask(model_cfg: PhoenixConfig) -> np.ndarray:
    mask = np.zeros(model_cfg.num_actions)
    mask[[model_cfg.action_names.index(a) for a in MOVIELENS_ACTIONS]] = 1.0
    return mask


@dataclasses.dataclass(frozen=True, eq=False)
class MovieLensPhase:
    """A protocol phase prepared for one model config: its log, contexts and catalogue."""

    split: ProtocolSplit
    hashed: HashedLog
    corpus: CorpusHashes
    target_index: np.ndarray  # [E] catalogue index of each evaluated user's target
    excluded: np.ndarray  # [E, I] movies rated before the target

    content: ContentModel | None = None  # saved with the checkpoints (content models)

    @classmethod
    def build(
        cls, split: ProtocolSplit, model_cfg: PhoenixConfig, content: ContentModel | None = None
    ) -> MovieLensPhase:
        """``content`` is needed by a config with content inputs (e.g. from
        :func:`movielens_content_model`); the movies' features are computed from it."""
        data = split.data
        features = movielens_post_features(data, content) if model_cfg.has_content else None
        return cls(
            split=split,
            hashed=HashedLog.build(movielens_log(data, split.train), model_cfg, features),
            corpus=CorpusHashes.build(data.movie_ids, data.movie_author, model_cfg, features),
            target_index=data.movie_index(split.target_movie),
            excluded=split.excluded_mask(),
            content=content,
        )

    def contexts(self):
        """Each evaluated user's context: every rating before the phase's target."""
        return self.hashed.context_at_end(self.split.eval_users)

    def popularity_scores(self) -> np.ndarray:
        """``[E, I]`` positives per movie in this phase's training data, excluded at -inf."""
        log = self.hashed.log
        positive = log.positive(("favorite",))
        counts = np.bincount(
            self.split.data.movie_index(log.post_id[positive]),
            minlength=self.split.data.movie_ids.size,
        ).astype(np.float64)
        return np.where(self.excluded, -np.inf, counts[None, :])

    def retrieval_scores(self, scorer: RetrievalScorer, params: Any) -> np.ndarray:
        """``[E, I]`` retrieval scores over the catalogue, excluded movies at -inf."""
        scores = scorer.users(params, self.contexts()) @ self.corpus.embed(scorer, params).T
        return np.where(self.excluded, -np.inf, scores)

    def rerank(
        self,
        scorer: RankerScorer,
        params: Any,
        candidates: np.ndarray,  # [E, K] catalogue indices, best first
        action: str = "favorite",
    ) -> np.ndarray:
        """``[E, K]`` ranker probabilities of ``action`` for each user's candidates."""
        data = self.split.data
        cfg = self.hashed.config
        movie = data.movie_ids[candidates]
        sids, media = self.hashed.post_content(movie)
        cands = ranker_candidates(cfg, movie, data.movie_author[candidates], sids, media)
        probs = scorer.probabilities(params, self.contexts(), cands)
        return probs[..., cfg.action_names.index(action)]


def ranker_candidates(
    cfg: PhoenixConfig,
    post_id: np.ndarray,
    author_id: np.ndarray,
    sids: np.ndarray | None = None,
    media: np.ndarray | None = None,
):
    from phoenix_models.batch import CandidateBatch

    return CandidateBatch(
        post_hashes=hash_ids(post_id, cfg.item_hash),
        author_hashes=hash_ids(author_id, cfg.author_hash),
        product_surface=np.zeros(post_id.shape, np.int32),
        post_age=np.zeros(post_id.shape, np.int32),
        sids=sids,
        media=media,
    )


def rank_within_candidates(
    candidates: np.ndarray, order_scores: np.ndarray, target_index: np.ndarray
) -> np.ndarray:
    """Rank of each target after re-ordering its candidate list by ``order_scores``.

    A target missing from the list gets rank ``K`` (a miss at every cut-off up to K).
    """
    k = candidates.shape[1]
    order = np.argsort(-order_scores, axis=1, kind="stable")
    reordered = np.take_along_axis(candidates, order, axis=1)
    hit = reordered == target_index[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), k)


def movielens_retrieval_task(
    phase: MovieLensPhase, cfg: TrainConfig, positive: str = "favorite"
) -> TrainingTask:
    """Retrieval on (context, next positive movie); validation = the phase's NDCG@10."""
    model_cfg = phase.hashed.config
    log = phase.hashed.log
    positives = np.flatnonzero(log.positive((positive,)))
    net = retrieval_network(model_cfg)
    indices = _epoch_batches(positives.size, cfg.batch_size, cfg.seed)
    log_q = _log_q(log, positives, cfg.logq_correction)
    scorer = RetrievalScorer(net)

    def batch(step: int) -> RetrievalTrainBatch:
        rows = positives[indices(step)]
        return RetrievalTrainBatch(retrieval_batch(phase.hashed, rows), log_q(rows))

    def validate(params: Any) -> tuple[float, dict[str, float]]:
        scores = phase.retrieval_scores(scorer, params)
        ranks = target_ranks(scores, phase.target_index, phase.excluded)
        return _validation_score(ranks, "NDCG@10")

    return TrainingTask(
        kind="retrieval",
        model_config=model_cfg,
        init_params=net.init,
        loss_fn=retrieval_loss_fn(net, cfg),
        batch=batch,
        validate=validate,
        save_model=_saver("retrieval", model_cfg, phase.content),
        description=f"movielens {phase.split.phase} phase, {positives.size} positives",
    )


def retrieval_top_k(
    hashed: HashedLog,
    corpus: CorpusHashes,
    scorer: RetrievalScorer,
    params: Any,
    context_rows: np.ndarray,
    k: int,
    block: int = 1_024,
) -> np.ndarray:
    """``[R, k]`` catalogue indices of retrieval's top k for the context before each row
    (all of a catalogue smaller than k)."""
    items = corpus.embed(scorer, params)
    k = min(k, items.shape[0])
    out = np.empty((context_rows.size, k), np.int64)
    for start in range(0, context_rows.size, block):
        rows = context_rows[start : start + block]
        scores = scorer.users(params, hashed.context(rows)) @ items.T
        out[start : start + rows.size] = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return out


def movielens_ranker_task(
    phase: MovieLensPhase,
    cfg: TrainConfig,
    validation_candidates: np.ndarray | None,
    rated_per_request: int = 8,
    retrieval_params: Any | None = None,
    pool_size: int = 50,
) -> TrainingTask:
    """The ranker on requests of rated movies padded with movies the user never rated.

    Each request holds ``rated_per_request`` consecutive ratings of a user (labelled by the
    rating -> action mapping) and ``candidate_seq_len - rated_per_request`` movies the user
    never rated, labelled "no action". Without a retrieval model they are drawn by
    popularity ** 0.75. With ``retrieval_params`` (a retrieval model of the same config),
    half of them are drawn from retrieval's top ``pool_size`` for the request's own
    context, which is what re-ranking is asked to order, and every parameter the two models
    share starts from the retrieval model (:func:`~phoenix_models.train.warm_start`).
    With ``validation_candidates`` ([E, K] catalogue indices, e.g. retrieval's top K), the
    validation score is NDCG@10 after re-ranking them by P(favorite).
    """
    model_cfg = phase.hashed.config
    negatives = model_cfg.candidate_seq_len - rated_per_request
    if negatives < 1:
        raise ValueError(
            f"rated_per_request ({rated_per_request}) must leave room for sampled negatives "
            f"in candidate_seq_len ({model_cfg.candidate_seq_len})"
        )
    log = phase.hashed.log
    data = phase.split.data
    chunks = impression_chunks(log, np.arange(len(log)), rated_per_request)
    counts = np.bincount(data.movie_index(log.post_id), minlength=data.movie_ids.size)
    catalogue = Catalogue(data.movie_ids, data.movie_author, counts.astype(np.float64) ** 0.75)
    net = ranker_network(model_cfg)
    indices = _epoch_batches(len(chunks.context_row), cfg.batch_size, cfg.seed)
    loss_fn = ranker_loss_fn(net, model_cfg, cfg, movielens_action_mask(model_cfg))
    scorer = RankerScorer(net)
    pool = None
    if retrieval_params is not None:
        retrieval = RetrievalScorer(retrieval_network(model_cfg))
        pool = retrieval_top_k(
            phase.hashed, phase.corpus, retrieval, retrieval_params, chunks.context_row, pool_size
        )
    hard = negatives // 2 if pool is not None else 0

    def batch(step: int) -> RankerTrainBatch:
        rng = np.random.default_rng([cfg.seed, step, 1])
        chosen = indices(step)
        requests = chunks.take(chosen)
        pick = popularity_picks(catalogue, chosen.size, negatives - hard, rng)
        if pool is not None:
            pick = np.concatenate([pool_picks(pool, chosen, hard, rng), pick], axis=1)
        examples = with_sampled_negatives(requests, log, catalogue, pick)
        return _ranker_train_batch(phase.hashed, examples)

    def validate(params: Any) -> tuple[float, dict[str, float]]:
        probs = phase.rerank(scorer, params, validation_candidates)
        ranks = rank_within_candidates(validation_candidates, probs, phase.target_index)
        return _validation_score(ranks, "NDCG@10", ks=(10,))

    # A model with an output bias (the content recipe, as in the demo's) starts it at the
    # base rates of the training requests: every rated slot, and each request's sampled
    # negatives as "no action".
    bias = None
    if model_cfg.action_bias:
        pad = ((0, 0), (0, negatives))
        bias = base_rate_logits(
            np.pad(chunks.labels, (*pad, (0, 0))),
            np.pad(chunks.post_id != 0, pad, constant_values=True),
        )

    def init(key: Any) -> Any:
        params = net.init(key) if bias is None else with_action_bias(net.init(key), bias)
        return params if retrieval_params is None else warm_start(params, retrieval_params)[0]

    return TrainingTask(
        kind="ranker",
        model_config=model_cfg,
        init_params=init,
        loss_fn=loss_fn,
        batch=batch,
        validate=None if validation_candidates is None else validate,
        save_model=_saver("ranker", model_cfg, phase.content),
        description=f"movielens {phase.split.phase} phase, {len(chunks.context_row)} requests",
        examples_per_row=model_cfg.candidate_seq_len,
    )
