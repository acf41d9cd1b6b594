"""Evaluation helpers, baselines on a toy protocol, the demo report, and the CLI surface."""

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from phoenix_models.cli import app
from phoenix_models.config import PhoenixConfig
from phoenix_models.data.demo_world import (
    DemoWorldConfig,
    engagement_gate,
    generate_demo_world,
    without_post_quality,
)
from phoenix_models.data.movielens import protocol_split
from phoenix_models.evaluate import (
    REPORTED,
    MovieLensRecipe,
    _reranked_ranks,
    baseline_rows,
    evaluate_demo,
    top_k_candidates,
)
from phoenix_models.ranker import Ranker
from phoenix_models.retrieval import Retriever
from phoenix_models.train import TrainConfig
from tests.phoenix_models.toy_movielens import toy_movielens

TINY = PhoenixConfig.tiny(position_mode="right_anchored")


def test_top_k_is_best_first_with_ties_in_item_order():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, -np.inf]])
    assert top_k_candidates(scores, 3).tolist() == [[1, 3, 2]]


def test_reranking_reorders_the_top_k_and_keeps_retrieval_rank_outside_it():
    candidates = np.array([[4, 7, 9], [1, 2, 3]])
    ranker_scores = np.array([[0.1, 0.2, 0.9], [0.5, 0.4, 0.3]])
    ranks = _reranked_ranks(candidates, ranker_scores, np.array([9, 8]), np.array([2, 41]))
    assert ranks.tolist() == [0, 41]


def test_baselines_on_a_toy_protocol_report_every_metric_with_an_interval():
    data = toy_movielens()
    validation, test = protocol_split(data, "validation"), protocol_split(data, "test")
    out = baseline_rows(data, validation, test, seed=0, grid={"factors": (4,)})
    assert [r["method"].split()[0] for r in out] == ["MostPopular", "ALS"]
    for row in out:
        for name in REPORTED:
            low, high = row["ci95"][name]
            assert 0.0 <= low <= row[name] <= high <= 1.0


@pytest.fixture(scope="module")
def small_world():
    return generate_demo_world(
        DemoWorldConfig(n_users=60, n_authors=30, n_posts=500, n_impressions=6_000, seed=2)
    )


def test_demo_report_puts_the_oracle_next_to_the_model(small_world):
    report = evaluate_demo(
        small_world, Ranker.init(TINY, seed=0), Retriever.init(TINY, seed=0), max_users=20
    )
    favorite = report["ranker"]["actions"]["favorite"]
    assert favorite["oracle_auc"] > 0.6 and 0.0 <= favorite["auc"] <= 1.0
    # the oracle's mean is the rate the impressions were drawn at: near the observed one
    # for a common action, and never what the model predicts by construction
    dwell = report["ranker"]["actions"]["dwell"]
    assert dwell["oracle_mean_predicted"] == pytest.approx(dwell["observed_rate"], rel=0.15)
    assert favorite["oracle_mean_predicted"] != favorite["mean_predicted"]
    retrieval = report["retrieval"]
    assert retrieval["users"] == 20
    rows = ("model", "model_with_engagement_prior", "oracle_without_post_quality", "oracle")
    assert set(retrieval) == {"users", *rows}
    for row in rows:
        assert set(retrieval[row]) == set(REPORTED)
        assert all(0.0 <= value <= 1.0 for value in retrieval[row].values())


def test_the_oracle_without_post_quality_ranks_by_viewer_and_author_alone(small_world):
    blind = without_post_quality(small_world)
    assert np.unique(small_world.posts.quality).size > 1  # the world itself is untouched
    assert np.allclose(blind.posts.quality, small_world.posts.quality.mean())
    posts = small_world.posts
    user = 3
    gate = engagement_gate(blind, np.full(posts.post_id.size, user), posts.post_id)
    visible = (
        small_world.users.topic_preference[user - 1, posts.topic]
        * small_world.authors.quality[posts.author_id - 1]
    )
    order = np.argsort(visible, kind="stable")
    assert np.all(np.diff(gate[order]) >= 0)  # monotone in preference x author quality


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--dataset", "imdb"], "--dataset must be one of demo, movielens"),
        (["train", "--model", "gbdt"], "--model must be one of ranker, retrieval"),
        (["eval", "--dataset", "demo"], "--dataset demo needs --checkpoint"),
        (["train", "--model-config", "/nonexistent.json"], "cannot read /nonexistent.json"),
    ],
)
def test_cli_rejects_bad_arguments_with_one_line(args, match):
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert match in result.output


