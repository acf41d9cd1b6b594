"""`feedmixer serve --engine`: a bad engine and a service without a Ray Serve application
fail cleanly, before anything starts."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from pipeline.serving.cli import serve

TOY = Path(__file__).resolve().parents[3] / "recipes" / "toy.yaml"


def _serve(*args: str):
    app = typer.Typer()
    app.command()(serve)
    return CliRunner().invoke(app, list(args))


def test_an_unknown_engine_is_refused_naming_the_valid_ones():
    result = _serve(str(TOY), "--engine", "gunicorn")
    assert result.exit_code == 2, result.output
    assert "--engine must be uvicorn or ray" in result.stderr


def test_ray_is_refused_for_a_service_without_a_ray_application():
    result = _serve(str(TOY), "--engine", "ray")  # the generic service: no ray_app
    assert result.exit_code == 2, result.output
    assert "'generic' service has no Ray Serve application" in result.stderr
    assert "Traceback" not in result.output
