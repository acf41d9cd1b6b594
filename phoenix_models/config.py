"""Typed, frozen, JSON-serialisable configuration of the Phoenix models.

One :class:`PhoenixConfig` describes both the ranker and the retrieval model (they share the
transformer and the hash embeddings); each model reads the fields it needs. The module
imports no JAX so the CLI and the pipeline can read configs cheaply.

Examples:
    >>> from phoenix_models.config import PhoenixConfig
    >>> cfg = PhoenixConfig.tiny()
    >>> PhoenixConfig.from_json(cfg.to_json()) == cfg
    True
    >>> PhoenixConfig.mini().ffn_size
    176
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from phoenix_models.errors import ConfigError

PositionMode = Literal["default", "right_anchored"]
HistoryAttention = Literal["causal", "bidirectional"]
ComputeDtype = Literal["float32", "bfloat16"]

#: The 19 ranking outputs of the published checkpoints, in output order.
PUBLISHED_ACTIONS: tuple[str, ...] = (
    "favorite",
    "reply",
    "repost",
    "photo_expand",
    "click",
    "profile_click",
    "video_quality_view",
    "share",
    "share_via_dm",
    "share_via_copy_link",
    "dwell",
    "quote",
    "quoted_click",
    "follow_author",
    "not_interested",
    "block_author",
    "mute_author",
    "report",
    "dwell_time",
)

POSITIVE_ACTIONS: tuple[str, ...] = tuple(
    a
    for a in PUBLISHED_ACTIONS
    if a not in ("dwell", "dwell_time", "not_interested", "block_author", "mute_author", "report")
)
"""Actions that count as engaging with a post: a retrieval positive, and the "engaged" of a
post's engagement so far (dwell alone does not count, nor do the negative actions)."""

# A Mersenne prime keeps the first modulo well mixed; scales and biases are arbitrary odd
# constants. Published checkpoints carry their own values in config.json.
_DEFAULT_MODULUS = 2_305_843_009_213_693_951  # 2**61 - 1
_DEFAULT_SCALES = (
    (6_364_136_223_846_793_005, 1_442_695_040_888_963_407),
    (2_862_933_555_777_941_757, 3_037_000_493),
    (3_202_034_522_624_059_733, 1_181_783_497_276_652_981),
)
_DEFAULT_BIASES = (
    (1_013_904_223, 1_664_525),
    (12_345, 2_891_336_453),
    (7_046_029_254_386_353_131, 97),
)

#: Upper bounds of the size fields: far above any real Phoenix model, low enough that a
#: typo (or a hostile ``config.json``) is refused before anything is allocated.
MAX_SIZES: dict[str, int] = {
    "emb_size": 16_384,
    "num_layers": 256,
    "num_q_heads": 1_024,
    "num_kv_heads": 1_024,
    "key_size": 4_096,
    "history_seq_len": 65_536,
    "candidate_seq_len": 65_536,
    "num_actions": 4_096,
    "num_continuous": 4_096,
    "product_surface_vocab_size": 1_000_000,
    "post_age_granularity_mins": 10_000_000,
    "post_age_max_mins": 10_000_000,
    "dwell_hidden": 65_536,
}
#: Upper bounds of the real-valued fields (they must also be finite and positive).
MAX_FACTORS: dict[str, float] = {
    "widening_factor": 64.0,
    "attn_output_multiplier": 1_000.0,
    "dwell_norm_scale": 1e9,
}
#: The most parameters a configuration may describe (16 GiB of float32), checked from the
#: fields before any array is allocated (:meth:`PhoenixConfig.parameter_count`).
MAX_PARAMETERS = 4 * 2**30
MAX_VOCAB_SIZE = 2**31
#: Bounds of the content inputs: semantic-ID levels (0 = no SID input) and codes per level.
MAX_SID_LEVELS = 16
MAX_SID_CODEBOOK_SIZE = 65_536
#: Media buckets of a post (:func:`phoenix_models.batch.media_bucket`): 0 unknown/padding,
#: 1 text only, 2 image, 3.. video by duration.
MEDIA_VOCAB_SIZE = 8
#: Upper bounds (exclusive) of the engaged-share buckets of ``batch.engagement_bucket``.
ENGAGEMENT_SHARE_BOUNDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6)
#: Impression-count buckets of ``batch.engagement_bucket``: 0, 1, 2-3, 4-7, 8-15, 16-31, 32+.
ENGAGEMENT_COUNT_BUCKETS = 7
#: Rows of ``engagement_embedding_table``: "unknown", then counts x shares.
ENGAGEMENT_VOCAB_SIZE = 1 + ENGAGEMENT_COUNT_BUCKETS * (len(ENGAGEMENT_SHARE_BOUNDS) + 1)
#: Safety labels with their own row of ``safety_label_embedding_table``
#: (``batch.safety_label_bucket``); any other label shares one "other label" row.
SAFETY_LABELS = ("nsfw", "violence", "spam")
#: Rows of ``safety_label_embedding_table``: unknown, no label, each of
#: :data:`SAFETY_LABELS`, another label.
SAFETY_LABEL_VOCAB_SIZE = 3 + len(SAFETY_LABELS)


