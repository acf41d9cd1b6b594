"""The executor tests run on both anyio backends; check that each variant runs on its own."""

from __future__ import annotations

import sniffio

from pipeline import Pipeline
from pipeline.examples.toy import Catalog, ToyQuery
from tests.pipeline.backends import on_both_backends


@on_both_backends
async def test_each_variant_runs_on_the_backend_it_names(async_backend: str) -> None:
    assert sniffio.current_async_library() == async_backend


@on_both_backends
async def test_a_pipeline_with_sync_components_runs_on_either_backend() -> None:
    async with Pipeline("t", sources=[Catalog(n=3)]) as pipeline:
        result = await pipeline.execute(ToyQuery(1))
    assert [c.id for c in result.selected] == [0, 1, 2]
