"""MovieLens with the demo recipe's content inputs, and pooling the protocol over seeds."""

import dataclasses
import shutil

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from phoenix_models import evaluate
from phoenix_models.cli import app
from phoenix_models.content import CONTENT_FILE
from phoenix_models.data.movielens import protocol_split
from phoenix_models.evaluate import (
    PROTOCOL,
    REPORTED,
    MovieLensRecipe,
    MovieLensRun,
    evaluate_movielens_seeds,
    load_per_user,
    pool_seeds,
)
from phoenix_models.metrics import bootstrap_ci
from phoenix_models.train import TrainConfig, base_rate_logits, fit
from phoenix_models.train_tasks import (
    MovieLensPhase,
    movielens_content_model,
    movielens_model_config,
    movielens_ranker_task,
    movielens_retrieval_task,
)
from tests.phoenix_models.toy_movielens import toy_movielens

SMALL = {
    "emb_size": 8,
    "key_size": 4,
    "history_seq_len": 4,
    "candidate_seq_len": 4,
    "num_layers": 1,
}


def _finite(params) -> bool:
    return all(bool(np.isfinite(np.asarray(x)).all()) for x in jax.tree_util.tree_leaves(params))


def test_movielens_defaults_to_ids_and_the_content_recipe_stays_reachable():
    """Id-only won on the validation targets of all three seeds (docs/training.md)."""
    content = MovieLensRecipe(content=True).model_config()
    ids = MovieLensRecipe().model_config()
    assert content.action_bias and content.sid_levels == 3 and content.sid_match
    assert content.user_ids and content.candidate_post_ids  # ids kept beside content
    assert not ids.action_bias and not ids.has_content


@pytest.fixture(scope="module")
def content_phase():
    data = toy_movielens()
    cfg = movielens_model_config(content=True, **SMALL)
    content = movielens_content_model(data, cfg)
    return MovieLensPhase.build(protocol_split(data, "validation"), cfg, content)


# One step of each model, without validation (compiling it would double the time).
ONE_STEP = TrainConfig(batch_size=8, max_steps=1, eval_every=1, checkpoint_every=1, seed=0)


def test_movielens_content_path_builds_features_and_trains_retrieval_without_nan(
    content_phase, tmp_path
):
    phase = content_phase
    # every movie has known codes (shifted by one), in the catalogue and in the history
    assert phase.corpus.sids.shape == (phase.split.data.movie_ids.size, 3)
    assert (phase.corpus.sids > 0).all() and (phase.hashed.row_sids > 0).all()
    assert phase.contexts().history_sids is not None
    assert phase.corpus.sids.max() <= 16 and np.unique(phase.corpus.sids[:, 0]).size > 1

    cfg = dataclasses.replace(ONE_STEP, logq_correction=True)
    task = dataclasses.replace(movielens_retrieval_task(phase, cfg), validate=None)
    retrieval = fit(task, cfg, tmp_path, progress=False)
    assert retrieval.steps == 1 and _finite(retrieval.params)
    assert (tmp_path / CONTENT_FILE).exists()


def test_movielens_content_ranker_starts_at_base_rates_and_trains_without_nan(
    content_phase, tmp_path
):
    from phoenix_models.retrieval import retrieval_network

    phase = content_phase
    donor = retrieval_network(phase.hashed.config).init(jax.random.PRNGKey(1))
    task = movielens_ranker_task(phase, ONE_STEP, None, 2, retrieval_params=donor)
    start = task.init_params(jax.random.PRNGKey(0))
    first = task.batch(0)
    expected = base_rate_logits(first.labels, np.asarray(first.inputs.candidates.mask))
    bias = np.asarray(start["phoenix_model"]["action_bias"])
    assert first.inputs.candidates.sids is not None
    assert np.isfinite(bias).all() and abs(bias[2] - expected[2]) < 1.0  # favorite
    ranker = fit(task, ONE_STEP, tmp_path, progress=False)
    assert ranker.steps == 1 and _finite(ranker.params)
    assert (tmp_path / CONTENT_FILE).exists()