@dataclass(frozen=True)
class EntityHash:
    """How one entity kind (user, post, author) is hashed into its embedding table.

    ``h = ((id * scale + bias) mod modulus) mod (vocab_size - 1) + 1`` per hash function,
    in int64 with wrap-around; id 0 hashes to 0 (padding). ``vocab_size`` is the number of
    rows of the entity's table (row 0 is never a real id).
    """

    vocab_size: int
    scales: tuple[int, ...]
    biases: tuple[int, ...]
    modulus: int

    @property
    def num_hashes(self) -> int:
        return len(self.scales)

    def validate(self, name: str) -> None:
        if not 2 <= self.vocab_size <= MAX_VOCAB_SIZE:
            raise ConfigError(
                f"{name}.vocab_size must be >= 2 and <= {MAX_VOCAB_SIZE}, "
                f"got {preview(self.vocab_size)}"
            )
        if not self.scales or len(self.scales) != len(self.biases):
            raise ConfigError(
                f"{name}: need one bias per scale and at least one hash, got "
                f"{len(self.scales)} scales and {len(self.biases)} biases"
            )
        if self.modulus <= 0:
            raise ConfigError(f"{name}.modulus must be positive, got {preview(self.modulus)}")
        for value in (*self.scales, *self.biases, self.modulus):
            if not -(2**63) <= value < 2**63:
                raise ConfigError(f"{name}: hash parameter {preview(value)} does not fit in int64")

    @classmethod
    def default(cls, entity: int, vocab_size: int, num_hashes: int = 2) -> EntityHash:
        """Deterministic hash parameters for entity 0 (user), 1 (post) or 2 (author)."""
        if not 1 <= num_hashes <= 2:
            raise ConfigError(f"default hash parameters exist for 1 or 2 hashes, not {num_hashes}")
        return cls(
            vocab_size=vocab_size,
            scales=_DEFAULT_SCALES[entity][:num_hashes],
            biases=_DEFAULT_BIASES[entity][:num_hashes],
            modulus=_DEFAULT_MODULUS,
        )


