"""The JSON shape of a result (``feedmixer run --json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from pipeline import Pipeline, Scorer
from pipeline.builtins import TopK
from pipeline.examples.toy import Catalog, MaxAge, ToyItem, ToyQuery
from pipeline.report import result_to_dict
from pipeline.testing.faults import FaultHydrator


class TwoScores(Scorer[ToyQuery, ToyItem]):
    """Writes ``popularity`` (a NumPy value) and then the final ``score``."""

    writes = {"popularity", "score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
        return {
            "popularity": [np.float32(0.5) for _ in candidates],
            "score": [float(c.id) for c in candidates],
        }


async def test_result_dict_is_json_with_selected_removed_degradations_and_timings() -> None:
    pipeline = Pipeline(
        "r",
        sources=[Catalog(n=20, seed=1)],
        hydrators=[FaultHydrator(mode="wrong_type", name="bad")],
        filters=[MaxAge(max_age_h=30)],
        scorers=[TwoScores()],
        selector=TopK(k=3),
    )
    result = await pipeline.execute(ToyQuery(1))
    data = json.loads(json.dumps(result_to_dict(result)))
    assert data["selected"] == [{"id": c.id, "score": float(c.id)} for c in result.selected]
    assert [r["filter"] for r in data["removed"]] == ["example.max_age"] * len(result.removed)
    assert data["degradations"] == [
        {
            "component": "bad",
            "stage": "hydrators",
            "kind": "wrong_type",
            "message": result.degradations[0].message,
        }
    ]
    assert set(data["timings"]) >= {"sources", "hydrators", "filters", "scorers", "selector"}
    assert data["counts"] == {
        "retrieved": 20,
        "removed": len(result.removed),
        "non_selected": 20 - len(result.removed) - 3,
        "selected": 3,
    }
