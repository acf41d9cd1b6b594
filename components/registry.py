"""Imports every module that registers a For-You component (the ``feedmixer.components``
entry point). Importing it is cheap: no module here imports JAX at import time."""

from components.filters import (  # noqa: F401
    age,
    author_social_graph,
    conversation_dedup,
    core_data,
    drop_duplicates,
    muted_keyword,
    previously_seen,
    previously_served,
    repost_dedup,
    self_post,
    visibility,
)
from components.hydrators import (  # noqa: F401
    author_info,
    in_network,
    video_duration,
)
from components.query_hydrators import (  # noqa: F401
    engagement_history,
    impressions,
    served_history,
    user_features,
)
from components.scorers import (  # noqa: F401
    author_diversity,
    oon,
    weighted,
)
from components.side_effects import record_served, served_log  # noqa: F401
from components.sources import phoenix as phoenix_source  # noqa: F401
