"""Imports every module that registers a For-You component (the ``feedmixer.components``
entry point). Importing it is cheap: no module here imports JAX at import time."""

import importlib

MODULES = (
    "components.query_hydrators.user_features",
    "components.query_hydrators.engagement_history",
    "components.query_hydrators.served_history",
    "components.query_hydrators.impressions",
    "components.sources.thunder",
    "components.sources.phoenix",
    "components.hydrators.core_data",
    "components.hydrators.in_network",
    "components.hydrators.author_info",
    "components.hydrators.video_duration",
    "components.hydrators.engagement_so_far",
    "components.hydrators.visibility",
    "components.filters.drop_duplicates",
    "components.filters.core_data",
    "components.filters.age",
    "components.filters.self_post",
    "components.filters.repost_dedup",
    "components.filters.previously_seen",
    "components.filters.previously_served",
    "components.filters.muted_keyword",
    "components.filters.author_social_graph",
    "components.filters.visibility",
    "components.filters.conversation_dedup",
    "components.scorers.phoenix",
    "components.scorers.engagement_prior",
    "components.scorers.weighted",
    "components.scorers.author_diversity",
    "components.scorers.oon",
    "components.side_effects.record_served",
    "components.side_effects.served_log",
)

for _module in MODULES:
    importlib.import_module(_module)
