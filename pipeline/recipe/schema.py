"""The shape of a recipe file, as pydantic models (component params are checked separately,
against each component's own ``Params`` model)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.policy import FailurePolicy


class ComponentEntry(BaseModel):
    """One component in a stage list: which registered component, and how to configure it."""

    model_config = ConfigDict(extra="forbid")

    use: str = Field(description="registered component name, e.g. `age`")
    name: str | None = Field(None, description="instance name (defaults to `use`)")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="per-call time budget"
    )
    on_failure: FailurePolicy | None = Field(
        None, description="when it degrades: skip (default), drop_all candidates, or fail"
    )
    required: bool = Field(False, description="same as `on_failure: fail`")
    enabled: bool = True

    @property
    def instance_name(self) -> str:
        return self.name or self.use


class RecipeSpec(BaseModel):
    """A whole recipe after ``extends`` and overrides are applied."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    extends: str | None = None
    result_size: int | None = Field(None, ge=1)
    deadline_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="request deadline (default 5000 ms)"
    )
    set: dict[str, Any] = Field(default_factory=dict)
    query_hydrators: list[ComponentEntry] = Field(default_factory=list)
    dependent_query_hydrators: list[ComponentEntry] = Field(default_factory=list)
    sources: list[ComponentEntry] = Field(default_factory=list)
    hydrators: list[ComponentEntry] = Field(default_factory=list)
    filters: list[ComponentEntry] = Field(default_factory=list)
    scorers: list[ComponentEntry] = Field(default_factory=list)
    selector: ComponentEntry | None = None
    post_selection_hydrators: list[ComponentEntry] = Field(default_factory=list)
    post_selection_filters: list[ComponentEntry] = Field(default_factory=list)
    side_effects: list[ComponentEntry] = Field(default_factory=list)
