"""Content inputs: the text encoder, semantic IDs, the feature tables and the models' use."""

import dataclasses

import jax
import numpy as np
import pytest

from phoenix_models.batch import (
    CandidatePost,
    HistoryItem,
    candidate_batch,
    make_batch,
    media_bucket,
)
from phoenix_models.config import PhoenixConfig
from phoenix_models.content import (
    ContentCache,
    ContentModel,
    PostFeatures,
    ResidualQuantizer,
    TfidfSvdEncoder,
)
from phoenix_models.errors import ConfigError
from phoenix_models.features import sid_match
from phoenix_models.ranker import Ranker, ranker_network
from phoenix_models.retrieval import Retriever, retrieval_network
from phoenix_models.train import base_rate_logits, with_action_bias

TOPICS = {
    "football": "goal striker keeper derby league transfer penalty referee stadium coach",
    "cooking": "recipe garlic oven sourdough pasta spice braise butter dough skillet",
    "space": "rocket orbit launch nasa telescope galaxy astronaut mars satellite comet",
}


def _texts(n_per_topic=40, seed=0):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in enumerate(TOPICS.values()):
        vocabulary = words.split()
        for _ in range(n_per_topic):
            picked = [*rng.choice(vocabulary, size=5).tolist(), "the", "today", "really"]
            texts.append(" ".join(rng.permutation(picked)))
            labels.append(label)
    return texts, np.array(labels)


CONTENT_CFG = PhoenixConfig.tiny(
    position_mode="right_anchored",
    action_bias=True,
    sid_levels=2,
    sid_codebook_size=4,
    media_inputs=True,
    candidate_post_ids=False,
    content_cross=True,
    sid_match=True,
)


@pytest.fixture(scope="module")
def content():
    texts, _ = _texts()
    return ContentModel.fit(texts, dim=3, levels=2, codebook_size=4, seed=0)


def test_same_topic_texts_are_closer_than_different_topic_texts():
    texts, _labels = _texts()
    encoder = TfidfSvdEncoder.fit(texts, dim=3)
    x = encoder.encode(["penalty striker derby goal", "goal keeper referee league"])
    y = encoder.encode(["garlic pasta oven recipe", "rocket launch orbit mars"])
    assert x[0] @ x[1] > max(x[0] @ y[0], x[0] @ y[1], x[1] @ y[0], x[1] @ y[1]) + 0.3
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert not encoder.encode(["zzz unknown words"]).any()  # out of vocabulary: zeros


def test_residual_codes_reconstruct_better_with_each_level_and_report_their_quality():
    texts, labels = _texts()
    x = TfidfSvdEncoder.fit(texts, dim=3).encode(texts)
    quantizer = ResidualQuantizer.fit(x, levels=3, codebook_size=4, seed=0)
    codes = quantizer.encode(x)
    assert codes.shape == (len(texts), 3) and codes.min() >= 0 and codes.max() < 4
    report = quantizer.report(x)
    cosines = report["reconstruction_cosine"]
    assert cosines[0] > 0.8 and cosines == sorted(cosines)
    assert all(0 < u <= 1 for u in report["usage"]) and all(p >= 1 for p in report["perplexity"])
    assert 0 <= report["collision_share"] <= 1 and report["distinct_sids"] >= 3
    # level 0 separates the topics: each code holds one topic
    for code in np.unique(codes[:, 0]):
        assert len(np.unique(labels[codes[:, 0] == code])) == 1


def test_content_model_saves_without_pickle_and_loads_the_same(content, tmp_path):
    path = tmp_path / "content.npz"
    content.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert {"header", "vocabulary", "idf", "components", "codebooks"} <= set(data.files)
    loaded = ContentModel.load(path)
    texts, _ = _texts(5, seed=1)
    np.testing.assert_array_equal(loaded.sids(texts), content.sids(texts))


def test_media_buckets_and_post_features_lookup():
    buckets = media_bucket([False, True, False, False, True], [0, 0, 5, 45, np.nan])
    assert buckets.tolist() == [1, 2, 3, 5, 2]
    features = PostFeatures.build(np.array([30, 10]), np.array([[1, 2], [3, 4]]), np.array([2, 1]))
    sids, media = features.lookup(np.array([[10, 99], [0, 30]]))
    assert sids.tolist() == [[[3, 4], [0, 0]], [[0, 0], [1, 2]]]
    assert media.tolist() == [[1, 0], [0, 2]]


def test_content_cache_encodes_each_post_once(content):
    calls = []
    original = content.sids

    class Counting:
        def sids(self, texts):
            calls.append(len(texts))
            return original(texts)

    cache = ContentCache(Counting(), levels=2)
    texts = ["goal striker derby", "oven pasta recipe"]
    first = cache.features([1, 2], texts, [False, True], [None, None])
    again = cache.features(
        [2, 1, 3], [texts[1], texts[0], "rocket orbit"], [True, False, False], [0, 0, 30.0]
    )
    assert calls == [2, 1] and len(cache) == 3
    np.testing.assert_array_equal(again[0][:2], first[0][::-1])
    assert again[1].tolist() == [2, 1, 5] and first[0].min() >= 1  # shifted codes


