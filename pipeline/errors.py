"""Exceptions raised by feedmixer's pipeline framework.

Every error the framework raises derives from :class:`FeedmixerError`, so callers can catch
one type at the boundary::

    FeedmixerError
    ├── RecipeError                 a recipe file (or override) is invalid; lists every problem
    ├── InputError (ValueError)     an input file is too large, too deep, binary, or not UTF-8
    ├── ComponentDefinitionError    a component class breaks the contract at registration time
    ├── UnknownComponentError       a recipe names a component that is not registered
    ├── MissingResource (LookupError) a component's declared resource was not provided
    ├── ContractViolation           a component's output breaks the stage contract (testing kit)
    └── RequiredComponentFailed     a component with ``on_failure: fail`` (``required``) degraded
        └── DeadlineExceeded        the request deadline cut off such a component

Degradations of ``skip`` and ``drop_all`` components are *not* exceptions: they are data on
the result (:class:`pipeline.result.Degradation`, and ``drop_all``'s removals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class FeedmixerError(Exception):
    """Base class of every error raised by feedmixer."""


@dataclass(frozen=True)
class RecipeIssue:
    """One problem in a recipe: where it is, what is wrong, and what might have been meant."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        # a last guard against echoing a huge key or value back: messages quote user values
        # through pipeline.inputs.preview, but a key path is built from the file's own keys
        text = f"{where}: {_cut(self.path or '<root>', 120)}: {_cut(self.message, 2000)}"
        if self.suggestion:
            text += f" (did you mean {_cut(self.suggestion, 120)!r}?)"
        return text


class RecipeError(FeedmixerError):
    """A recipe is invalid. ``issues`` holds every problem found in the file, not just the first
    (the message lists the first :attr:`MAX_LISTED`)."""

    MAX_LISTED = 100

    def __init__(self, issues: list[RecipeIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        header = f"{count} problem{'s' if count != 1 else ''} in recipe"
        lines = [f"  {issue}" for issue in self.issues[: self.MAX_LISTED]]
        if count > self.MAX_LISTED:
            lines.append(f"  ... and {count - self.MAX_LISTED} more")
        super().__init__(header + ":\n" + "\n".join(lines))


class InputError(FeedmixerError, ValueError):
    """An input file (a recipe before it is parsed, a query) breaks a size, depth or encoding
    bound. The message starts with ``file[:line:column]:``."""

    def __init__(
        self, file: str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.file, self.message, self.line, self.column = file, message, line, column
        where = file if line is None else f"{file}:{line}:{column or 1}"
        super().__init__(f"{where}: {message}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ComponentDefinitionError(FeedmixerError, TypeError):
    """A component class cannot be registered because it breaks the component contract."""


class UnknownComponentError(FeedmixerError, KeyError):
    """No component is registered under the requested name (or the name is ambiguous)."""

    def __init__(
        self,
        name: str,
        known: list[str],
        suggestion: str | None = None,
        message: str | None = None,
    ) -> None:
        self.name = name
        if message is None:
            hint = f" Did you mean {suggestion!r}?" if suggestion else ""
            message = (
                f"no component registered as {name!r}.{hint} Expected one of: {', '.join(known)}"
            )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class MissingResource(FeedmixerError, LookupError):
    """A component needs shared resources (``Component.needs``) that the application did not
    pass to ``load_recipe(..., resources=...)``. ``hint`` may say what builds them."""

    def __init__(
        self, component: str, keys: Sequence[str], present: Iterable[str], hint: str = ""
    ) -> None:
        self.component = component
        self.keys = tuple(keys)
        wanted = ", ".join(f"resources[{key!r}]" for key in self.keys)
        example = ", ".join(f"{key!r}: ..." for key in self.keys)
        super().__init__(
            f"component {component!r} needs {wanted}; pass it to load_recipe(..., "
            f"resources={{{example}}}){hint}. Present: {sorted(present)}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class ContractViolation(FeedmixerError):
    """A component's output breaks its stage contract (length, type, undeclared write)."""

    def __init__(self, component: str, kind: str, message: str) -> None:
        self.component = component
        self.kind = kind
        super().__init__(f"{component}: {kind}: {message}")


class RequiredComponentFailed(FeedmixerError):
    """A component with ``on_failure: fail`` (``required: true``) degraded, so the request
    fails closed."""

    def __init__(self, component: str, stage: str, kind: str, message: str) -> None:
        self.component = component
        self.stage = stage
        self.kind = kind
        super().__init__(f"required component {component!r} ({stage}) failed: {kind}: {message}")


class DeadlineExceeded(RequiredComponentFailed):
    """The request deadline passed before a ``fail`` component could run or finish."""
