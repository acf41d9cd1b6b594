"""The component registry: the only way a recipe can name code.

A recipe names components by their registered name, never by import path, so loading a
recipe can only instantiate classes that were registered by code the user chose to run:
feedmixer's built-ins, installed packages that declare the ``feedmixer.components``
entry-point group, or modules the user allow-lists explicitly (``plugins=`` / ``--plugin``).

Names are unique *per stage*: a recipe entry's stage list says which kind of component it
wants, so a source and a scorer may share a name (the For-You feed has both a ``phoenix``
source and a ``phoenix`` scorer).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import traceback
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import BaseModel

from pipeline.component import Component
from pipeline.errors import ComponentDefinitionError, FeedmixerError, UnknownComponentError

ENTRY_POINT_GROUP = "feedmixer.components"
_BUILTIN_MODULES = ("pipeline.builtins", "pipeline.testing.faults", "pipeline.examples.toy")

_registry: dict[str, dict[str, type[Component]]] = {}  # stage -> name -> class
_discovered = False


def register(name: str) -> Callable[[type[Component]], type[Component]]:
    """Class decorator that registers a component under ``name``.

    Registration checks the class at import time, so a malformed component fails where it is
    written, not in the middle of a request.

    Examples:
        >>> from pipeline import Filter, FilterResult, register
        >>> @register("doc.keep_all")
        ... class KeepAll(Filter):
        ...     def filter(self, query, candidates):
        ...         return FilterResult(kept=list(candidates))
        >>> KeepAll().name
        'doc.keep_all'
    """

    def decorator(cls: type[Component]) -> type[Component]:
        _check_component_class(name, cls)
        by_name = _registry.setdefault(cls.stage, {})
        existing = by_name.get(name)
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise ComponentDefinitionError(
                f"cannot register {_qualname(cls)} as {cls.stage} {name!r}: "
                f"that name is already taken by {_qualname(existing)}"
            )
        cls.registered_name = name
        by_name[name] = cls
        return cls

    return decorator


def get_component(name: str, stage: str | None = None) -> type[Component]:
    """The class registered as ``name`` (in ``stage``, e.g. ``"scorer"``, when given).

    Raises:
        UnknownComponentError: nothing is registered under that name (with a suggestion), or
            the name is registered in several stages and ``stage`` does not say which.
    """
    discover()
    if stage is not None:
        by_name = _registry.get(stage, {})
        if name in by_name:
            return by_name[name]
        raise UnknownComponentError(name, sorted(by_name), suggest(name, by_name))
    found = [by_name[name] for by_name in _registry.values() if name in by_name]
    if len(found) == 1:
        return found[0]
    if found:
        stages = ", ".join(sorted(cls.stage for cls in found))
        raise UnknownComponentError(name, [], None, f"{name!r} names a {stages}; pass stage=")
    names = sorted({n for by_name in _registry.values() for n in by_name})
    raise UnknownComponentError(name, names, suggest(name, names))


def registered(stage: str | None = None) -> dict[str, type[Component]]:
    """A snapshot of the registered components of ``stage``, by name.

    Without ``stage``, every component keyed by ``"name"``, or ``"stage:name"`` where a name
    is used by more than one stage.
    """
    discover()
    if stage is not None:
        return dict(sorted(_registry.get(stage, {}).items()))
    counts: dict[str, int] = {}
    for by_name in _registry.values():
        for name in by_name:
            counts[name] = counts.get(name, 0) + 1
    flat = {
        (name if counts[name] == 1 else f"{stage_name}:{name}"): cls
        for stage_name, by_name in _registry.items()
        for name, cls in by_name.items()
    }
    return dict(sorted(flat.items()))


def load_plugins(modules: Iterable[str]) -> None:
    """Import user-allow-listed modules so their ``@register`` decorators run.

    Raises:
        FeedmixerError: a name is not a dotted module name (a file path such as ``../x`` or
            ``x.py`` is refused before anything is imported), or the module cannot be found,
            or it raised while importing (the message names the module, the error, and the
            file and line it came from).
    """
    for module in modules:
        check_module_name(module)
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module + ".").startswith(exc.name + "."):
                raise FeedmixerError(f"cannot import plugin module {module!r}: {exc}") from None
            raise FeedmixerError(  # the plugin imports something that is not installed
                f"cannot import plugin module {module!r}: {_describe(exc)}"
            ) from exc
        except (Exception, SystemExit) as exc:  # a plugin's failure is the user's to read
            raise FeedmixerError(
                f"cannot import plugin module {module!r}: {_describe(exc)}"
            ) from exc


def check_module_name(module: object) -> None:
    """Refuse anything but a dotted module name such as ``my_feed.filters``."""
    if isinstance(module, str) and module and all(p.isidentifier() for p in module.split(".")):
        return
    from pipeline.inputs import preview

    raise FeedmixerError(
        f"plugin {preview(module)} is not a module name: give a dotted, importable name such "
        "as my_feed.filters (put its folder on PYTHONPATH), not a file path"
    )


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)`` for an exception raised while importing a plugin, with
    the line in the plugin's own code where there is one."""
    from pipeline.inputs import shorten

    text = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({exc.filename}:{exc.lineno})"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        framework = str(Path(__file__).parent)
        own = [f for f in frames if "importlib" not in f.filename]
        outside = [f for f in own if not f.filename.startswith(framework)]
        frame = (outside or own or frames or [None])[-1]
        if frame is not None:
            where = f" ({frame.filename}:{frame.lineno})"
    message = shorten(text)
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


def discover() -> None:
    """Load built-ins and every installed ``feedmixer.components`` entry point, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as exc:
            _discovered = False
            raise FeedmixerError(
                f"the installed component package {entry_point.value!r} "
                f"(entry point {entry_point.name!r}) failed to load: {_describe(exc)}"
            ) from exc


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to ``word``, for "did you mean" hints."""
    if len(word) > 100:  # no valid name is that long; a fuzzy match would only cost time
        return None
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_component_class(name: str, cls: type) -> None:
    from pipeline.stages import STAGE_BASES

    if not isinstance(name, str) or not name:
        raise ComponentDefinitionError(f"component name must be a non-empty string, got {name!r}")
    if not isinstance(cls, type) or not issubclass(cls, Component):
        raise ComponentDefinitionError(
            f"@register({name!r}) must decorate a subclass of one of: "
            f"{', '.join(base.__name__ for base in STAGE_BASES)}"
        )
    bases = [base for base in STAGE_BASES if issubclass(cls, base)]
    if len(bases) != 1:
        raise ComponentDefinitionError(
            f"{cls.__name__} ({name!r}) must subclass exactly one stage base, "
            f"found {[b.__name__ for b in bases] or 'none'}"
        )
    base = bases[0]
    if getattr(cls, base.method_name) is getattr(base, base.method_name):
        raise ComponentDefinitionError(
            f"{cls.__name__} ({name!r}) is a {base.__name__} but does not implement "
            f"{base.method_name}()"
        )
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, BaseModel)):
        raise ComponentDefinitionError(
            f"{cls.__name__}.Params must be a pydantic BaseModel subclass, got {cls.Params!r}"
        )
    if inspect.iscoroutinefunction(cls.enable):
        # an un-awaited coroutine is truthy: the gate would always be open
        raise ComponentDefinitionError(
            f"{cls.__name__}.enable() must be a plain def returning a bool, not async def"
        )
