"""Losses against the obvious numpy versions, the update step, and the training loop."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phoenix_models.config import PhoenixConfig
from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world
from phoenix_models.ranker import Ranker, ranker_network
from phoenix_models.retrieval import Retriever, retrieval_network
from phoenix_models.train import (
    STATE_DIR,
    TrainConfig,
    fit,
    init_state,
    make_optimizer,
    make_update,
    ranker_loss,
    retrieval_loss,
    warm_start,
)
from phoenix_models.train_tasks import demo_ranker_task, demo_retrieval_task

MODEL = PhoenixConfig.tiny(position_mode="right_anchored")
FAST = TrainConfig(batch_size=8, max_steps=6, eval_every=3, checkpoint_every=3, warmup_steps=2)


@pytest.fixture(scope="module")
def world():
    return generate_demo_world(
        DemoWorldConfig(n_users=80, n_authors=40, n_posts=600, n_impressions=8_000, seed=1)
    )


@pytest.fixture(scope="module")
def ranker_task(world):
    return demo_ranker_task(world, MODEL, FAST)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_ranker_loss_is_weighted_bce_over_real_candidates_plus_dwell(ranker_task):
    batch = ranker_task.batch(0)
    net = ranker_network(MODEL)
    params = net.init(jax.random.PRNGKey(0))
    weights = np.linspace(0.0, 1.0, MODEL.num_actions)
    loss, parts = ranker_loss(net, params, batch, jnp.asarray(weights), 0.5, 60.0)

    out = net.apply(params, batch.inputs)
    p = _sigmoid(np.asarray(out.logits, np.float64))
    y = np.asarray(batch.labels)
    valid = np.asarray(batch.inputs.candidates.post_hashes)[..., 0] != 0
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))[valid]  # [n, A]
    action = (bce.mean(axis=0) * weights).sum() / weights.sum()
    target = np.minimum(np.asarray(batch.dwell_s) / 60.0, 1.0)[valid]
    dwell = ((np.asarray(out.continuous)[..., 0][valid] - target) ** 2).mean()
    assert float(parts["action_loss"]) == pytest.approx(action, rel=1e-4)
    assert float(loss) == pytest.approx(action + 0.5 * dwell, rel=1e-4)


def test_retrieval_loss_is_in_batch_softmax_with_duplicates_masked(world):
    task = demo_retrieval_task(world, MODEL, FAST)
    batch = task.batch(0)
    inputs = batch.inputs
    inputs = inputs._replace(post_id=inputs.post_id.copy())
    inputs.post_id[1] = inputs.post_id[0]  # row 0's positive appears again in row 1
    batch = batch._replace(inputs=inputs, log_q=np.linspace(-3, -1, len(inputs.post_id)))
    net = retrieval_network(MODEL)
    params = net.init(jax.random.PRNGKey(0))
    loss, _ = retrieval_loss(net, params, batch, temperature=0.1)

    u = np.asarray(net.user_embedding(params, inputs.context), np.float64)
    v = np.asarray(
        net.candidate_embeddings(params, inputs.post_hashes, inputs.author_hashes), np.float64
    )
    logits = u @ v.T / 0.1 - batch.log_q[None, :]
    expected = []
    for i in range(len(logits)):
        keep = (inputs.post_id != inputs.post_id[i]) | (np.arange(len(logits)) == i)
        row = logits[i][keep]
        expected.append(np.log(np.exp(row - row.max()).sum()) + row.max() - logits[i, i])
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-4)


def test_update_lowers_the_loss_on_a_fixed_batch(ranker_task):
    cfg = dataclasses.replace(FAST, learning_rate=1e-2, warmup_steps=0, max_steps=20)
    optimizer = make_optimizer(cfg)
    params = ranker_task.init_params(jax.random.PRNGKey(0))
    state = init_state(params, optimizer)
    update = make_update(ranker_task.loss_fn, optimizer)
    batch = ranker_task.batch(0)
    first = float(ranker_task.loss_fn(params, batch)[0])
    for _ in range(15):
        state, metrics = update(state, batch)
    assert int(state.step) == 15 and np.isfinite(float(metrics["grad_norm"]))
    assert float(ranker_task.loss_fn(state.params, batch)[0]) < first


def test_weight_decay_shrinks_matrices_and_tables_but_not_biases_or_norm_scales():
    cfg = dataclasses.replace(FAST, learning_rate=0.1, weight_decay=1.0, warmup_steps=0)
    optimizer = make_optimizer(cfg)
    params = {"dense": {"w": jnp.ones((3, 2)), "action_bias": jnp.full(2, -4.0)}}
    params["norm"] = {"scale": jnp.ones(2)}
    opt_state = optimizer.init(params)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    for _ in range(3):
        updates, opt_state = optimizer.update(zero, opt_state, params)
        params = optax.apply_updates(params, updates)
    assert float(jnp.max(params["dense"]["w"])) < 0.9  # decayed with no gradient at all
    np.testing.assert_array_equal(params["dense"]["action_bias"], jnp.full(2, -4.0))
    np.testing.assert_array_equal(params["norm"]["scale"], jnp.ones(2))


def test_update_tracks_a_moving_average_of_the_weights(ranker_task):
    optimizer = make_optimizer(FAST)
    state = init_state(ranker_task.init_params(jax.random.PRNGKey(0)), optimizer)
    update = make_update(ranker_task.loss_fn, optimizer, ema_decay=0.5)
    expected = state.params
    for step in range(3):
        state, _ = update(state, ranker_task.batch(step))
        expected = jax.tree_util.tree_map(lambda a, p: 0.5 * a + 0.5 * p, expected, state.params)
    for got, want in zip(
        jax.tree_util.tree_leaves(state.ema_params),
        jax.tree_util.tree_leaves(expected),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)


def test_fit_writes_a_loadable_checkpoint_and_a_resumable_state(ranker_task, tmp_path):
    result = fit(ranker_task, FAST, tmp_path, progress=False)
    assert result.steps == 6 and not result.interrupted
    assert [h["step"] for h in result.history] == [3, 6]
    ranker = Ranker.load(tmp_path)
    assert ranker.config == MODEL
    info = json.loads((tmp_path / STATE_DIR / "trainer.json").read_text())
    assert info["step"] == 6 and info["best_step"] == result.best_step


def test_ctrl_c_leaves_a_checkpoint_and_resuming_matches_an_uninterrupted_run(
    ranker_task, tmp_path
):
    straight = fit(ranker_task, FAST, tmp_path / "straight", progress=False)

    def interrupt_at_4(step):
        if step == 4:
            raise KeyboardInterrupt
        return ranker_task.batch(step)

    flaky = dataclasses.replace(ranker_task, batch=interrupt_at_4)
    stopped = fit(flaky, FAST, tmp_path / "resumed", progress=False)
    assert stopped.interrupted and stopped.steps == 4
    Ranker.load(tmp_path / "resumed")  # usable right after Ctrl-C
    resumed = fit(ranker_task, FAST, tmp_path / "resumed", resume=True, progress=False)
    assert resumed.steps == 6
    for a, b in zip(
        jax.tree_util.tree_leaves(straight.params),
        jax.tree_util.tree_leaves(resumed.params),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_early_stopping_ends_after_patience_validations_without_improvement(ranker_task, tmp_path):
    scores = iter([0.5, 0.4, 0.3, 0.9])
    task = dataclasses.replace(ranker_task, validate=lambda params: (next(scores), {}))
    cfg = dataclasses.replace(FAST, eval_every=1, max_steps=10, patience=2)
    result = fit(task, cfg, tmp_path, progress=False)
    assert result.steps == 3 and result.best_step == 1 and result.best_score == 0.5


def test_retrieval_fit_without_validation_keeps_the_last_weights(world, tmp_path):
    task = dataclasses.replace(demo_retrieval_task(world, MODEL, FAST), validate=None)
    result = fit(task, dataclasses.replace(FAST, max_steps=2), tmp_path, progress=False)
    loaded = Retriever.load(tmp_path)
    for a, b in zip(
        jax.tree_util.tree_leaves(result.params),
        jax.tree_util.tree_leaves(loaded.params),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fit_refuses_to_overwrite_or_resume_nothing(ranker_task, tmp_path):
    cfg = dataclasses.replace(FAST, max_steps=1)
    with pytest.raises(FileNotFoundError, match="no training state to resume"):
        fit(ranker_task, cfg, tmp_path / "empty", resume=True, progress=False)
    fit(ranker_task, cfg, tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="already holds a training run"):
        fit(ranker_task, cfg, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="different training config"):
        fit(
            ranker_task,
            dataclasses.replace(cfg, learning_rate=0.5),
            tmp_path / "run",
            resume=True,
            progress=False,
        )


def test_warm_start_takes_only_parameters_with_the_same_name_and_shape():
    f32 = np.float32
    params = {
        "a": {"w": np.zeros((2, 2), f32), "b": np.zeros(3, f32)},
        "c": {"w": np.zeros(1, f32)},
    }
    donor = {"a": {"w": np.ones((2, 2), f32), "b": np.ones(4, f32)}, "d": {"w": np.ones(1, f32)}}
    merged, taken = warm_start(params, donor)
    assert taken == ["a/w"]
    assert float(merged["a"]["w"].sum()) == 4.0 and float(merged["a"]["b"].sum()) == 0.0


def test_a_ranker_warm_started_from_retrieval_shares_tables_and_transformer():
    ranker = ranker_network(MODEL).init(jax.random.PRNGKey(0))
    retrieval = retrieval_network(MODEL).init(jax.random.PRNGKey(1))
    merged, taken = warm_start(ranker, retrieval)
    assert "hash_embeddings/item_embeddings" in taken
    assert any(name.startswith("transformer/") for name in taken)
    assert "phoenix_model/unembeddings" not in taken
    np.testing.assert_array_equal(
        merged["hash_embeddings"]["user_embeddings"],
        retrieval["hash_embeddings"]["user_embeddings"],
    )


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"patience": -1}, "patience must be >= 0"),
        ({"action_weights": (1.0, -1.0)}, "action_weights must be >= 0"),
        ({"ema_decay": 1.0}, r"ema_decay must lie in \[0, 1\)"),
    ],
)
def test_train_config_rejects_bad_values(override, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**override)


@pytest.mark.parametrize("build", [demo_ranker_task, demo_retrieval_task])
def test_without_holdout_trains_on_the_whole_log_and_skips_validation(world, build):
    held = build(world, MODEL, FAST)
    everything = build(world, MODEL, FAST, holdout=False)
    assert held.validate is not None and everything.validate is None

    def rows(task):  # "..., 123 requests" / "..., 45 positives"
        return int(task.description.rsplit(", ", 1)[1].split()[0])

    assert rows(everything) > rows(held) > 0


def test_stop_step_ends_early_on_the_full_schedule(ranker_task, tmp_path):
    task = dataclasses.replace(ranker_task, validate=None)
    cfg = dataclasses.replace(FAST, max_steps=6, stop_step=3, warmup_steps=1)
    result = fit(task, cfg, tmp_path / "stopped", progress=False)
    assert result.steps == 3

    def by_hand(schedule_steps):
        optimizer = make_optimizer(dataclasses.replace(cfg, max_steps=schedule_steps))
        state = init_state(task.init_params(jax.random.PRNGKey(cfg.seed)), optimizer)
        update = make_update(task.loss_fn, optimizer)
        for step in range(3):
            state, _ = update(state, task.batch(step))
        return jax.tree_util.tree_leaves(state.params)

    got = jax.tree_util.tree_leaves(result.params)
    for a, b in zip(got, by_hand(6), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert any(
        not np.allclose(np.asarray(a), np.asarray(b)) for a, b in zip(got, by_hand(3), strict=True)
    )


def test_stop_step_outside_the_schedule_is_rejected():
    with pytest.raises(ValueError, match="stop_step must lie in"):
        TrainConfig(max_steps=5, stop_step=6)


def test_demo_ranker_beats_the_constant_predictor_on_the_held_out_window(tmp_path):
    """The training recipe (base-rate biases, small hash tables, a learning rate of the
    range validated on the demo world) with content inputs learns on a small demo world:
    on its test window (posts never trained on), the log loss is clearly below the constant
    base-rate predictor's, and media-driven actions are ranked well."""
    from phoenix_models.data.demo_world import ACTION_INDEX
    from phoenix_models.data.examples import HashedLog, impression_chunks, ranker_batch
    from phoenix_models.eval_scoring import RankerScorer
    from phoenix_models.metrics import roc_auc
    from phoenix_models.train_tasks import (
        demo_model_config,
        demo_post_features,
        demo_windows,
    )

    world = generate_demo_world(
        DemoWorldConfig(n_users=150, n_authors=80, n_posts=3_000, n_impressions=30_000, seed=4)
    )
    model = demo_model_config()
    cfg = TrainConfig(
        batch_size=32, learning_rate=6e-3, max_steps=120, eval_every=120, warmup_steps=12,
        ema_decay=0.9,
    )  # fmt: skip
    task = demo_ranker_task(world, model, cfg)
    result = fit(task, cfg, tmp_path / "ranker", progress=False)
    ranker = Ranker.load(tmp_path / "ranker")

    windows = demo_windows(world)
    train = impression_chunks(windows.log, windows.train, model.candidate_seq_len)
    test = impression_chunks(windows.log, windows.test, model.candidate_seq_len)
    hashed = HashedLog.build(windows.log, model, demo_post_features(world, ranker.content))
    batch = ranker_batch(hashed, test)
    probs = RankerScorer(ranker_network(model)).probabilities(
        result.params, batch.context, batch.candidates
    )
    valid = test.post_id != 0
    labels, probs = test.labels[valid].astype(float), np.clip(probs[valid], 1e-7, 1 - 1e-7)
    base = train.labels[train.post_id != 0].mean(axis=0).clip(1e-4, 1 - 1e-4)

    def log_loss(p):
        return float(-(labels * np.log(p) + (1 - labels) * np.log1p(-p)).mean())

    assert log_loss(probs) < 0.985 * log_loss(np.broadcast_to(base, labels.shape))
    for action in ("photo_expand", "video_quality_view"):
        k = ACTION_INDEX[action]
        assert roc_auc(labels[:, k], probs[:, k]) > 0.85
