"""What happens to a request when one of its components degrades: the failure policy.

Every component has an ``on_failure`` policy (a constructor keyword and a recipe key):

* ``skip`` (the default) — fail open: the component is skipped, the request goes on without
  its contribution, and the degradation is recorded.
* ``drop_all`` — fail closed for the candidates: every candidate at that point is removed
  (recorded in ``result.removals`` under the component, and the degradation in
  ``result.degradations``), so nothing the component could not clear is served. A candidate
  stage (hydrator, filter, scorer, post-selection hydrator or filter) drops the candidates
  it was given; a query hydrator drops every candidate right after the sources. A hydrator
  or scorer that fails for single candidates only (an ``Exception`` in their slot) drops
  just those candidates.
* ``fail`` — fail closed for the request: it raises
  :class:`~pipeline.errors.RequiredComponentFailed` (or
  :class:`~pipeline.errors.DeadlineExceeded`). ``required=True`` is the older spelling.

``ALLOWED_POLICIES`` says which policies each stage accepts: dropping candidates means
nothing for a source, the selector or a side effect, and a side effect runs after the
response, so it can only be skipped.
"""

from __future__ import annotations

from typing import Literal, get_args

FailurePolicy = Literal["skip", "drop_all", "fail"]

FAILURE_POLICIES: tuple[FailurePolicy, ...] = get_args(FailurePolicy)

# Component.stage -> the policies a component of that stage may have.
ALLOWED_POLICIES: dict[str, tuple[FailurePolicy, ...]] = {
    "query_hydrator": ("skip", "drop_all", "fail"),
    "source": ("skip", "fail"),
    "hydrator": ("skip", "drop_all", "fail"),
    "filter": ("skip", "drop_all", "fail"),
    "scorer": ("skip", "drop_all", "fail"),
    "selector": ("skip", "fail"),
    "side_effect": ("skip",),
}


def policy_problem(stage: str, on_failure: str | None, required: bool) -> str | None:
    """Why ``on_failure``/``required`` cannot be used for a ``stage`` component, or ``None``."""
    if on_failure is not None and on_failure not in FAILURE_POLICIES:
        return f"on_failure must be one of {', '.join(FAILURE_POLICIES)}, got {on_failure!r}"
    if required and on_failure not in (None, "fail"):
        return (
            f"`required: true` means `on_failure: fail`, which contradicts "
            f"`on_failure: {on_failure}`; keep only `on_failure`"
        )
    policy = resolve_policy(on_failure, required)
    allowed = ALLOWED_POLICIES.get(stage, FAILURE_POLICIES)
    if policy not in allowed:
        if stage == "side_effect":
            return (
                "a side effect runs after the response and cannot fail it or drop "
                "candidates; on_failure must be skip (and `required` false)"
            )
        return (
            f"on_failure: {policy} is not allowed for a {stage}; "
            f"expected one of: {', '.join(allowed)}"
        )
    return None


def resolve_policy(on_failure: str | None, required: bool) -> FailurePolicy:
    """The effective policy: ``on_failure`` if given, else ``fail`` if ``required``, else
    ``skip``."""
    if on_failure is not None:
        return on_failure  # type: ignore[return-value]
    return "fail" if required else "skip"
