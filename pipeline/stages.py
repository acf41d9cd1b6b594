"""The stage bases in executor order, and the recipe keys that hold each."""

from __future__ import annotations

from pipeline.component import Component
from pipeline.filter import Filter
from pipeline.hydrator import Hydrator
from pipeline.query_hydrator import QueryHydrator
from pipeline.scorer import Scorer
from pipeline.selector import Selector
from pipeline.side_effect import SideEffect
from pipeline.source import Source

STAGE_BASES: tuple[type[Component], ...] = (
    QueryHydrator,
    Source,
    Hydrator,
    Filter,
    Scorer,
    Selector,
    SideEffect,
)

# recipe key -> the stage base its components must subclass, in execution order.
RECIPE_STAGES: dict[str, type[Component]] = {
    "query_hydrators": QueryHydrator,
    "dependent_query_hydrators": QueryHydrator,
    "sources": Source,
    "hydrators": Hydrator,
    "filters": Filter,
    "scorers": Scorer,
    "selector": Selector,
    "post_selection_hydrators": Hydrator,
    "post_selection_filters": Filter,
    "side_effects": SideEffect,
}
