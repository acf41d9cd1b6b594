"""Training the Phoenix ranker and retrieval model with optax.

The pieces, smallest first:

* :func:`ranker_loss`: multi-task binary cross-entropy over the actions (per-action weights,
  padding candidates masked) plus a squared-error loss on the continuous dwell head.
* :func:`retrieval_loss`: in-batch sampled softmax: each context's positive post against
  the other positives of the batch, cosine logits divided by a temperature, duplicates of
  the positive masked out, optionally corrected by the log of each post's sampling
  frequency (logQ) so popular posts are not over-penalised as negatives.
* :func:`make_optimizer`: ``optax.chain`` of global-norm clipping and AdamW on a warm-up +
  cosine schedule.
* :class:`TrainingState` and :func:`make_update`: one jitted
  ``update(state, batch) -> (state, metrics)``, optionally keeping a moving average of
  the weights (``ema_decay``) that validation and checkpoints use.
* :func:`fit`: the loop: deterministic batches (a pure function of seed and step, so a
  resumed run sees the same batches), a rich progress bar, evaluation every
  ``eval_every`` steps with early stopping, the best model saved as a checkpoint in our
  format, the full training state saved every ``checkpoint_every`` steps for ``resume``,
  and Ctrl-C leaving both a loadable model and a resumable state behind.

Model weights are initialised by the models themselves (fan-in scaled normals, unit RMSNorm
scales), never with the published code's zeros, which cannot learn.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phoenix_models.atomic import atomic_savez, atomic_write
from phoenix_models.batch import PhoenixBatch
from phoenix_models.config import PhoenixConfig
from phoenix_models.data.examples import RetrievalBatch
from phoenix_models.ranker import RankerNetwork
from phoenix_models.retrieval import RetrievalNetwork

ModelKind = Literal["ranker", "retrieval"]
STATE_DIR = "training"
"""Sub-folder of a checkpoint that holds the resumable training state."""
DWELL_OUTPUT = 0
"""Index of the continuous head output trained on dwell time."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loop settings (the model's own shape lives in ``PhoenixConfig``).

    Attributes:
        batch_size: ranking requests per step (ranker) or positives per step (retrieval;
            the other positives of the batch are each one's negatives).
        learning_rate, warmup_steps, weight_decay, grad_clip_norm: AdamW on a linear
            warm-up then cosine decay to a tenth of the peak over ``max_steps``.
        max_steps: upper bound on steps, and the length of the learning-rate schedule;
            early stopping usually ends sooner.
        stop_step: end at this step on the ``max_steps`` schedule (``None``: at
            ``max_steps``). Refits a run for the step count its validation chose, with the
            learning rates that run had up to there.
        eval_every: steps between validations (and best-model checkpoints).
        checkpoint_every: steps between resumable training-state saves.
        patience: validations without improvement before stopping (0 = never stop early).
        seed: initialisation and batch order.
        temperature: retrieval softmax temperature (cosine logits are divided by it).
        logq_correction: subtract log sampling frequency from retrieval logits.
        dwell_loss_weight: weight of the continuous dwell loss next to the action losses.
        dwell_scale_s: dwell target is ``min(dwell / dwell_scale_s, 1)``.
        action_weights: per-action BCE weights (``PhoenixConfig.action_names`` order);
            ``None`` weighs every action 1. A data set can mask actions it never records.
        ema_decay: validate and save a moving average of the weights (0 = the raw
            weights); 0.99 averages over roughly the last 100 steps.
    """

    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    max_steps: int = 2_000
    eval_every: int = 200
    checkpoint_every: int = 200
    patience: int = 3
    seed: int = 0
    temperature: float = 0.05
    logq_correction: bool = False
    dwell_loss_weight: float = 0.1
    dwell_scale_s: float = 60.0
    action_weights: tuple[float, ...] | None = None
    ema_decay: float = 0.0
    stop_step: int | None = None

    def __post_init__(self) -> None:
        positive = ("batch_size", "max_steps", "eval_every", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "temperature", "grad_clip_norm", "dwell_scale_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("warmup_steps", "patience", "weight_decay", "dwell_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must lie in [0, 1), got {self.ema_decay}")
        if self.stop_step is not None and not 1 <= self.stop_step <= self.max_steps:
            raise ValueError(
                f"TrainConfig.stop_step must lie in [1, max_steps={self.max_steps}], "
                f"got {self.stop_step}"
            )
        if self.action_weights is not None and min(self.action_weights) < 0:
            raise ValueError("TrainConfig.action_weights must be >= 0")

    @property
    def last_step(self) -> int:
        """The step training ends at when nothing stops it sooner."""
        return self.max_steps if self.stop_step is None else self.stop_step

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; expected {sorted(known)}")
        if data.get("action_weights") is not None:
            data = {**data, "action_weights": tuple(data["action_weights"])}
        return cls(**data)


class RankerTrainBatch(NamedTuple):
    """Ranker inputs with labels; padding candidates have ``post_hashes[..., 0] == 0``."""

    inputs: PhoenixBatch
    labels: Any  # [B, C, A] float32
    dwell_s: Any  # [B, C] float32


class RetrievalTrainBatch(NamedTuple):
    """Contexts, their positives, and each positive's log sampling frequency."""

    inputs: RetrievalBatch
    log_q: Any  # [B] float32, log P(post is a positive); zeros without logQ correction


class TrainingState(NamedTuple):
    params: Any
    opt_state: Any
    step: Any  # int32 scalar
    ema_params: Any  # exponential moving average of params (== params when disabled)


def init_state(params: Any, optimizer: optax.GradientTransformation) -> TrainingState:
    return TrainingState(params, optimizer.init(params), jnp.zeros((), jnp.int32), params)


# ---- losses -----------------------------------------------------------------------------------


def ranker_loss(
    net: RankerNetwork,
    params: Any,
    batch: RankerTrainBatch,
    action_weights: jax.Array,  # [A]
    dwell_loss_weight: float,
    dwell_scale_s: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted mean BCE over real candidates and actions, plus the dwell loss."""
    out = net.apply(params, batch.inputs)
    valid = (batch.inputs.candidates.post_hashes[..., 0] != 0).astype(jnp.float32)  # [B, C]
    n = jnp.maximum(valid.sum(), 1.0)
    bce = optax.sigmoid_binary_cross_entropy(out.logits, batch.labels)  # [B, C, A]
    per_action = jnp.einsum("bca,bc->a", bce, valid) / n  # [A]
    action_loss = jnp.sum(per_action * action_weights) / jnp.maximum(action_weights.sum(), 1e-9)
    target = jnp.minimum(batch.dwell_s / dwell_scale_s, 1.0)
    dwell_loss = jnp.sum(valid * (out.continuous[..., DWELL_OUTPUT] - target) ** 2) / n
    loss = action_loss + dwell_loss_weight * dwell_loss
    return loss, {"loss": loss, "action_loss": action_loss, "dwell_loss": dwell_loss}


def retrieval_loss(
    net: RetrievalNetwork,
    params: Any,
    batch: RetrievalTrainBatch,
    temperature: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """In-batch sampled softmax; row ``i``'s positive is column ``i``."""
    inputs = batch.inputs
    users = net.user_embedding(params, inputs.context)  # [B, D]
    posts = net.candidate_embeddings(
        params, inputs.post_hashes, inputs.author_hashes, inputs.sids, inputs.media
    )  # [B, D]
    logits = users @ posts.T / temperature - batch.log_q[None, :]  # [B, B]
    b = logits.shape[0]
    duplicate = (inputs.post_id[:, None] == inputs.post_id[None, :]) & ~jnp.eye(b, dtype=bool)
    logits = jnp.where(duplicate, -1e9, logits)
    labels = jnp.arange(b)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    accuracy = (jnp.argmax(logits, axis=1) == labels).mean()
    return loss, {"loss": loss, "in_batch_accuracy": accuracy}


def base_rate_logits(labels: np.ndarray, valid: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """``[A]`` logit of each action's rate among the real candidates (``labels`` ``[..., A]``,
    ``valid`` ``[...]``), the rate clipped to ``[floor, 1 - floor]`` so an action never seen
    does not start at minus infinity."""
    labels = np.asarray(labels, np.float64)[np.asarray(valid, bool)]
    rate = np.clip(labels.mean(axis=0) if labels.size else 0.5, floor, 1 - floor)
    return np.log(rate / (1 - rate)).astype(np.float32)


def with_action_bias(params: Any, bias: np.ndarray, module: str = "phoenix_model") -> Any:
    """``params`` with the ranker's ``action_bias`` set to ``bias`` (e.g. base-rate logits,
    so training starts from the constant predictor instead of carving base rates from
    0.07 % to 5 % out of a unit-norm vector). Params without the bias are returned as is."""
    if "action_bias" not in params.get(module, {}):
        return params
    value = jnp.asarray(bias, dtype=params[module]["action_bias"].dtype)
    return {**params, module: {**params[module], "action_bias": value}}


def warm_start(params: Any, donor: Any) -> tuple[Any, list[str]]:
    """``params`` with every parameter that ``donor`` has under the same name and shape.

    Lets the ranker start from a trained retrieval model: both share the hash tables and
    the transformer's parameter names, so collaborative embeddings and the context encoder
    carry over while the ranker-only parts (candidate projection, heads) start fresh.
    Returns the new params and the names taken from ``donor``.
    """
    merged, taken = {}, []
    for module, values in params.items():
        merged[module] = {}
        for name, value in values.items():
            theirs = donor.get(module, {}).get(name)
            if theirs is not None and np.shape(theirs) == np.shape(value):
                merged[module][name] = jnp.asarray(theirs, dtype=value.dtype)
                taken.append(f"{module}/{name}")
            else:
                merged[module][name] = value
    return merged, taken


# ---- optimiser and update ---------------------------------------------------------------------


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then AdamW on warm-up + cosine decay to 10 % of the peak.

    Only matrices and tables decay: a decayed output bias drifts off the base rate it
    starts at, and rare actions then lose calibration first (docs/training.md)."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        decay_steps=max(cfg.max_steps, cfg.warmup_steps + 1),
        end_value=cfg.learning_rate * 0.1,
    )
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip_norm),
        optax.adamw(schedule, weight_decay=cfg.weight_decay, mask=_decayed),
    )


