"""The ranking adapter's array path against ``phoenix_models``' own per-candidate path."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from components.models import Engagement, PostCandidate
from components.phoenix import (
    PADDED_SIZES,
    PhoenixRanking,
    PhoenixRetrieval,
    candidate_arrays,
    history_items,
    padded_size,
)
from phoenix_models import CandidatePost, PhoenixConfig, candidate_batch, context_batch

NOW = 1_785_542_400.0
LABELS = ((), None, ("spam",), (), ("nsfw", "violence"), ("unheard-of",))


def candidates(n: int, seed: int = 0) -> list[PostCandidate]:
    """Ids up to 2**63, and creation times unknown, in the future, recent and very old."""
    rng = np.random.default_rng(seed)
    ages = rng.choice([-600, 0, 59, 60, 3_599, 3_600, 86_400, 288_000, 10**7], n)
    return [
        PostCandidate(
            int(rng.integers(1, 2**63)),
            int(rng.integers(1, 2**40)),
            created_at=None if i % 7 == 3 else int(NOW - age),
            impressions=None if i % 5 == 2 else i * 7 % 60,
            engaged=None if i % 5 == 2 else i % 9,
            safety_labels=LABELS[i % len(LABELS)],
        )
        for i, age in enumerate(ages.tolist())
    ]


def slow_batch(config, cands, slots):
    """The published way: one ``CandidatePost`` per candidate, then ``candidate_batch``."""
    posts = [
        CandidatePost(
            post_id=c.id,
            author_id=c.author_id,
            product_surface=0,
            age_minutes=None if c.created_at is None else (NOW - c.created_at) / 60.0,
            impressions=c.impressions,
            engaged=c.engaged or 0,
            safety_labels=c.safety_labels,
        )
        for c in cands
    ]
    return candidate_batch(config, [posts], num_slots=slots)


@pytest.mark.parametrize("post_inputs", [False, True])
@pytest.mark.parametrize("n", [0, 1, 50, 300])
def test_candidate_arrays_equal_the_per_candidate_batch(n, post_inputs):
    """With and without the engagement-so-far and safety-label inputs."""
    config = PhoenixConfig.tiny(engagement_inputs=post_inputs, safety_label_inputs=post_inputs)
    cands = candidates(n, seed=n)
    fast = candidate_arrays(config, cands, NOW, padded_size(n))
    slow = slow_batch(config, cands, padded_size(n))
    for name, a, b in zip(fast._fields, fast, slow, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_padded_sizes():
    sizes = [padded_size(n) for n in (0, 64, 65, 1500, 1537, 4096, 4097)]
    assert sizes == [64, 64, 128, 1536, 2048, 4096, 8192]
    assert all(padded_size(s) == s for s in PADDED_SIZES)


def test_predict_equals_the_rankers_own_path_and_padding_changes_nothing():
    from phoenix_models import PhoenixConfig, Ranker

    ranker = Ranker.init(PhoenixConfig.tiny(), seed=0)
    adapter = PhoenixRanking(ranker)
    history = (Engagement(7, 3, int(NOW) - 100, ("favorite", "reply")),)
    cands = candidates(64, seed=1)  # 64 is a bucket of both paths: one compilation
    items = history_items(history, adapter._names, ranker.config.history_seq_len)
    batch = slow_batch(ranker.config, cands, len(cands))
    context = ranker.encode(context_batch(ranker.config, [(1, items)]))
    expected = ranker.score_context(context, batch)[0][:, adapter._columns]
    np.testing.assert_allclose(adapter.predict(1, history, cands, NOW), expected, rtol=1e-6)
    fewer = adapter.predict(1, history, cands[:40], NOW)  # padded to 64 again
    np.testing.assert_allclose(fewer, expected[:40], rtol=1e-6)


def test_retrieval_authors_equal_the_index_answer():
    from phoenix_models import Corpus, CorpusIndex

    rng = np.random.default_rng(3)
    post_ids = rng.integers(1, 500, 400)  # duplicates included
    corpus = Corpus(rng.random((400, 4), np.float32), post_ids, rng.integers(1, 50, 400))
    index = CorpusIndex(corpus, "exact")
    retrieval = PhoenixRetrieval(SimpleNamespace(config=SimpleNamespace()), index)
    asked = rng.choice(post_ids, 100)
    np.testing.assert_array_equal(retrieval.author_ids_of(asked), index.author_ids_of(asked))


def test_a_content_model_reads_candidate_and_history_content_like_its_own_path():
    """With a content model, the adapter's arrays carry each candidate's SID (from its text,
    by the model's saved encoder) and media bucket, history posts get theirs through the
    post lookup, and the result equals ``phoenix_models``' per-item path."""
    from components.models import Post
    from phoenix_models import HistoryItem, Ranker
    from phoenix_models.batch import media_bucket
    from phoenix_models.content import ContentModel

    texts = ["goal striker derby", "oven pasta recipe", "rocket orbit launch"] * 6
    content = ContentModel.fit(texts, dim=2, levels=2, codebook_size=3, seed=0)
    config = PhoenixConfig.tiny(
        position_mode="right_anchored", sid_levels=2, sid_codebook_size=3,
        media_inputs=True, candidate_post_ids=False, content_cross=True,
    )  # fmt: skip
    ranker = Ranker.init(config, seed=0)
    ranker.content = content
    catalog = {7: Post(7, 3, int(NOW) - 500, text="derby goal", has_image=True)}
    lookups = []

    def posts(ids):
        lookups.append(list(ids))
        return [catalog.get(i) for i in ids]

    adapter = PhoenixRanking(ranker, posts=posts)
    history = (Engagement(7, 3, int(NOW) - 100, ("favorite",)), Engagement(8, 4, int(NOW), ()))
    cands = [
        PostCandidate(11, 3, created_at=int(NOW) - 60, text="pasta oven", has_image=True),
        PostCandidate(12, 5, created_at=int(NOW) - 60, text="rocket launch",
                      video_duration_s=45.0),
        PostCandidate(13, 5, text=None),
    ]  # fmt: skip
    got = adapter.predict(1, history, cands, NOW)

    sids = content.sids(["pasta oven", "rocket launch", ""])
    media = media_bucket([True, False, False], [0, 45.0, 0])
    items = [  # oldest first; post 8 is unknown to the lookup: no content
        HistoryItem(8, 4, {}),
        HistoryItem(7, 3, {0: 1.0}, sid=tuple(content.sids(["derby goal"])[0].tolist()), media=2),
    ]
    expected_cands = [
        CandidatePost(c.id, c.author_id, 0, None if c.created_at is None else 1.0,
                      sid=tuple(s.tolist()), media=int(m))
        for c, s, m in zip(cands, sids, media, strict=True)
    ]  # fmt: skip
    context = ranker.encode(context_batch(config, [(1, items)]))
    expected = ranker.score_context(context, candidate_batch(config, [expected_cands]))[0]
    np.testing.assert_allclose(got, expected[:, adapter._columns], rtol=1e-5, atol=1e-6)
    assert lookups == [[8, 7]]
    adapter.predict(1, history, cands, NOW)  # cached: no new encoding of known posts
    assert len(adapter.content.cache) == 4