def test_cli_trains_a_demo_ranker_checkpoint(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(TINY.to_json())
    out = tmp_path / "ranker"
    args = ["train", "--dataset", "demo", "--model", "ranker", "--out", str(out), "--steps", "2"]
    args += ["--eval-every", "2", "--batch-size", "4", "--model-config", str(config)]
    result = runner.invoke(app, [*args, "--no-progress", "--no-keep-state"])
    assert result.exit_code == 0, result.output
    assert "done: 2 steps" in result.output
    assert Ranker.load(out).config == TINY
    assert not (out / "training").exists()
    assert json.loads((out / "config.json").read_text())["kind"] == "ranker"


def test_cli_passes_the_weight_decay_to_the_trainer(tmp_path, monkeypatch):
    import types

    import phoenix_models.cli_train as cli_train
    import phoenix_models.train as train

    configs: list[TrainConfig] = []

    def fit(task, cfg, out, **kwargs):  # records the config instead of training
        configs.append(cfg)
        return types.SimpleNamespace(
            interrupted=False, steps=0, seconds=0.0, examples_per_s=0.0, best_score=0.0, best_step=0
        )

    monkeypatch.setattr(cli_train, "_task", lambda *args: types.SimpleNamespace(summary={}))
    monkeypatch.setattr(train, "fit", fit)
    args = ["train", "--out", str(tmp_path / "ranker"), "--no-progress"]
    assert runner.invoke(app, [*args, "--weight-decay", "0.25"]).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0  # the demo ranker's preset
    assert runner.invoke(app, [*args, "--model", "retrieval"]).exit_code == 0
    assert [c.weight_decay for c in configs] == [0.25, 0.3, 1e-4]
    rejected = runner.invoke(app, [*args, "--weight-decay", "-1"])
    assert rejected.exit_code != 0 and "--weight-decay" in rejected.output
    assert len(configs) == 3


def test_final_refit_trains_on_the_test_phase_for_the_chosen_steps_without_its_targets(
    tmp_path, monkeypatch
):
    import phoenix_models.evaluate as evaluate

    data = toy_movielens()
    small = TrainConfig(batch_size=8, max_steps=4, eval_every=2, checkpoint_every=2)
    recipe = MovieLensRecipe(
        retrieval=dataclasses.replace(small, logq_correction=True),
        ranker=small,
        model_overrides=(
            ("emb_size", 8),
            ("key_size", 4),
            ("history_seq_len", 4),
            ("candidate_seq_len", 4),
        ),
        rated_per_request=2,
    )
    validated = []
    real_fit = evaluate.fit

    def recording_fit(task, cfg, out_dir, **kwargs):
        validated.append((task.description.split(",")[0], task.validate is not None, cfg.last_step))
        return real_fit(task, cfg, out_dir, **kwargs)

    monkeypatch.setattr(evaluate, "fit", recording_fit)
    first = evaluate.train_movielens_models(
        protocol_split(data, "validation"), tmp_path, recipe, seed=0, progress=False
    )
    final = evaluate.train_movielens_models(
        protocol_split(data, "test"), tmp_path / "test", recipe, 0, False, steps=(3, 2)
    )
    assert validated == [
        ("movielens validation phase", True, 4),
        ("movielens validation phase", True, 4),
        ("movielens test phase", False, 3),
        ("movielens test phase", False, 2),
    ]
    assert all(0 <= s <= 4 for s in first.steps) and final.steps == (3, 2)
    assert (tmp_path / "test" / "retrieval" / "config.json").exists()
    assert (tmp_path / "test" / "ranker" / "config.json").exists()


def test_the_demo_ranker_preset_reads_a_longer_history_and_is_regularised_more():
    from pathlib import Path

    from phoenix_models.cli_train import _preset
    from phoenix_models.train_tasks import demo_model_config

    assert _preset("ema_decay", None, "demo", "ranker") == 0.997
    assert _preset("weight_decay", None, "demo", "ranker") == 0.3
    for dataset, model in (("demo", "retrieval"), ("movielens", "ranker")):
        assert _preset("ema_decay", None, dataset, model) == 0.99
        assert _preset("weight_decay", None, dataset, model) == 1e-4
    assert _preset("ema_decay", 0.5, "demo", "ranker") == 0.5  # an explicit option wins
    assert _preset("weight_decay", 0.0, "demo", "ranker") == 0.0
    assert demo_model_config().history_seq_len == 128
    assert demo_model_config(kind="retrieval").history_seq_len == 32
    shipped = Path(__file__).resolve().parents[2] / "checkpoints" / "demo" / "ranker"
    assert Ranker.load(shipped).config == demo_model_config()  # the committed one is the preset