def _decayed(params: Any) -> Any:
    return jax.tree_util.tree_map(lambda p: p.ndim > 1, params)


def make_update(
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]],
    optimizer: optax.GradientTransformation,
    ema_decay: float = 0.0,
) -> Callable[[TrainingState, Any], tuple[TrainingState, dict[str, jax.Array]]]:
    """The jitted ``update(state, batch) -> (state, metrics)`` for ``loss_fn(params, batch)``.

    With ``ema_decay`` > 0 the state also tracks a moving average of the weights, which
    validation and checkpoints use: it smooths the step-to-step noise of small-batch
    training, so early stopping compares models rather than noise.
    """

    @jax.jit
    def update(state: TrainingState, batch: Any) -> tuple[TrainingState, dict[str, jax.Array]]:
        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = jax.tree_util.tree_map(
            lambda avg, new: ema_decay * avg + (1.0 - ema_decay) * new, state.ema_params, params
        )
        metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        return TrainingState(params, opt_state, state.step + 1, ema), metrics

    return update


def _optimizer_settings(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the fields the optimiser ignores reset, as a cache key."""
    defaults = TrainConfig()
    return dataclasses.replace(
        defaults,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        grad_clip_norm=cfg.grad_clip_norm,
        max_steps=cfg.max_steps,
        ema_decay=cfg.ema_decay,
    )


@functools.lru_cache(maxsize=8)
def _compiled_update(loss_fn: Callable, settings: TrainConfig) -> Callable:
    """One jitted update per (loss, optimiser settings): repeated fits (a resume, a grid
    search, the tests) reuse the compiled step instead of tracing it again."""
    return make_update(loss_fn, make_optimizer(settings), settings.ema_decay)


def ranker_loss_fn(
    net: RankerNetwork, model_cfg: PhoenixConfig, cfg: TrainConfig, action_mask: np.ndarray
) -> Callable[[Any, RankerTrainBatch], tuple[jax.Array, dict[str, jax.Array]]]:
    """``loss(params, batch)`` for the ranker, with the data set's action mask applied."""
    weights = np.ones(model_cfg.num_actions) if cfg.action_weights is None else cfg.action_weights
    if len(weights) != model_cfg.num_actions:
        raise ValueError(
            f"action_weights has {len(weights)} entries, the model has {model_cfg.num_actions} "
            f"actions ({', '.join(model_cfg.action_names)})"
        )
    weights = jnp.asarray(np.asarray(weights, np.float32) * action_mask)
    return lambda params, batch: ranker_loss(
        net, params, batch, weights, cfg.dwell_loss_weight, cfg.dwell_scale_s
    )


def retrieval_loss_fn(
    net: RetrievalNetwork, cfg: TrainConfig
) -> Callable[[Any, RetrievalTrainBatch], tuple[jax.Array, dict[str, jax.Array]]]:
    return lambda params, batch: retrieval_loss(net, params, batch, cfg.temperature)


# ---- the loop ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainingTask:
    """What :func:`fit` needs from a data set and a model, as plain callables.

    Attributes:
        kind: "ranker" or "retrieval" (the checkpoint kind).
        model_config: the model's config (saved with the weights).
        init_params: ``init(rng_key) -> params``.
        loss_fn: ``loss(params, batch) -> (loss, metrics)``.
        batch: ``batch(step) -> batch``; must be a pure function of the step (and the
            task's seed), so a resumed run continues with the batches it would have seen.
        validate: ``validate(params) -> (score, metrics)``, higher score is better; ``None``
            trains to ``cfg.last_step`` and keeps the last weights.
        save_model: ``save(params, folder)`` writes a checkpoint in our format.
        description: a one-line summary recorded with the checkpoint.
        examples_per_row: training examples in one batch row (a ranker request holds
            ``candidate_seq_len`` candidates), for the examples/s figure.
        summary: facts about the task to print before training (e.g. the semantic-ID
            codebook quality), JSON-serialisable.
    """

    kind: ModelKind
    model_config: PhoenixConfig
    init_params: Callable[[jax.Array], Any]
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]]
    batch: Callable[[int], Any]
    validate: Callable[[Any], tuple[float, dict[str, float]]] | None
    save_model: Callable[[Any, Path], None]
    description: str = ""
    examples_per_row: int = 1
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FitResult:
    params: Any
    steps: int
    best_step: int
    best_score: float
    history: tuple[dict[str, float], ...]
    interrupted: bool
    seconds: float
    examples_per_s: float


