"""The files feedmixer ships: the default recipes and the demo checkpoints.

They are package data, read through :mod:`importlib.resources`, so an installed feedmixer
(a wheel, no checkout) finds them. In a checkout, ``recipes`` and ``checkpoints`` here are
links to the repository's ``recipes/`` and ``checkpoints/demo/``, so an editable install
reads the files the project edits and trains, and the wheel copies their contents.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _packaged(*parts: str) -> Path:
    """A packaged file or folder as a real path (recipes ``extends`` siblings, checkpoints
    are opened by name), which an installed package directory always is."""
    resource = files(__name__).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(
            f"feedmixer's package data must be installed as files, not inside {resource}; "
            "install feedmixer with pip (not as a zipped egg)"
        )
    return resource


def recipe(name: str) -> Path:
    """A shipped recipe by name (``"for_you"``)."""
    path = _packaged("recipes", f"{name}.yaml")
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(f"no shipped recipe {name!r}; expected one of: {shipped}")
    return path


def demo_checkpoints() -> Path:
    """The demo models' folder (``ranker/`` and ``retrieval/``)."""
    return _packaged("checkpoints")
