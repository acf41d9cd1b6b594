"""What a request returns: the served candidates and everything that explains them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from pipeline.component import C, Q

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Degradation:
    """A component that was skipped (or partly applied) without failing the request.

    ``kind`` is one of ``exception``, ``timeout``, ``deadline``, ``wrong_length``, ``partial``
    (the component returned a :class:`Partial` answer: applied, but incomplete),
    ``wrong_type``, ``undeclared_write``, ``not_its_input`` (a filter or selector returned
    candidates it was not given, or one twice), ``non_finite`` (a scorer returned NaN or
    ±Inf) or ``candidate_failed`` (then ``candidate_ids`` lists the candidates that kept their
    old fields).
    """

    component: str
    stage: str
    kind: str
    message: str
    candidate_ids: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "component": self.component,
            "stage": self.stage,
            "kind": self.kind,
            "message": self.message,
        }
        if self.candidate_ids:
            data["candidate_ids"] = list(self.candidate_ids)
        return data


@dataclass(frozen=True, slots=True)
class Partial(Generic[T]):
    """A usable but incomplete answer: what a component returns when it ran out of time or
    data part-way (``return Partial(candidates, "scanned 2 of 10 authors")``).

    The executor checks and applies ``value`` as if it had been returned directly, and records
    a ``partial`` degradation of the component with ``reason``, so the gap is reported instead
    of being served silently. It is not a failure: no failure policy acts on it.
    """

    value: T
    reason: str


@dataclass(slots=True)
class Removed(Generic[C]):
    """A candidate a filter removed, and which filter did it.

    ``filter`` is the component's name; ``reason`` is set when the candidate was removed
    because that component degraded under ``on_failure: drop_all`` (the component need not be
    a filter then), and is ``None`` for a filter's ordinary decision.
    """

    candidate: C
    filter: str
    stage: str
    reason: str | None = None


@dataclass(slots=True)
class Removals(Generic[C]):
    """Everything one component removed (kept as a batch so the hot path allocates nothing)."""

    filter: str
    stage: str
    candidates: list[C]
    reason: str | None = None


@dataclass(slots=True)
class Timings:
    """Wall-clock milliseconds per component (by instance name) and per stage, and in total."""

    components: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    total_ms: float = 0.0


@dataclass
class PipelineResult(Generic[Q, C]):
    """Everything one request produced.

    ``selected`` is the response, best first. ``scored`` holds every candidate that reached
    selection and ``non_selected`` those of them not served; ``removed`` every filtered
    candidate with its filter; ``degradations`` every component that did not contribute and
    why. ``removed`` and ``non_selected`` are computed on first access, off the hot path.
    """

    request_id: str
    query: Q
    retrieved: list[C]
    selected: list[C]
    scored: list[C]
    removals: list[Removals[C]]
    degradations: list[Degradation]
    timings: Timings
    retrieved_by: dict[str, list[C]]
    score_fields: tuple[str, ...] = ()

    @cached_property
    def non_selected(self) -> list[C]:
        """Candidates that reached selection but are not served (selector or result size)."""
        left_out = {id(c) for c in self.selected}
        for batch in self.removals:  # post-selection stages remove from the selected set
            if batch.stage.startswith("post_selection_"):
                left_out.update(id(c) for c in batch.candidates)
        return [c for c in self.scored if id(c) not in left_out]

    @cached_property
    def removed(self) -> list[Removed[C]]:
        """Every removed candidate with the filter that removed it, in removal order."""
        return [
            Removed(candidate, batch.filter, batch.stage, batch.reason)
            for batch in self.removals
            for candidate in batch.candidates
        ]

    def explain(self, candidate_id: Any) -> str:
        """One paragraph telling a candidate's path through the pipeline."""
        source = self.source_of(candidate_id)
        if source is None:
            return f"{candidate_id!r} was not retrieved by any source."
        lines = [f"{candidate_id!r} was retrieved by source {source!r}."]
        for removal in self.removed:
            if _id(removal.candidate) == candidate_id:
                if removal.reason is None:
                    lines.append(f"It was removed by filter {removal.filter!r} ({removal.stage}).")
                else:
                    lines.append(
                        f"It was removed because {removal.filter!r} ({removal.stage}) failed "
                        f"and drops all candidates when it does: {removal.reason}."
                    )
                return " ".join(lines)
        for rank, candidate in enumerate(self.selected, start=1):
            if _id(candidate) == candidate_id:
                lines.append(f"It was served at rank {rank} of {len(self.selected)}.")
                lines.append(self._scores(candidate))
                return " ".join(lines)
        for candidate in self.non_selected:
            if _id(candidate) == candidate_id:
                lines.append("It passed every filter but was not selected.")
                lines.append(self._scores(candidate))
                return " ".join(lines)
        lines.append("It did not reach selection (a stage before it degraded).")
        return " ".join(lines)

    def source_of(self, candidate_id: Any) -> str | None:
        """The name of the first source that retrieved ``candidate_id``."""
        for source, candidates in self.retrieved_by.items():
            if any(_id(c) == candidate_id for c in candidates):
                return source
        return None

    def _scores(self, candidate: C) -> str:
        scores = ", ".join(f"{f}={getattr(candidate, f, None)!r}" for f in self.score_fields)
        return f"Scores: {scores}." if scores else ""


def _id(candidate: Any) -> Any:
    return candidate.id