def fit(
    task: TrainingTask,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Trains ``task`` and leaves the best model in ``out_dir`` (see the module docstring).

    Raises:
        FileExistsError: ``out_dir`` holds a training state and ``resume`` is False.
        FileNotFoundError: ``resume`` is True but ``out_dir`` has no training state.
    """
    out_dir = Path(out_dir)
    state_dir = out_dir / STATE_DIR
    optimizer = make_optimizer(cfg)
    params = task.init_params(jax.random.PRNGKey(cfg.seed))
    state = init_state(params, optimizer)
    meta = {"best_score": -math.inf, "best_step": 0, "stale": 0, "history": []}
    if resume:
        if not (state_dir / "state.npz").exists():
            raise FileNotFoundError(f"no training state to resume in {state_dir}")
        state, meta = _load_state(state_dir, state, cfg)
    elif (state_dir / "state.npz").exists():
        raise FileExistsError(
            f"{out_dir} already holds a training run; pass resume=True (--resume) to continue "
            "it, or choose another output folder"
        )
    out_dir.mkdir(parents=True, exist_ok=True)

    update = _compiled_update(task.loss_fn, _optimizer_settings(cfg))
    start_step = int(state.step)
    started = time.perf_counter()
    interrupted = False
    metrics: dict[str, float] = {}
    end = cfg.last_step
    with _Progress(progress, end, start_step, task.kind) as bar:
        try:
            for step in range(start_step, end):
                state, step_metrics = update(state, task.batch(step))
                done = step + 1
                if done % 10 == 0 or done == end:
                    metrics = {k: float(v) for k, v in step_metrics.items()}
                    if not all(math.isfinite(v) for v in metrics.values()):
                        raise FloatingPointError(f"non-finite training metrics at step {done}")
                bar.advance(metrics)
                stop = False
                if task.validate is not None and (done % cfg.eval_every == 0 or done == end):
                    stop = _validate(task, cfg, state, meta, out_dir, done, metrics, bar)
                if done % cfg.checkpoint_every == 0 or stop or done == end:
                    _save_state(state_dir, state, meta, cfg, task)
                if stop:
                    break
        except KeyboardInterrupt:
            interrupted = True
            _save_state(state_dir, state, meta, cfg, task)
    steps_run = int(state.step) - start_step
    seconds = time.perf_counter() - started
    if meta["best_step"] == 0:
        # No validation (or none reached yet, e.g. Ctrl-C early): the latest weights are the
        # best we have, so the folder is always a loadable checkpoint.
        task.save_model(state.ema_params, out_dir)
        meta["best_step"] = int(state.step)
        best_params = state.ema_params
    else:
        best_params = _best_params(out_dir, state.ema_params)
    examples = steps_run * cfg.batch_size * task.examples_per_row
    return FitResult(
        params=best_params,
        steps=int(state.step),
        best_step=int(meta["best_step"]),
        best_score=float(meta["best_score"]),
        history=tuple(meta["history"]),
        interrupted=interrupted,
        seconds=seconds,
        examples_per_s=examples / seconds if seconds > 0 else 0.0,
    )


def _validate(task, cfg, state, meta, out_dir, done, metrics, bar) -> bool:
    score, val_metrics = task.validate(state.ema_params)
    record = {"step": done, "score": float(score), **metrics, **val_metrics}
    meta["history"].append(record)
    if score > meta["best_score"]:
        meta.update(best_score=float(score), best_step=done, stale=0)
        task.save_model(state.ema_params, out_dir)
        _save_best_params(out_dir / STATE_DIR, state.ema_params)
    else:
        meta["stale"] += 1
    bar.note(record, meta["best_score"])
    return cfg.patience > 0 and meta["stale"] >= cfg.patience


def _best_params(out_dir: Path, latest: Any) -> Any:
    best = out_dir / STATE_DIR / "best.npz"
    if not best.exists():
        return latest
    with np.load(best) as data:
        leaves = [data[f"leaf_{i}"] for i in range(len(data.files))]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(latest), leaves)


# ---- resumable state --------------------------------------------------------------------------


def _save_state(state_dir: Path, state: TrainingState, meta: dict, cfg: TrainConfig, task) -> None:
    """Writes params + optimiser state + loop bookkeeping, each file atomically."""
    state_dir.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves(state)
    atomic_savez(
        state_dir / "state.npz", {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    )
    info = {
        "step": int(state.step),
        "train_config": cfg.to_dict(),
        "model_kind": task.kind,
        "description": task.description,
        **{k: meta[k] for k in ("best_score", "best_step", "stale", "history")},
    }
    atomic_write(state_dir / "trainer.json", json.dumps(info, indent=2).encode())


def _save_best_params(state_dir: Path, params: Any) -> None:
    """Keeps a copy of the best params (fit's return value, even after a resume)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves(params)
    atomic_savez(state_dir / "best.npz", {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)})


def _load_state(
    state_dir: Path, template: TrainingState, cfg: TrainConfig
) -> tuple[TrainingState, dict]:
    info = json.loads((state_dir / "trainer.json").read_text())
    saved_cfg = TrainConfig.from_dict(info["train_config"])
    if dataclasses.replace(saved_cfg, max_steps=cfg.max_steps, stop_step=cfg.stop_step) != cfg:
        raise ValueError(
            f"{state_dir}: the run was started with a different training config; resume with "
            f"the same settings (only max_steps and stop_step may change). Saved: {saved_cfg}"
        )
    treedef = jax.tree_util.tree_structure(template)
    expected = jax.tree_util.tree_leaves(template)
    with np.load(state_dir / "state.npz") as data:
        if len(data.files) != len(expected):
            raise ValueError(
                f"{state_dir / 'state.npz'}: holds {len(data.files)} arrays, the model and "
                f"optimiser need {len(expected)}; was it written for another model config?"
            )
        leaves = []
        for i, want in enumerate(expected):
            got = data[f"leaf_{i}"]
            if got.shape != np.shape(want):
                raise ValueError(
                    f"{state_dir / 'state.npz'}: array leaf_{i} has shape {got.shape}, "
                    f"expected {np.shape(want)}"
                )
            leaves.append(jnp.asarray(got, dtype=jnp.asarray(want).dtype))
    meta = {k: info[k] for k in ("best_score", "best_step", "stale", "history")}
    return jax.tree_util.tree_unflatten(treedef, leaves), meta


# ---- progress ---------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar with the latest loss and validation score; silent when disabled."""

    def __init__(self, enabled: bool, total: int, completed: int, kind: str) -> None:
        self._enabled, self._total, self._completed, self._kind = enabled, total, completed, kind
        self._progress: Any = None
        self._task: Any = None
        self._validation = ""

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn(f"[bold]train {self._kind}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self._kind, total=self._total, completed=self._completed, metrics=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, metrics: dict[str, float]) -> None:
        if self._progress is not None:
            shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "grad_norm")
            self._progress.update(self._task, advance=1, metrics=f"{shown} {self._validation}")

    def note(self, record: dict[str, float], best: float) -> None:
        self._validation = f"| val {record['score']:.4f} (best {best:.4f})"


def remove_training_state(out_dir: str | Path) -> None:
    """Deletes the resumable state (e.g. before committing a small demo checkpoint)."""
    shutil.rmtree(Path(out_dir) / STATE_DIR, ignore_errors=True)