def test_pool_seeds_averages_each_user_over_seeds_then_bootstraps_users(tmp_path):
    rng = np.random.default_rng(1)
    runs = []
    for _ in range(3):
        hit = (rng.random(50) < 0.3).astype(float)
        values = {name: hit * (k + 1) / 4 for k, name in enumerate(REPORTED)}
        runs.append({"A": values, "B": {n: 1 - v for n, v in values.items()}})
    runs[1]["only in one run"] = runs[1]["A"]
    rows = pool_seeds(runs, bootstrap_seed=7)
    assert [r["method"] for r in rows] == ["A", "B"]
    for row in rows:
        for name in REPORTED:
            stacked = np.stack([run[row["method"]][name] for run in runs])  # [seeds, users]
            assert row["per_seed"][name] == [round(float(m), 4) for m in stacked.mean(axis=1)]
            assert row[name] == round(float(stacked.mean()), 4)
            estimate = bootstrap_ci(stacked.mean(axis=0), seed=7)
            assert row["ci95"][name] == [round(estimate.low, 4), round(estimate.high, 4)]
    # one seed: the same as that seed's own report
    single = pool_seeds(runs[:1])[0]
    assert single["HR@10"] == round(float(runs[0]["A"]["HR@10"].mean()), 4)
    with pytest.raises(ValueError):
        pool_seeds([])

    np.savez(
        tmp_path / "per_user.npz",
        **{f"{m}|{k}": v for m, values in runs[0].items() for k, v in values.items()},
    )
    loaded = load_per_user(tmp_path / "per_user.npz")
    assert loaded.keys() == runs[0].keys()
    assert np.array_equal(loaded["B"]["MRR"], runs[0]["B"]["MRR"])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--seeds", "0,x"], "--seeds must be comma-separated integers"),
        (["--seeds", "1,1"], "--seeds must list distinct seeds"),
        (["--seeds", "0,1", "--checkpoint", "runs/x"], "cannot take --checkpoint"),
        (["--resume"], "--resume continues a --seeds run"),
        (["--seeds", "0", "--resume"], "give its --save folder"),
    ],
)
def test_movielens_eval_rejects_bad_seed_lists(args, match):
    result = CliRunner().invoke(app, ["eval", "--dataset", "movielens", *args])
    assert result.exit_code == 1
    assert match in result.output


def test_a_resumed_seed_run_reads_back_the_seeds_already_saved(tmp_path, monkeypatch):
    """Only the seeds missing from the --save folder run; the pooled report is the one an
    uninterrupted run gives; a seed saved with the other content setting is refused."""
    ran = []

    def fake_run(seed, checkpoint, save_to, recipe, progress, baselines):
        ran.append(seed)
        rng = np.random.default_rng(seed)
        hits = (rng.random(40) < 0.3).astype(float)
        metrics = {
            "ALS": {name: hits for name in REPORTED},
            "ours": {n: 1 - hits for n in REPORTED},
        }
        training = {"content": recipe.content}
        report = {"protocol": PROTOCOL, "split_sha256": "abc", "users": 40, "seed": seed,
                  "phoenix_training": training}  # fmt: skip
        return MovieLensRun(metrics, {"ours": {"blend_weight": 5.0}}, report)

    monkeypatch.setattr(evaluate, "run_movielens", fake_run)
    recipe = MovieLensRecipe(content=False)
    whole = evaluate_movielens_seeds([0, 1, 2], tmp_path / "whole", recipe, progress=False)
    evaluate_movielens_seeds([0, 1], tmp_path / "parts", recipe, progress=False)
    ran.clear()
    resumed = evaluate_movielens_seeds(
        [0, 1, 2], tmp_path / "parts", recipe, progress=False, resume=True
    )
    assert ran == [2]
    assert resumed["results"] == whole["results"]
    assert resumed["per_seed_extras"] == whole["per_seed_extras"]
    with pytest.raises(ValueError, match="content=False"):
        evaluate_movielens_seeds(
            [0], tmp_path / "parts", MovieLensRecipe(content=True), progress=False, resume=True
        )
    # a damaged saved seed is named, never half-read; one without its report is run again
    seed1 = tmp_path / "parts" / "seed1"
    for case, (name, text, match) in enumerate(
        [
            ("report.json", "{not json", "cannot resume"),
            ("report.json", '{"protocol": "x"}', "lacks split_sha256"),
            ("report.json", "[]", "lacks protocol"),
            ("per_user.npz", "truncated", "cannot resume"),
        ]
    ):
        damaged = tmp_path / f"damaged-{case}"
        shutil.copytree(tmp_path / "parts", damaged)
        (damaged / "seed1" / name).write_text(text)
        with pytest.raises(ValueError, match=match) as caught:
            evaluate_movielens_seeds([0, 1], damaged, recipe, progress=False, resume=True)
        assert "seed1" in str(caught.value)
    (seed1 / "report.json").unlink()
    ran.clear()
    evaluate_movielens_seeds([0, 1], tmp_path / "parts", recipe, progress=False, resume=True)
    assert ran == [1]
