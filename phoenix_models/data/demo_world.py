"""The embedded demo world: a deterministic synthetic social network with hidden preferences.

Everything a For-You feed and the Phoenix models need, generated from one seed with numpy:
topics, accounts (every user id can also post, so a viewer follows authors *and* writes),
a follow graph, posts with text, timestamps, replies, reposts, quotes, videos and safety
labels, and an impression log whose actions are drawn from hidden user/topic preferences.

Because the generator knows the preferences, :func:`oracle_probabilities` returns the exact
probability of every action for any (user, post) pair, which is the ceiling a trained model
can be measured against.

The engagement model (after X's synthetic world)::

    affinity = preference[user, topic] * author_quality * post_quality
    gate     = sigmoid(14 * (affinity - 0.10))          # P(user engages)
    engaged ~ Bernoulli(gate)
    action_k ~ Bernoulli(BASE_RATES[k]) if engaged and eligible   # P = gate * base * eligible
    negative_k ~ Bernoulli(NEGATIVE_RATES[k] * (1 - gate)) if not engaged

Dwell time is log-normal, longer when engaged; the ``dwell`` and ``dwell_time`` actions are
the events "dwelled more than 10 s" and "more than 30 s".

The world holds only numpy arrays and frozen dataclasses, no pipeline types, so every layer
(Thunder, the Phoenix source, training) can read it without depending on the others.

Examples:
    >>> world = generate_demo_world(DemoWorldConfig(n_users=60, n_authors=30, n_posts=400,
    ...                                             n_impressions=2_000))
    >>> world.posts.post_id[:3].tolist()
    [1000001, 1000002, 1000003]
    >>> oracle_probabilities(world, world.engagements.user_id[:2],
    ...                      world.engagements.post_id[:2]).shape
    (2, 19)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from phoenix_models.config import PUBLISHED_ACTIONS, SAFETY_LABELS
from phoenix_models.data.demo_text import TOPIC_VOCABULARY, generate_texts

ACTIONS: tuple[str, ...] = PUBLISHED_ACTIONS
"""The 19 Phoenix ranker outputs, in the published order; column ``k`` of every action array."""

ACTION_INDEX: dict[str, int] = {name: k for k, name in enumerate(ACTIONS)}

# P(action | engaged) for the positive actions drawn from the engagement gate. Actions not
# listed here (dwell, dwell_time and the negative ones) are drawn separately.
BASE_RATES: dict[str, float] = {
    "favorite": 0.14,
    "reply": 0.035,
    "repost": 0.045,
    "photo_expand": 0.30,  # only posts with an image
    "click": 0.10,
    "profile_click": 0.02,
    "video_quality_view": 0.08 / 0.15,  # only videos; 0.08 over all posts at 15 % videos
    "share": 0.012,
    "share_via_dm": 0.006,
    "share_via_copy_link": 0.003,
    "quote": 0.015,
    "quoted_click": 0.10,  # only quote posts
    "follow_author": 0.02,  # only authors the user does not follow yet
}

# P(action | not engaged) = rate * (1 - gate): rare, and likelier the lower the affinity.
NEGATIVE_RATES: dict[str, float] = {
    "not_interested": 0.03,
    "mute_author": 0.004,
    "block_author": 0.002,
    "report": 0.001,
}
REPORT_BOOST_LABELLED = 25.0
"""Reports are this many times likelier on posts that carry a safety label."""

DWELL_MEDIAN_S = (3.0, 14.0)
"""Median dwell time in seconds when not engaged / engaged (log-normal, sigma below)."""
DWELL_SIGMA = 0.9
DWELL_THRESHOLD_S = 10.0
LONG_DWELL_THRESHOLD_S = 30.0

POST_ID_BASE = 1_000_000
"""Post ids are ``POST_ID_BASE + 1 + index``, so they never collide with account ids."""

PRODUCT_SURFACES: tuple[str, ...] = ("home_for_you", "home_following", "search")


@dataclasses.dataclass(frozen=True)
class DemoWorldConfig:
    """Size, seed and shape of the demo world.

    The defaults generate in a couple of seconds and give a feed with enough in-network and
    out-of-network posts to be interesting; tests use much smaller worlds.

    Attributes:
        n_users: accounts, ids ``1..n_users``; every account can be a viewer.
        n_authors: accounts that post, ids ``1..n_authors`` (a subset of the users).
        n_posts: posts, ids ``POST_ID_BASE + 1 ..``.
        n_impressions: impression rows drawn before de-duplicating (user, post) pairs.
        n_topics: topics, the first ``n_topics`` of :data:`TOPIC_VOCABULARY`.
        seed: everything is a deterministic function of the config.
        now: the reference "current time" (unix seconds); posts are created before it.
        horizon_s: posts are spread over ``[now - horizon_s, now)``.
        follows_per_user: mean accounts followed by a user of activity 1.
        reply_fraction, repost_fraction, quote_fraction: kinds of post, the rest original.
        video_fraction, image_fraction: of original and quote posts.
        safety_label_fraction: posts carrying one of :data:`SAFETY_LABELS`.
        zipf_exponent: popularity of the post at popularity rank r is ``r ** -zipf_exponent``.
        in_network_share, topic_share: where impressions come from (followed authors, a
            preferred topic); the rest are drawn by global popularity.
    """

    n_users: int = 2_000
    n_authors: int = 1_000
    n_posts: int = 50_000
    n_impressions: int = 320_000
    n_topics: int = 16
    seed: int = 0
    now: int = 1_785_542_400  # 2026-08-01T00:00:00Z
    horizon_s: int = 3 * 86_400
    follows_per_user: float = 30.0
    reply_fraction: float = 0.2
    repost_fraction: float = 0.1
    quote_fraction: float = 0.05
    video_fraction: float = 0.15
    image_fraction: float = 0.25
    safety_label_fraction: float = 0.01
    zipf_exponent: float = 1.0
    in_network_share: float = 0.4
    topic_share: float = 0.3

    def __post_init__(self) -> None:
        checks = {
            "n_users": self.n_users >= 2,
            "n_authors": 1 <= self.n_authors <= self.n_users,
            "n_posts": 1 <= self.n_posts < POST_ID_BASE,
            "n_impressions": self.n_impressions >= 1,
            "n_topics": 2 <= self.n_topics <= len(TOPIC_VOCABULARY),
            "horizon_s": self.horizon_s >= 1,
            "follows_per_user": self.follows_per_user > 0,
            "reply/repost/quote fractions": min(
                self.reply_fraction, self.repost_fraction, self.quote_fraction
            )
            >= 0
            and self.reply_fraction + self.repost_fraction + self.quote_fraction < 1,
            "in_network_share/topic_share": min(self.in_network_share, self.topic_share) >= 0
            and self.in_network_share + self.topic_share <= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"DemoWorldConfig: invalid {', '.join(bad)} in {self}; "
                "need n_users >= 2, 1 <= n_authors <= n_users, 2 <= n_topics <= "
                f"{len(TOPIC_VOCABULARY)}, fractions in [0, 1) summing below 1"
            )


@dataclasses.dataclass(frozen=True, eq=False)
class Users:
    """Accounts ``1..n_users``; row ``i`` describes account ``user_id[i] == i + 1``.

    ``topic_preference`` is the hidden preference (rows sum to 1, non-zero on 2-4 topics).
    """

    user_id: np.ndarray  # [U] int64
    activity: np.ndarray  # [U] float32, mean 1; scales impressions and follows
    topic_preference: np.ndarray  # [U, T] float32, hidden
    muted_keywords: tuple[tuple[str, ...], ...]  # per user, from topics they do not like


@dataclasses.dataclass(frozen=True, eq=False)
class Authors:
    """Accounts ``1..n_authors`` that post; row ``i`` is account ``author_id[i] == i + 1``."""

    author_id: np.ndarray  # [A] int64
    primary_topic: np.ndarray  # [A] int16: the author's own favourite topic
    secondary_topic: np.ndarray  # [A] int16
    quality: np.ndarray  # [A] float32 ~ Beta(2, 2), hidden


@dataclasses.dataclass(frozen=True, eq=False)
class Posts:
    """Posts sorted by ``created_at``; row ``i`` is post ``POST_ID_BASE + 1 + i``.

    Reference columns hold 0 when absent. A repost copies the text, topic and quality of the
    post it reposts; a reply or quote has its own. ``conversation_id`` is the root post of
    the reply chain (the post itself for a root).
    """

    post_id: np.ndarray  # [P] int64
    author_id: np.ndarray  # [P] int64
    created_at: np.ndarray  # [P] int64 unix seconds, ascending, all < now
    text: np.ndarray  # [P] object (str)
    topic: np.ndarray  # [P] int16
    quality: np.ndarray  # [P] float32 ~ Beta(2, 2), hidden
    popularity: np.ndarray  # [P] float32, Zipf-like, sums to 1, hidden
    in_reply_to_post_id: np.ndarray  # [P] int64
    in_reply_to_user_id: np.ndarray  # [P] int64
    conversation_id: np.ndarray  # [P] int64
    reposted_post_id: np.ndarray  # [P] int64
    reposted_user_id: np.ndarray  # [P] int64
    quoted_post_id: np.ndarray  # [P] int64
    quoted_user_id: np.ndarray  # [P] int64
    is_video: np.ndarray  # [P] bool
    video_duration_s: np.ndarray  # [P] float32, 0 for non-videos
    has_image: np.ndarray  # [P] bool
    safety_label: np.ndarray  # [P] <U8, "" when unlabelled


@dataclasses.dataclass(frozen=True, eq=False)
class Engagements:
    """The impression log, sorted by ``timestamp``: one row per (user, post) shown.

    ``actions[:, k]`` is action :data:`ACTIONS` ``[k]``; a row with no action is a negative
    impression (the user saw the post and scrolled on).
    """

    user_id: np.ndarray  # [N] int64
    post_id: np.ndarray  # [N] int64
    timestamp: np.ndarray  # [N] int64, after the post's created_at, before now
    product_surface: np.ndarray  # [N] int8, index into PRODUCT_SURFACES
    actions: np.ndarray  # [N, 19] bool
    dwell_time_s: np.ndarray  # [N] float32


@dataclasses.dataclass(frozen=True, eq=False)
class DemoWorld:
    """One generated world. Edge lists are sorted by (source, target)."""

    config: DemoWorldConfig
    topics: tuple[str, ...]
    users: Users
    authors: Authors
    follows: np.ndarray  # [F, 2] int64 (follower_id, followee_id)
    blocks: np.ndarray  # [B, 2] int64 (user_id, blocked_id), from block_author actions
    mutes: np.ndarray  # [M, 2] int64 (user_id, muted_id), from mute_author actions
    posts: Posts
    engagements: Engagements

    @property
    def now(self) -> int:
        return self.config.now

    def post_index(self, post_ids: np.ndarray) -> np.ndarray:
        """Row of each post id in :attr:`posts`; raises on an id outside the world."""
        index = np.asarray(post_ids, dtype=np.int64) - (POST_ID_BASE + 1)
        if index.size and (index.min() < 0 or index.max() >= self.config.n_posts):
            raise ValueError(
                f"post ids must lie in [{POST_ID_BASE + 1}, {POST_ID_BASE + self.config.n_posts}]"
                f", got range [{index.min() + POST_ID_BASE + 1}, {index.max() + POST_ID_BASE + 1}]"
            )
        return index

    def follows_of(self, user_id: int) -> np.ndarray:
        """Account ids that ``user_id`` follows, ascending."""
        lo, hi = np.searchsorted(self.follows[:, 0], [user_id, user_id + 1])
        return self.follows[lo:hi, 1]

    def is_following(self, user_ids: np.ndarray, author_ids: np.ndarray) -> np.ndarray:
        """Element-wise: does ``user_ids[i]`` follow ``author_ids[i]``?"""
        return _edge_member(self.follows, user_ids, author_ids, self.config.n_users)


def generate_demo_world(config: DemoWorldConfig | None = None) -> DemoWorld:
    """Generates the world for ``config`` (the default config when omitted).

    Each part draws from its own child of ``SeedSequence(config.seed)``, so the same config
    always gives the same world, bit for bit.
    """
    config = config or DemoWorldConfig()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(5)]
    topics = tuple(TOPIC_VOCABULARY)[: config.n_topics]
    users = _generate_users(config, topics, streams[0])
    authors = _generate_authors(config, users, streams[1])
    follows = _generate_follows(config, users, authors, streams[2])
    posts = _generate_posts(config, topics, authors, streams[3])
    partial = DemoWorld(
        config=config,
        topics=topics,
        users=users,
        authors=authors,
        follows=follows,
        blocks=np.zeros((0, 2), np.int64),
        mutes=np.zeros((0, 2), np.int64),
        posts=posts,
        engagements=_empty_engagements(),
    )
    engagements = _generate_engagements(partial, streams[4])
    blocks = _edges_from_action(partial, engagements, "block_author")
    mutes = _edges_from_action(partial, engagements, "mute_author")
    return dataclasses.replace(partial, engagements=engagements, blocks=blocks, mutes=mutes)


def oracle_probabilities(
    world: DemoWorld, user_ids: np.ndarray, post_ids: np.ndarray
) -> np.ndarray:
    """The generator's own P(action) for each (user, post) pair: ``[N, 19]`` float64.

    This is exactly the distribution the engagement log was drawn from (given the follow
    graph at generation time), so no model can beat it in expectation.
    """
    user_ids = np.asarray(user_ids, dtype=np.int64)
    post_ids = np.asarray(post_ids, dtype=np.int64)
    if user_ids.shape != post_ids.shape or user_ids.ndim != 1:
        raise ValueError(
            f"user_ids and post_ids must be 1-D of equal length, got shapes "
            f"{user_ids.shape} and {post_ids.shape}"
        )
    if user_ids.size and (user_ids.min() < 1 or user_ids.max() > world.config.n_users):
        raise ValueError(f"user ids must lie in [1, {world.config.n_users}]")
    p = world.post_index(post_ids)
    posts = world.posts
    gate = engagement_gate(world, user_ids, post_ids)
    eligible = _eligibility(world, user_ids, p)
    probs = np.zeros((user_ids.size, len(ACTIONS)))
    for name, rate in BASE_RATES.items():
        probs[:, ACTION_INDEX[name]] = gate * rate * eligible[name]
    for name, rate in NEGATIVE_RATES.items():
        boost = np.where(posts.safety_label[p] != "", REPORT_BOOST_LABELLED, 1.0)
        rate_k = rate * (boost if name == "report" else 1.0)
        probs[:, ACTION_INDEX[name]] = (1 - gate) * (1 - gate) * rate_k
    for name, threshold in (("dwell", DWELL_THRESHOLD_S), ("dwell_time", LONG_DWELL_THRESHOLD_S)):
        over = [_lognormal_survival(threshold, median) for median in DWELL_MEDIAN_S]
        probs[:, ACTION_INDEX[name]] = gate * over[1] + (1 - gate) * over[0]
    return probs


def without_post_quality(world: DemoWorld) -> DemoWorld:
    """``world`` with every post's own hidden quality set to the mean.

    Its oracle is the best any model can be that reads the viewer, the author and the
    post's content but not the post's engagement so far (the one input that reveals its
    quality): the ceiling of rankers and retrievers without that input.
    """
    quality = world.posts.quality
    posts = dataclasses.replace(world.posts, quality=np.full_like(quality, quality.mean()))
    return dataclasses.replace(world, posts=posts)


def engagement_gate(world: DemoWorld, user_ids: np.ndarray, post_ids: np.ndarray) -> np.ndarray:
    """``sigmoid(14 * (affinity - 0.10))``: the hidden probability that a user engages."""
    p = world.post_index(post_ids)
    posts = world.posts
    preference = world.users.topic_preference[np.asarray(user_ids) - 1, posts.topic[p]]
    author_quality = world.authors.quality[posts.author_id[p] - 1]
    affinity = preference.astype(np.float64) * author_quality * posts.quality[p]
    return 1.0 / (1.0 + np.exp(-14.0 * (affinity - 0.10)))


def _eligibility(world: DemoWorld, user_ids: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    posts = world.posts
    ones = np.ones(p.size)
    eligible = dict.fromkeys(BASE_RATES, ones)
    eligible["photo_expand"] = posts.has_image[p].astype(float)
    eligible["video_quality_view"] = posts.is_video[p].astype(float)
    eligible["quoted_click"] = (posts.quoted_post_id[p] != 0).astype(float)
    eligible["follow_author"] = (~world.is_following(user_ids, posts.author_id[p])).astype(float)
    return eligible


def _lognormal_survival(threshold: float, median: float) -> float:
    z = (math.log(threshold) - math.log(median)) / DWELL_SIGMA
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _edge_member(edges: np.ndarray, src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    query = np.asarray(src, dtype=np.int64) * (n + 1) + np.asarray(dst, dtype=np.int64)
    if edges.shape[0] == 0:
        return np.zeros(query.shape, bool)
    keys = edges[:, 0] * (n + 1) + edges[:, 1]  # ascending: edges are sorted
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[pos] == query


def _generate_users(config: DemoWorldConfig, topics: tuple[str, ...], rng) -> Users:
    n, t = config.n_users, len(topics)
    preference = np.zeros((n, t), np.float32)
    n_liked = rng.integers(2, 5, size=n)
    muted: list[tuple[str, ...]] = []
    for u in range(n):
        liked = rng.choice(t, size=n_liked[u], replace=False)
        weights = rng.gamma(shape=2.0, scale=1.0, size=n_liked[u])
        preference[u, liked] = weights / weights.sum()
        disliked = np.flatnonzero(preference[u] == 0)
        if rng.random() < 0.1:
            topic = topics[rng.choice(disliked)]
            muted.append((str(rng.choice(TOPIC_VOCABULARY[topic]["words"])),))
        else:
            muted.append(())
    activity = rng.lognormal(mean=0.0, sigma=0.6, size=n)
    return Users(
        user_id=np.arange(1, n + 1, dtype=np.int64),
        activity=(activity / activity.mean()).astype(np.float32),
        topic_preference=preference,
        muted_keywords=tuple(muted),
    )


def _generate_authors(config: DemoWorldConfig, users: Users, rng) -> Authors:
    n = config.n_authors
    # An author writes mostly about what they like most, so following them pays off.
    ranked = np.argsort(-users.topic_preference[:n], axis=1, kind="stable")
    return Authors(
        author_id=np.arange(1, n + 1, dtype=np.int64),
        primary_topic=ranked[:, 0].astype(np.int16),
        secondary_topic=ranked[:, 1].astype(np.int16),
        quality=rng.beta(2.0, 2.0, size=n).astype(np.float32),
    )


def _generate_follows(config: DemoWorldConfig, users: Users, authors: Authors, rng) -> np.ndarray:
    """Each user follows authors whose topics they like, weighted by author quality."""
    pref = users.topic_preference  # [U, T]
    topic_match = pref[:, authors.primary_topic] + 0.5 * pref[:, authors.secondary_topic]
    weight = (topic_match + 0.02) * (0.2 + authors.quality)[None, :]  # [U, A]
    n_follow = np.minimum(
        rng.poisson(config.follows_per_user * users.activity), config.n_authors - 1
    )
    # Gumbel-top-k: sample without replacement proportionally to weight, all users at once.
    keys = np.log(weight) + rng.gumbel(size=weight.shape)
    own = np.arange(min(config.n_users, config.n_authors))
    keys[own, own] = -np.inf  # nobody follows themselves
    order = np.argsort(-keys, axis=1)
    rows = np.repeat(np.arange(config.n_users), n_follow)
    cols = order[rows, _ranks_within(n_follow)]
    edges = np.stack([users.user_id[rows], authors.author_id[cols]], axis=1)
    return edges[np.lexsort((edges[:, 1], edges[:, 0]))]


def _ranks_within(counts: np.ndarray) -> np.ndarray:
    """``[0..c0-1, 0..c1-1, ...]`` for counts ``[c0, c1, ...]``."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(counts.sum()) - starts


