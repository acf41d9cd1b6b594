"""The component contract, written once.

A component is a small class with one job. It subclasses exactly one stage base
(:class:`~pipeline.QueryHydrator`, :class:`~pipeline.Source`, :class:`~pipeline.Hydrator`,
:class:`~pipeline.Filter`, :class:`~pipeline.Scorer`, :class:`~pipeline.Selector` or
:class:`~pipeline.SideEffect`) and implements that stage's **one** method, either as a plain
``def`` or as an ``async def``. Everything else has a default:

* ``Params`` — a pydantic model of the component's typed parameters (what a recipe's
  ``params:`` block is validated against). Instances read them as ``self.params``.
* ``reads`` / ``writes`` — the candidate fields (query fields for query hydrators) the component
  reads and writes. The executor copies back *only* the declared ``writes``, so one component
  can never clobber another's fields, and recipe loading checks every ``reads`` against what
  runs upstream.
* ``query_reads`` — query fields a candidate-stage component needs (checked the same way).
* ``enable(query)`` — a per-request gate; a disabled component is skipped, not degraded.
* ``needs`` — the keys of the shared resources (stores, models, indexes) ``warm_up`` takes
  from ``resources``. The application reads them before building anything
  (``load_recipe(path).needs``), builds each resource once and passes them all to
  ``load_recipe(..., resources=...)``; the executor checks them before ``warm_up`` and a
  missing one degrades the component with a :class:`~pipeline.errors.MissingResource`
  naming it and the key. ``optional_needs`` declares the keys only some params use: an
  instance whose params use one adds it to its own ``needs`` in ``__init__``, so a
  pipeline that does not use it needs no such resource.
* ``warm_up(resources)`` — heavy setup (open stores, load models), run once before the first
  request, never in ``__init__``. ``resources`` is the mapping given to the pipeline.
* ``close()`` — release what ``warm_up`` acquired.
* ``on_failure`` — what a degradation of this component does to the request: ``skip``
  (default), ``drop_all`` or ``fail`` (see :mod:`pipeline.policy`); ``required=True`` is
  ``on_failure="fail"``.
* ``max_threads`` / ``inline_max_ms`` / ``run_in_thread`` — a plain ``def`` stage method runs
  in a worker thread that a timeout can abandon (:mod:`pipeline.threads`), so it holds
  neither the event loop nor the request past its budget; at most ``max_threads`` of them
  live at once per component (hung ones included). Once a few calls in a row each finished
  under ``inline_max_ms`` it runs inline (a thread hop would cost more than the call); one
  slower inline call sends it back to threads for good. ``run_in_thread = True`` (for
  anything that does I/O or heavy work) means never inline.

The framework owns everything around the call: timing, timeouts, output checks and
degradation. A component never has to catch its own exceptions.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from pipeline.errors import ComponentDefinitionError
from pipeline.policy import FailurePolicy, policy_problem, resolve_policy
from pipeline.threads import DEFAULT_INLINE_MAX_MS, DEFAULT_THREADS_PER_COMPONENT, SyncRunner

Q = TypeVar("Q")
C = TypeVar("C")


class NoParams(BaseModel):
    """Parameters of a component that takes none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Component(Generic[Q, C]):
    """Base of every stage interface. See the module docstring for the contract."""

    stage: ClassVar[str] = ""
    method_name: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()
    query_reads: ClassVar[frozenset[str]] = frozenset()
    needs: ClassVar[frozenset[str]] = frozenset()
    optional_needs: ClassVar[frozenset[str]] = frozenset()
    run_in_thread: ClassVar[bool] = False
    max_threads: ClassVar[int] = DEFAULT_THREADS_PER_COMPONENT
    inline_max_ms: ClassVar[float] = DEFAULT_INLINE_MAX_MS
    default_timeout_ms: ClassVar[float | None] = None
    registered_name: ClassVar[str | None] = None
    query_type: ClassVar[type | None] = None
    candidate_type: ClassVar[type | None] = None
    is_async: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("reads", "writes", "query_reads", "needs", "optional_needs"):
            names = getattr(cls, attr)
            if isinstance(names, str):  # frozenset("thunder") would be its letters
                raise ComponentDefinitionError(
                    f"{cls.__name__}.{attr} must be a set of names, got the string {names!r}; "
                    f"write {attr} = {{{names!r}}}"
                )
            setattr(cls, attr, frozenset(names))
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Component):
                args = typing.get_args(base)
                if len(args) == 2:
                    if isinstance(args[0], type):
                        cls.query_type = args[0]
                    if isinstance(args[1], type):
                        cls.candidate_type = args[1]
        if cls.method_name:
            cls.is_async = inspect.iscoroutinefunction(getattr(cls, cls.method_name))

    def __init__(
        self,
        params: BaseModel | Mapping[str, Any] | None = None,
        /,
        *,
        name: str | None = None,
        timeout_ms: float | None = None,
        required: bool = False,
        on_failure: FailurePolicy | None = None,
        enabled: bool = True,
        **param_values: Any,
    ) -> None:
        problem = policy_problem(self.stage, on_failure, required)
        if problem:
            raise ValueError(f"{name or self.registered_name or type(self).__name__}: {problem}")
        if params is None:
            params = self.Params(**param_values)
        elif isinstance(params, Mapping):
            params = self.Params(**{**params, **param_values})
        elif not isinstance(params, self.Params):
            raise TypeError(
                f"{type(self).__name__} expects params of type {self.Params.__name__}, "
                f"got {type(params).__name__}"
            )
        self.params = params
        self.name = name or self.registered_name or type(self).__name__
        self.timeout_ms = timeout_ms if timeout_ms is not None else self.default_timeout_ms
        self.on_failure: FailurePolicy = resolve_policy(on_failure, required)
        self.enabled = enabled
        self._sync = self._new_sync_runner()

    @property
    def required(self) -> bool:
        """Whether a degradation fails the request (``on_failure == "fail"``)."""
        return self.on_failure == "fail"

    def enable(self, query: Q) -> bool:
        """Whether this component runs for ``query``. Defaults to always."""
        return True

    def warm_up(self, resources: Mapping[str, Any]) -> Any:
        """Acquire heavy state once, before the first request (may be ``async``)."""
        return None

    def close(self) -> Any:
        """Release what :meth:`warm_up` acquired (may be ``async``)."""
        return None

    async def invoke(self, *args: Any) -> Any:
        """Call the stage method the way it was written: awaited, or (a plain ``def``) in an
        abandonable worker thread, inline once it has proven fast (:mod:`pipeline.threads`)."""
        method = getattr(self, self.method_name)
        if self.is_async:
            return await method(*args)
        runner = self.__dict__.get("_sync")
        if runner is None:  # a subclass __init__ that skipped Component.__init__
            runner = self._sync = self._new_sync_runner()
        return await runner.call(method, args)

    @property
    def runs_inline(self) -> bool:
        """Whether the next call runs on the event loop without yielding (a plain ``def`` that
        earned it): such calls gain nothing from running in a task of their own."""
        runner = self.__dict__.get("_sync")
        return not self.is_async and runner is not None and runner.inline

    def _new_sync_runner(self) -> SyncRunner:
        inline_max_ms = 0.0 if self.run_in_thread else self.inline_max_ms
        return SyncRunner(self.max_threads, inline_max_ms)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.stage})>"


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if a hook returned an awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
