"""feedmixer's candidate-pipeline framework: stage interfaces, executor, recipes.

Importing this package never imports JAX or any feed-specific code.
"""

from pipeline.errors import (
    ComponentDefinitionError,
    ContractViolation,
    DeadlineExceeded,
    FeedmixerError,
    MissingResource,
    RecipeError,
    RequiredComponentFailed,
    UnknownComponentError,
)
from pipeline.executor import DEFAULT_DEADLINE_MS, Pipeline
from pipeline.filter import Filter, FilterResult
from pipeline.hydrator import Hydrator
from pipeline.policy import FailurePolicy
from pipeline.query_hydrator import QueryHydrator
from pipeline.recipe import load_recipe
from pipeline.registry import register, registered
from pipeline.result import Degradation, Partial, PipelineResult, Removed, Timings
from pipeline.scorer import Scorer
from pipeline.selector import Selector
from pipeline.side_effect import SideEffect
from pipeline.source import Source

__all__ = [
    "DEFAULT_DEADLINE_MS",
    "ComponentDefinitionError",
    "ContractViolation",
    "DeadlineExceeded",
    "Degradation",
    "FailurePolicy",
    "FeedmixerError",
    "Filter",
    "FilterResult",
    "Hydrator",
    "MissingResource",
    "Partial",
    "Pipeline",
    "PipelineResult",
    "QueryHydrator",
    "RecipeError",
    "Removed",
    "RequiredComponentFailed",
    "Scorer",
    "Selector",
    "SideEffect",
    "Source",
    "Timings",
    "UnknownComponentError",
    "load_recipe",
    "register",
    "registered",
]