def draw_media_and_labels(
    config: DemoWorldConfig, original_like: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(is_video, video_duration_s, has_image, safety_label)`` of posts as the world draws
    them: videos and images only on original and quote posts (``original_like``), video
    lengths log-normal around 30 s within [3, 600] s, labels on a ``safety_label_fraction``
    of all posts. Shared with the benchmark that grows the corpus to a million posts."""
    n = original_like.size
    is_video = original_like & (rng.random(n) < config.video_fraction)
    duration = np.where(
        is_video, np.clip(rng.lognormal(np.log(30.0), 1.0, size=n), 3.0, 600.0), 0.0
    ).astype(np.float32)
    has_image = original_like & ~is_video & (rng.random(n) < config.image_fraction)
    labelled = rng.random(n) < config.safety_label_fraction
    safety_label = np.where(
        labelled, np.asarray(SAFETY_LABELS)[rng.integers(0, len(SAFETY_LABELS), n)], ""
    ).astype("<U8")
    return is_video, duration, has_image, safety_label


def _generate_posts(
    config: DemoWorldConfig, topics: tuple[str, ...], authors: Authors, rng
) -> Posts:
    n = config.n_posts
    post_id = POST_ID_BASE + 1 + np.arange(n, dtype=np.int64)
    created_at = np.sort(config.now - 1 - rng.integers(0, config.horizon_s, size=n))
    prolific = rng.lognormal(0.0, 0.8, size=config.n_authors)
    author_index = rng.choice(config.n_authors, size=n, p=prolific / prolific.sum())
    on_primary = rng.random(n) < 0.8
    topic = np.where(
        on_primary, authors.primary_topic[author_index], authors.secondary_topic[author_index]
    ).astype(np.int16)
    quality = rng.beta(2.0, 2.0, size=n).astype(np.float32)
    rank = rng.permutation(n) + 1
    popularity = (rank.astype(np.float64) ** -config.zipf_exponent) * (0.2 + quality)

    kind = rng.choice(
        4,
        size=n,
        p=[
            1 - config.reply_fraction - config.repost_fraction - config.quote_fraction,
            config.reply_fraction,
            config.repost_fraction,
            config.quote_fraction,
        ],
    )  # 0 original, 1 reply, 2 repost, 3 quote
    kind[0] = 0  # the first post has nothing earlier to refer to
    # Referenced posts are recent (within ~the previous 2,000 posts), popular ones likelier.
    lookback = np.minimum(np.arange(n), 2_000)
    offset = np.floor(lookback * rng.random(n) ** 2).astype(np.int64) + 1
    target = np.maximum(np.arange(n) - offset, 0)

    in_reply_to = np.zeros(n, np.int64)
    in_reply_user = np.zeros(n, np.int64)
    conversation = post_id.copy()
    reposted = np.zeros(n, np.int64)
    reposted_user = np.zeros(n, np.int64)
    quoted = np.zeros(n, np.int64)
    quoted_user = np.zeros(n, np.int64)
    author_id = authors.author_id[author_index]
    for i in np.flatnonzero(kind != 0):
        j = target[i]
        if kind[i] == 2 and reposted[j]:
            j = reposted[j] - POST_ID_BASE - 1  # repost the original, not a repost
        if kind[i] == 1:
            in_reply_to[i], in_reply_user[i] = post_id[j], author_id[j]
            conversation[i] = conversation[j]
            topic[i] = topic[j]
        elif kind[i] == 2:
            reposted[i], reposted_user[i] = post_id[j], author_id[j]
            topic[i], quality[i] = topic[j], quality[j]
        else:
            quoted[i], quoted_user[i] = post_id[j], author_id[j]

    is_video, duration, has_image, safety_label = draw_media_and_labels(
        config, (kind == 0) | (kind == 3), rng
    )

    text = generate_texts(topics, topic, safety_label, rng)
    text[kind == 2] = text[reposted[kind == 2] - POST_ID_BASE - 1]
    return Posts(
        post_id=post_id,
        author_id=author_id,
        created_at=created_at.astype(np.int64),
        text=text,
        topic=topic,
        quality=quality,
        popularity=(popularity / popularity.sum()).astype(np.float32),
        in_reply_to_post_id=in_reply_to,
        in_reply_to_user_id=in_reply_user,
        conversation_id=conversation,
        reposted_post_id=reposted,
        reposted_user_id=reposted_user,
        quoted_post_id=quoted,
        quoted_user_id=quoted_user,
        is_video=is_video,
        video_duration_s=duration,
        has_image=has_image,
        safety_label=safety_label,
    )


def _empty_engagements() -> Engagements:
    return Engagements(
        user_id=np.zeros(0, np.int64),
        post_id=np.zeros(0, np.int64),
        timestamp=np.zeros(0, np.int64),
        product_surface=np.zeros(0, np.int8),
        actions=np.zeros((0, len(ACTIONS)), bool),
        dwell_time_s=np.zeros(0, np.float32),
    )


def _generate_engagements(world: DemoWorld, rng) -> Engagements:
    """Impressions from three sources (followed authors, liked topics, global popularity)."""
    config, posts = world.config, world.posts
    n = config.n_impressions
    user_index = rng.choice(
        config.n_users, size=n, p=world.users.activity / world.users.activity.sum()
    )
    source = rng.choice(
        3,
        size=n,
        p=[
            config.in_network_share,
            config.topic_share,
            1 - config.in_network_share - config.topic_share,
        ],
    )  # 0 in-network, 1 liked topic, 2 popular
    post_index = _sample_popular(posts.popularity, rng.random(n))
    post_index = np.where(source == 1, _sample_topic_posts(world, user_index, rng), post_index)
    in_network, has_follows = _sample_followed_posts(world, user_index, rng)
    post_index = np.where((source == 0) & has_follows, in_network, post_index)

    user_id = world.users.user_id[user_index]
    keep = posts.author_id[post_index] != user_id  # nobody is shown their own post
    key = user_id * (config.n_posts + 1) + post_index
    _, first = np.unique(np.where(keep, key, -1), return_index=True)
    first = first[keep[first]]
    user_id, post_index, source = user_id[first], post_index[first], source[first]
    m = first.size

    delay = np.minimum(rng.exponential(3 * 3_600, size=m), config.horizon_s).astype(np.int64)
    timestamp = np.minimum(posts.created_at[post_index] + 1 + delay, config.now - 1)
    surface = np.where(source == 0, rng.integers(0, 2, m), np.where(source == 1, 2, 0))
    surface = np.where((source == 1) & (rng.random(m) < 0.7), 0, surface)

    post_id = posts.post_id[post_index]
    gate = engagement_gate(world, user_id, post_id)
    eligible = _eligibility(world, user_id, post_index)
    engaged = rng.random(m) < gate
    actions = np.zeros((m, len(ACTIONS)), bool)
    draws = rng.random((m, len(ACTIONS)))
    for name, rate in BASE_RATES.items():
        k = ACTION_INDEX[name]
        actions[:, k] = engaged & (eligible[name] > 0) & (draws[:, k] < rate)
    boost = np.where(posts.safety_label[post_index] != "", REPORT_BOOST_LABELLED, 1.0)
    for name, rate in NEGATIVE_RATES.items():
        k = ACTION_INDEX[name]
        rate_k = rate * (boost if name == "report" else 1.0)
        actions[:, k] = ~engaged & (draws[:, k] < rate_k * (1 - gate))
    median = np.where(engaged, DWELL_MEDIAN_S[1], DWELL_MEDIAN_S[0])
    dwell = np.exp(np.log(median) + DWELL_SIGMA * rng.standard_normal(m))
    actions[:, ACTION_INDEX["dwell"]] = dwell > DWELL_THRESHOLD_S
    actions[:, ACTION_INDEX["dwell_time"]] = dwell > LONG_DWELL_THRESHOLD_S

    order = np.lexsort((post_id, user_id, timestamp))
    return Engagements(
        user_id=user_id[order],
        post_id=post_id[order],
        timestamp=timestamp[order],
        product_surface=surface[order].astype(np.int8),
        actions=actions[order],
        dwell_time_s=dwell[order].astype(np.float32),
    )


def _sample_popular(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights, dtype=np.float64)
    return np.minimum(np.searchsorted(cumulative, u * cumulative[-1]), weights.size - 1)


def _sample_topic_posts(world: DemoWorld, user_index: np.ndarray, rng) -> np.ndarray:
    """A post from a topic drawn from the user's preferences, by popularity within it."""
    posts = world.posts
    pref = world.users.topic_preference[user_index].astype(np.float64)  # [N, T]
    topic = rng.random((user_index.size, 1)) * pref.sum(1, keepdims=True) > np.cumsum(pref, 1)
    topic = np.minimum(topic.sum(1), pref.shape[1] - 1)
    order = np.argsort(posts.topic, kind="stable")
    cumulative = np.cumsum(posts.popularity[order], dtype=np.float64)
    bounds = np.searchsorted(posts.topic[order], np.arange(pref.shape[1] + 1))
    low = np.where(bounds[:-1] > 0, cumulative[np.maximum(bounds[:-1] - 1, 0)], 0.0)
    high = cumulative[np.maximum(bounds[1:] - 1, 0)]
    u = low[topic] + rng.random(user_index.size) * (high[topic] - low[topic])
    return order[np.minimum(np.searchsorted(cumulative, u), order.size - 1)]


def _sample_followed_posts(
    world: DemoWorld, user_index: np.ndarray, rng
) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly chosen post by a uniformly chosen followed author (and who has one)."""
    posts, follows = world.posts, world.follows
    follow_start = np.searchsorted(follows[:, 0], world.users.user_id)
    follow_count = np.diff(np.append(follow_start, follows.shape[0]))
    by_author = np.argsort(posts.author_id, kind="stable")
    post_start = np.searchsorted(
        posts.author_id[by_author], np.arange(1, world.config.n_authors + 2)
    )
    post_count = np.diff(post_start)

    count = follow_count[user_index]
    pick = follow_start[user_index] + (rng.random(user_index.size) * count).astype(np.int64)
    followee = follows[np.minimum(pick, max(follows.shape[0] - 1, 0)), 1] if follows.size else 0
    followee = np.where(count > 0, followee, 1)
    n_by = post_count[followee - 1]
    index = post_start[followee - 1] + (rng.random(user_index.size) * n_by).astype(np.int64)
    has = (count > 0) & (n_by > 0)
    return by_author[np.minimum(index, posts.author_id.size - 1)], has


def _edges_from_action(world: DemoWorld, engagements: Engagements, action: str) -> np.ndarray:
    rows = engagements.actions[:, ACTION_INDEX[action]]
    authors = world.posts.author_id[world.post_index(engagements.post_id[rows])]
    edges = np.unique(np.stack([engagements.user_id[rows], authors], axis=1), axis=0)
    return edges.reshape(-1, 2).astype(np.int64)