@dataclass(frozen=True)
class PhoenixConfig:
    """Dimensions, hashing, inputs and numerics of the Phoenix ranker and retrieval model.

    Defaults are the published "mini" configuration except the vocabulary sizes, which
    :meth:`mini` sets to the published 1M buckets.

    Attributes:
        emb_size: model width D.
        num_layers: decoder layers.
        num_q_heads / num_kv_heads: attention heads (grouped-query when kv < q).
        key_size: per-head width; must be even for RoPE.
        widening_factor: FFN width is ``int(widening * D) * 2 // 3`` rounded up to 8.
        attn_output_multiplier: attention logits are scaled by this, then capped
            ``30 * tanh(x / 30)``.
        history_seq_len: S, history slots per user (padded / truncated to this).
        candidate_seq_len: candidates per chunk of the published runner; also the slot
            period of "chunked" candidate positions.
        num_actions / action_names: ranking outputs, in output order.
        num_continuous: outputs of the continuous head (dwell time etc.).
        product_surface_vocab_size: product-surface ids are in ``[0, vocab)``.
        post_age_granularity_mins / post_age_max_mins: hourly post-age buckets up to the max,
            plus an overflow and a missing bucket.
        dwell_norm_scale / dwell_hidden: history dwell time is clipped to the scale,
            divided by it, and projected by a 1 -> hidden -> D GELU MLP.
        user_hash / item_hash / author_hash: hash parameters per entity.
        position_mode: "default" (RoPE position = token index) or "right_anchored" (newest
            history item and every candidate at fixed positions).
        history_attention: "causal" (published checkpoints) or "bidirectional" (X's newest
            release) attention among user + history tokens.
        dtype: compute dtype; parameters stay float32.
        action_bias: the ranker's action head has a per-action bias
            (``phoenix_model/action_bias``), which training starts at the data's base-rate
            logits. X's layout has none (``False``).
        sid_levels / sid_codebook_size: semantic-ID inputs: each post token (ranker
            candidates and history, retrieval history and candidate tower) adds embeddings of
            ``sid_levels`` codes of ``sid_codebook_size`` each, through a separate projection
            (published parameters keep their names and shapes). 0 levels = no SID input.
        media_inputs: post tokens also embed the media bucket (none / image / video by
            duration) through the same content projection.
        candidate_post_ids: candidate posts (ranker candidate tokens and the retrieval
            candidate tower) read their post-id hash embeddings (X's layout); ``False``
            builds a candidate from its author and content only, so a new post has a trained
            representation the moment it has a SID.
        history_post_ids / user_ids: history tokens read their post-id hash embeddings, and
            the user token its user-id hash embedding (X's layout); ``False`` leaves them
            out (the parameters keep their shapes), so the model learns a user's taste
            from the content of their history instead of memorising ids.
        content_cross: the ranker adds to each candidate token an explicit cross of its
            content with the mean content of the user's history
            (``(c_cand W_c) * mean_s(c_hist W_h) @ W_o``, a target-attention feature as in
            DIN); needs content inputs. The transformer alone did not learn this match
            within a demo-sized training budget (its scores barely changed with the user's
            history). The retrieval user tower adds the same history summary
            (``mean_s(c_hist W_h)``) to its pooled output.
        sid_match: the ranker adds to each candidate token a projection of the share of
            the user's history whose semantic ID starts like the candidate's (one share per
            prefix length, and its square root), an exact "how much of what this user
            engaged with is on this candidate's topic" signal. The learned cross above
            approximates it through a mean; on the demo world the exact share alone ranks
            favorites at AUC 0.649, above the cross-only ranker. Needs ``sid_levels``.
        engagement_inputs: ranker candidate tokens add an embedding of the post's
            engagement so far (impressions and the engaged share, ``batch.engagement_
            bucket``): the only input that says anything about the post's own quality, which
            its author, topic and media do not. Off in X's layout.
        safety_label_inputs: ranker candidate tokens add an embedding of the post's safety
            label (``batch.safety_label_bucket``: none, one of :data:`SAFETY_LABELS`, or
            another). Viewers report labelled posts far more often, and nothing else a
            token reads says a post carries a label, so without it ``report`` is
            mis-calibrated wherever the labelled share differs from training's. Off in X's
            layout (X applies labels in visibility filtering, not in the ranker).
    """

    emb_size: int = 128
    num_layers: int = 4
    num_q_heads: int = 4
    num_kv_heads: int = 4
    key_size: int = 32
    widening_factor: float = 2.0
    attn_output_multiplier: float = 0.125
    history_seq_len: int = 127
    candidate_seq_len: int = 64
    num_actions: int = 19
    action_names: tuple[str, ...] = PUBLISHED_ACTIONS
    num_continuous: int = 8
    product_surface_vocab_size: int = 16
    post_age_granularity_mins: int = 60
    post_age_max_mins: int = 4800
    dwell_norm_scale: float = 30.0
    dwell_hidden: int = 64
    user_hash: EntityHash = field(default_factory=lambda: EntityHash.default(0, 1_000_000))
    item_hash: EntityHash = field(default_factory=lambda: EntityHash.default(1, 1_000_000))
    author_hash: EntityHash = field(default_factory=lambda: EntityHash.default(2, 1_000_000))
    position_mode: PositionMode = "default"
    history_attention: HistoryAttention = "causal"
    dtype: ComputeDtype = "float32"
    action_bias: bool = False
    sid_levels: int = 0
    sid_codebook_size: int = 64
    media_inputs: bool = False
    candidate_post_ids: bool = True
    history_post_ids: bool = True
    user_ids: bool = True
    content_cross: bool = False
    sid_match: bool = False
    engagement_inputs: bool = False
    safety_label_inputs: bool = False

    _CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "position_mode": ("default", "right_anchored"),
        "history_attention": ("causal", "bidirectional"),
        "dtype": ("float32", "bfloat16"),
    }

    def __post_init__(self) -> None:
        for name, most in MAX_SIZES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
                raise ConfigError(
                    f"{name} must be a positive integer <= {most}, got {preview(value)}"
                )
        for name, most in MAX_FACTORS.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)  # NaN compares false with everything
                or not 0 < value <= most
            ):
                raise ConfigError(
                    f"{name} must be a positive finite number <= {most:g}, got {preview(value)}"
                )
        if self.num_q_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_q_heads ({self.num_q_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        if self.key_size % 2:
            raise ConfigError(f"key_size must be even for rotary embeddings, got {self.key_size}")
        if len(self.action_names) != self.num_actions:
            raise ConfigError(
                f"action_names has {len(self.action_names)} names but num_actions is "
                f"{self.num_actions}"
            )
        for name, choices in self._CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(choices)}; got {preview(value)}"
                )
        for name in ("user_hash", "item_hash", "author_hash"):
            getattr(self, name).validate(name)
        for name in (
            "action_bias",
            "media_inputs",
            "candidate_post_ids",
            "history_post_ids",
            "user_ids",
            "content_cross",
            "sid_match",
            "engagement_inputs",
            "safety_label_inputs",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"{name} must be true or false, got {preview(getattr(self, name))}"
                )
        for name, low, most in (
            ("sid_levels", 0, MAX_SID_LEVELS),
            ("sid_codebook_size", 2, MAX_SID_CODEBOOK_SIZE),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= most:
                raise ConfigError(
                    f"{name} must be an integer in [{low}, {most}], got {preview(value)}"
                )
        if not (self.candidate_post_ids and self.history_post_ids) and not self.has_content:
            raise ConfigError(
                "candidate_post_ids or history_post_ids false needs content inputs (sid_levels > 0 "
                "or media_inputs): a post would be its author alone"
            )
        if self.content_cross and not self.has_content:
            raise ConfigError("content_cross needs content inputs (sid_levels > 0 or media_inputs)")
        if self.sid_match and not self.sid_levels:
            raise ConfigError("sid_match needs semantic-ID inputs (sid_levels > 0)")
        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            raise ConfigError(
                f"this configuration describes about {count:,} parameters "
                f"({count * 4 / 2**30:,.1f} GiB of float32), above the limit of "
                f"{MAX_PARAMETERS:,}; check the size fields (emb_size {self.emb_size}, "
                f"num_layers {self.num_layers}, vocabulary sizes)"
            )

    # ---- derived sizes -------------------------------------------------------------------

    @property
    def ffn_size(self) -> int:
        """Gated-FFN width: ``int(widening * D) * 2 // 3`` rounded up to a multiple of 8."""
        size = int(self.widening_factor * self.emb_size) * 2 // 3
        return size + (8 - size) % 8

    @property
    def post_age_vocab_size(self) -> int:
        """Hourly buckets up to the max age, plus overflow and missing (bucket 0)."""
        return self.post_age_max_mins // self.post_age_granularity_mins + 2

    @property
    def has_content(self) -> bool:
        """Whether post tokens take content inputs (semantic IDs or media)."""
        return self.sid_levels > 0 or self.media_inputs

    @property
    def content_tokens(self) -> int:
        """Embeddings concatenated into a post's content input: SID levels, then media."""
        return self.sid_levels + int(self.media_inputs)

    def parameter_count(self) -> int:
        """An upper bound on the parameter count of either model this config describes,
        from the fields alone (no JAX, no allocation): the shared tables and transformer,
        the ranker's inputs, plus the larger of the ranker's heads and the retrieval
        candidate tower. Within a few percent of both models' true counts."""
        d, k = self.emb_size, self.key_size
        attention = d * k * (2 * self.num_q_heads + 2 * self.num_kv_heads)
        layer = attention + 3 * d * self.ffn_size + 4 * d
        tables = d * sum(h.vocab_size for h in (self.user_hash, self.item_hash, self.author_hash))
        item_author = self.item_hash.num_hashes + self.author_hash.num_hashes
        context = (
            d
            * (
                self.product_surface_vocab_size
                + self.num_actions
                + self.user_hash.num_hashes * d
                + (item_author + 3) * d
                + self.dwell_hidden
            )
            + self.dwell_hidden
        )
        ranker_heads = d * (
            self.post_age_vocab_size
            + (item_author + 2) * d
            + self.num_actions
            + self.num_continuous
        )
        retrieval_tower = item_author * d * 2 * d + 2 * d * d
        content = (
            d
            * (
                self.sid_levels * (self.sid_codebook_size + 1)
                + MEDIA_VOCAB_SIZE * self.media_inputs
                + 6 * self.content_tokens * d
                + d * self.content_cross
                + 2 * self.sid_levels * self.sid_match
                + ENGAGEMENT_VOCAB_SIZE * self.engagement_inputs
                + SAFETY_LABEL_VOCAB_SIZE * self.safety_label_inputs
            )
            + self.num_actions * self.action_bias
        )
        return (
            content
            + tables
            + self.num_layers * layer
            + d
            + context
            + max(ranker_heads, retrieval_tower)
        )

    @property
    def context_len(self) -> int:
        """Tokens of the user context: the user token and S history slots."""
        return 1 + self.history_seq_len

    # ---- presets ---------------------------------------------------------------------------

    @classmethod
    def mini(cls, **overrides: Any) -> PhoenixConfig:
        """The published mini configuration (D=128, 4 layers, 4 heads, 1M buckets/table)."""
        return dataclasses.replace(cls(), **overrides)

    @classmethod
    def tiny(cls, **overrides: Any) -> PhoenixConfig:
        """A very small model for tests and demos (D=16, 2 layers, GQA 2:1, 1k buckets)."""
        base = cls(
            emb_size=16,
            num_layers=2,
            num_q_heads=2,
            num_kv_heads=1,
            key_size=8,
            history_seq_len=8,
            candidate_seq_len=4,
            dwell_hidden=8,
            user_hash=EntityHash.default(0, 1_000),
            item_hash=EntityHash.default(1, 1_000),
            author_hash=EntityHash.default(2, 1_000),
        )
        return dataclasses.replace(base, **overrides)

    # ---- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> PhoenixConfig:
        """Strict inverse of :meth:`to_dict`: unknown or mistyped fields raise ConfigError.

        Missing fields take their defaults, so configs written by an older version load.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown config field {unknown[0]!r}; expected one of: {', '.join(known)}"
            )
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("user_hash", "item_hash", "author_hash"):
                kwargs[name] = _entity_hash_from_dict(name, value)
            elif name == "action_names":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError("action_names must be a list of strings")
                kwargs[name] = tuple(value)
            else:
                kwargs[name] = _check_scalar(name, value, type(getattr(defaults, name)))
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> PhoenixConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
            raise ConfigError(f"config is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def preview(value: Any, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters (a 5,000-digit number stays one line)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**width else None
    if text is None:  # repr of a huge int is slow and, past 4,300 digits, refused
        text = f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_scalar(name: str, value: Any, expected: type) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config field {name!r} must be true or false, got {preview(value)}")
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"config field {name!r} is too large: {preview(value)}") from None
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(
            f"config field {name!r} must be {expected.__name__}, got {type(value).__name__}"
        )
    return value


def _entity_hash_from_dict(name: str, value: Any) -> EntityHash:
    fields = ("vocab_size", "scales", "biases", "modulus")
    if not isinstance(value, dict) or set(value) != set(fields):
        raise ConfigError(f"config field {name!r} must be an object with keys {', '.join(fields)}")
    for key in ("vocab_size", "modulus"):
        _check_scalar(f"{name}.{key}", value[key], int)
    for key in ("scales", "biases"):
        items = value[key]
        if not isinstance(items, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in items
        ):
            raise ConfigError(f"config field {name}.{key} must be a list of integers")
    return EntityHash(
        vocab_size=value["vocab_size"],
        scales=tuple(value["scales"]),
        biases=tuple(value["biases"]),
        modulus=value["modulus"],
    )
