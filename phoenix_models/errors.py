"""Exceptions raised by ``phoenix_models``.

Every error is a ``ValueError`` (the input, not the code, is wrong), so a caller that does
not care about the detail catches one type; the CLI turns each into one clear line::

    ValueError
    ├── ConfigError                 a model configuration field is missing or invalid
    ├── InputError                  a sequence / candidates / posts input is malformed
    ├── MissingPackageError         an optional package the input needs is not installed
    └── CheckpointError             a checkpoint directory cannot be loaded
        ├── MissingFileError        a required file is absent
        ├── CorruptFileError        a file is truncated or not the format it claims
        ├── CheckpointConfigError   config.json is unreadable or has a bad field
        ├── WrongModelError         the directory holds the other model (ranker vs retrieval)
        └── ParameterError          an array is missing or has the wrong shape or dtype
            ├── MissingParameterError
            ├── ShapeMismatchError
            └── DtypeMismatchError

Messages name the file and the key, and say what was expected and what was found.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A :class:`~phoenix_models.config.PhoenixConfig` field is missing or invalid."""


class InputError(ValueError):
    """A user-supplied input (sequence, candidates, posts) is malformed."""


class MissingPackageError(ValueError):
    """An optional package is needed (e.g. by a checkpoint's text encoder) but not installed;
    the message names it and the extra that installs it."""


class CheckpointError(ValueError):
    """A checkpoint directory cannot be loaded."""


class MissingFileError(CheckpointError):
    """A file the checkpoint layout requires is absent."""


class CorruptFileError(CheckpointError):
    """A checkpoint file is truncated, corrupt, or not the format its name claims."""


class CheckpointConfigError(CheckpointError):
    """``config.json`` is not valid JSON, lacks a field, or has a field with a bad value."""


class WrongModelError(CheckpointError):
    """The directory holds a different model kind than the one asked for."""


class ParameterError(CheckpointError):
    """An array of the checkpoint does not match the model its config describes."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class MissingParameterError(ParameterError):
    """An array the model needs is not in the file."""


class ShapeMismatchError(ParameterError):
    """An array has a different shape than the config implies."""

    def __init__(
        self, message: str, *, key: str, expected: tuple[int, ...], found: tuple[int, ...]
    ) -> None:
        super().__init__(message, key=key)
        self.expected = expected
        self.found = found


class DtypeMismatchError(ParameterError):
    """An array has a dtype other than float32."""
