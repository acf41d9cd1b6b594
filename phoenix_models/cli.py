"""``feedmixer phoenix ...``: rank, retrieve and build a corpus from the command line.

The typer ``app`` is mounted by the ``feedmixer.commands`` entry point. Importing this
module is cheap: JAX and the models load inside the commands. Every malformed input or
checkpoint ends with one line naming the file and the problem, and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

app = typer.Typer(
    name="phoenix",
    help="Phoenix ranking and retrieval models (X's published checkpoints or our own).",
    no_args_is_help=True,
)

Artifacts = Annotated[
    Path,
    typer.Option(
        "--artifacts",
        help="Checkpoint folder: X's ranker/ or retrieval/ folder, or one saved by feedmixer.",
    ),
]
Sequence = Annotated[
    Path, typer.Option("--sequence", help='User sequence JSON: {"user_id", "history": [...]}.')
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Turn input/checkpoint errors into one line on stderr and exit code 1."""
    try:
        yield
    except ValueError as exc:  # InputError, CheckpointError, ConfigError are ValueErrors
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None


def _check_finite(values: Any, post_ids: list[int]) -> None:
    """Refuse to print NaN or infinite scores (not JSON, and no ranking can use them)."""
    rows = np.asarray(values, dtype=np.float64).reshape(len(post_ids), -1)
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        shown = [post_ids[i] for i in np.flatnonzero(bad)[:5]]
        raise ValueError(
            f"the model produced NaN or infinite scores for {int(bad.sum())} of "
            f"{len(post_ids)} candidates (post ids {shown}); its weights or inputs are "
            "not finite -- nothing printed"
        )


@app.command()
def rank(
    artifacts: Artifacts,
    sequence: Sequence,
    candidates: Annotated[
        Path, typer.Option("--candidates", help='Candidates JSON: [{"post_id", "author_id"}].')
    ],
    json_output: JsonFlag = False,
    slots: Annotated[
        str,
        typer.Option(help="Candidate positions: 'chunked' (as X's runner) or 'sequential'."),
    ] = "chunked",
) -> None:
    """Score candidates for one user: per candidate, one probability per action."""
    with _clean_errors():
        if slots not in ("chunked", "sequential"):
            raise ValueError(f"--slots must be 'chunked' or 'sequential', got {slots!r}")
        from phoenix_models.inputs import read_candidates, read_sequence
        from phoenix_models.ranker import Ranker

        ranker = Ranker.load(artifacts)
        user_id, history = read_sequence(sequence, ranker.config.num_actions)
        posts = read_candidates(candidates)
        probs = ranker.score_user(user_id, history, posts, slots=slots)  # type: ignore[arg-type]
        _check_finite(probs, [post.post_id for post in posts])
    if json_output:
        typer.echo(json.dumps([[float(p) for p in row] for row in probs], allow_nan=False))
        return
    names = ranker.config.action_names
    _table(
        ["post_id", *names[:4]],
        [
            [str(post.post_id), *(f"{p:.4f}" for p in row[:4])]
            for post, row in zip(posts, probs, strict=True)
        ],
    )


@app.command()
def retrieve(
    artifacts: Artifacts,
    sequence: Sequence,
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus .npz (ours or X's).")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Posts to return.")] = 100,
    json_output: JsonFlag = False,
    exclude_history: Annotated[
        bool, typer.Option(help="Never return posts already in the user's history.")
    ] = False,
    method: Annotated[str, typer.Option(help="exact, ivf, hnsw or auto.")] = "exact",
) -> None:
    """Top-K posts of a corpus for one user, by user-tower . candidate-tower score."""
    with _clean_errors():
        if method not in ("exact", "ivf", "hnsw", "auto"):
            raise ValueError(f"--method must be exact, ivf, hnsw or auto, got {method!r}")
        from phoenix_models.corpus import Corpus, CorpusIndex
        from phoenix_models.inputs import read_sequence
        from phoenix_models.retrieval import Retriever

        retriever = Retriever.load(artifacts)
        user_id, history = read_sequence(sequence, retriever.config.num_actions)
        loaded = Corpus.load(corpus)
        if loaded.embeddings.shape[1] != retriever.config.emb_size:
            raise ValueError(
                f"{corpus}: embeddings have width {loaded.embeddings.shape[1]}, the model "
                f"{retriever.config.emb_size}"
            )
        index = CorpusIndex.build(loaded, method, k=top_k)  # type: ignore[arg-type]
        query = retriever.user_embedding(user_id, history)
        seen = [item.post_id for item in history] if exclude_history else None
        ids, scores = index.search(query, top_k, exclude_ids=seen)
        keep = ids >= 0  # -1: fewer than top_k posts to return
        ids, scores = ids[keep], scores[keep]
        _check_finite(scores, ids.tolist())
    rows = [
        {"post_id": int(i), "author_id": int(a), "score": float(s)}
        for i, a, s in zip(ids, index.author_ids_of(ids), scores, strict=True)
    ]
    if json_output:
        typer.echo(json.dumps(rows, allow_nan=False))
        return
    _table(
        ["rank", "post_id", "author_id", "score"],
        [
            [str(n + 1), str(r["post_id"]), str(r["author_id"]), f"{r['score']:.4f}"]
            for n, r in enumerate(rows)
        ],
    )


@app.command("build-corpus")
def build_corpus_command(
    artifacts: Artifacts,
    posts: Annotated[Path, typer.Option("--posts", help='Posts JSON: [{"post_id", "author_id"}].')],
    out: Annotated[Path, typer.Option("--out", help="Where to write the corpus .npz.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Posts per candidate-tower call.")] = 8192,
) -> None:
    """Embed every post with the candidate tower and save embeddings + ids (.npz)."""
    with _clean_errors():
        import numpy as np

        from phoenix_models.corpus import build_corpus
        from phoenix_models.inputs import read_candidates
        from phoenix_models.retrieval import Retriever

        retriever = Retriever.load(artifacts)
        items = read_candidates(posts)
        corpus = build_corpus(
            retriever,
            np.array([p.post_id for p in items], dtype=np.uint64),
            np.array([p.author_id for p in items], dtype=np.uint64),
            batch_size=batch_size,
        )
        corpus.save(out)
    typer.echo(f"wrote {len(corpus)} embeddings of width {retriever.config.emb_size} to {out}")


def _table(header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# `train` and `eval` live in their own module (training and evaluation, issue 5).
from phoenix_models.cli_train import register as _register_training  # noqa: E402

_register_training(app)