def test_content_config_fields_are_checked():
    with pytest.raises(ConfigError, match="sid_levels"):
        PhoenixConfig.tiny(sid_levels=-1)
    with pytest.raises(ConfigError, match="sid_codebook_size"):
        PhoenixConfig.tiny(sid_levels=2, sid_codebook_size=1)
    with pytest.raises(ConfigError, match="media_inputs"):
        PhoenixConfig.tiny(media_inputs=1)
    with pytest.raises(ConfigError, match="needs content inputs"):
        PhoenixConfig.tiny(candidate_post_ids=False)
    with pytest.raises(ConfigError, match="content_cross needs content"):
        PhoenixConfig.tiny(content_cross=True)
    with pytest.raises(ConfigError, match="sid_match needs semantic-ID"):
        PhoenixConfig.tiny(media_inputs=True, sid_match=True)
    with pytest.raises(ConfigError, match="true or false"):
        PhoenixConfig.from_dict({**CONTENT_CFG.to_dict(), "action_bias": 1})
    assert PhoenixConfig.from_json(CONTENT_CFG.to_json()) == CONTENT_CFG


def test_published_layout_has_no_content_or_bias_parameters():
    names = {
        f"{m}/{n}"
        for net in (ranker_network(PhoenixConfig.tiny()), retrieval_network(PhoenixConfig.tiny()))
        for m, entries in jax.eval_shape(net.init, jax.random.PRNGKey(0)).items()
        for n in entries
    }
    assert not [n for n in names if "content" in n or "sid_" in n or "media" in n or "bias" in n]


def test_a_content_tower_embeds_a_new_post_from_its_content_alone():
    retriever = Retriever.init(CONTENT_CFG, seed=0)
    authors = np.array([7, 7, 7])
    sids = np.array([[1, 2], [1, 2], [3, 4]], np.int32)
    media = np.array([1, 1, 3], np.int32)
    emb = retriever.candidate_embeddings(np.array([11, 987_654, 11]), authors, sids, media)
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-6)  # the post id is not read
    assert np.abs(emb[0] - emb[2]).max() > 1e-3  # the content is


def test_ranker_reads_candidate_and_history_content_and_saves_its_content_model(content, tmp_path):
    ranker = Ranker.init(CONTENT_CFG, seed=0)
    ranker.content = content
    history = [HistoryItem(5, 6, {0: 1.0}, sid=(1, 2), media=2)]
    a = CandidatePost(8, 9, sid=(0, 1), media=1)
    b = dataclasses.replace(a, sid=(3, 3), media=4)
    probs = ranker.score_user(1, history, [a, b])
    assert np.abs(probs[0] - probs[1]).max() > 1e-4
    full = ranker.network.apply(ranker.params, make_batch(CONTENT_CFG, 1, history, [a, b]))
    np.testing.assert_allclose(  # the cached-context fast path equals the full forward
        probs, jax.nn.sigmoid(full.logits)[0], rtol=1e-5, atol=1e-6
    )
    other = ranker.score_user(1, [dataclasses.replace(history[0], sid=(2, 0))], [a, b])
    assert np.abs(other - probs).max() > 1e-5
    ranker.save(tmp_path / "ranker")
    loaded = Ranker.load(tmp_path / "ranker")
    assert loaded.config == CONTENT_CFG and loaded.content is not None
    np.testing.assert_allclose(loaded.score_user(1, history, [a, b]), probs, atol=1e-6)
    texts, _ = _texts(3, seed=2)
    np.testing.assert_array_equal(loaded.content.sids(texts), content.sids(texts))


def test_sid_match_counts_history_slots_sharing_each_prefix_of_the_candidates_sid():
    history = np.array([[[1, 2], [1, 3], [2, 2], [1, 2]]], np.int32)  # shifted codes
    mask = np.array([[True, True, True, False]])  # the last slot is padding
    candidates = np.array([[[1, 2], [2, 5], [0, 2]]], np.int32)  # 0 = unknown never matches
    eye = np.eye(4, dtype=np.float32)  # the projection passes [share, sqrt(share)] through
    out = np.asarray(sid_match(eye, history, mask, candidates))
    np.testing.assert_allclose(out[0, 0], [2 / 3, 1 / 3, np.sqrt(2 / 3), np.sqrt(1 / 3)], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1 / 3, 0, np.sqrt(1 / 3), 0], rtol=1e-6)
    np.testing.assert_array_equal(out[0, 2], 0)
    empty = np.asarray(sid_match(eye, history, np.zeros_like(mask), candidates))
    np.testing.assert_array_equal(empty, 0)  # no history: no match, and no division by zero


def test_candidate_batch_rejects_bad_semantic_ids():
    with pytest.raises(ValueError, match="sid must hold 2 codes"):
        candidate_batch(CONTENT_CFG, [[CandidatePost(1, 2, sid=(0, 4))]])


def test_action_bias_starts_at_the_base_rate_logits():
    labels = np.zeros((4, 5, 19), bool)
    labels[:2, :, 0] = True  # favorite on half the real candidates
    valid = np.ones((4, 5), bool)
    valid[3] = False
    bias = base_rate_logits(labels, valid)
    assert bias[0] == pytest.approx(np.log((10 / 15) / (5 / 15)), rel=1e-5)
    assert bias[1] == pytest.approx(np.log(1e-4 / (1 - 1e-4)), rel=1e-4)  # never seen: floor
    params = ranker_network(CONTENT_CFG).init(jax.random.PRNGKey(0))
    assert not np.asarray(params["phoenix_model"]["action_bias"]).any()
    np.testing.assert_allclose(with_action_bias(params, bias)["phoenix_model"]["action_bias"], bias)
