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


def test_json_safe_answers_every_kind_of_value_and_never_a_non_finite_number() -> None:
    import datetime
    import enum
    import math
    import uuid
    from dataclasses import dataclass

    import orjson

    from pipeline.report import json_safe

    class Color(enum.Enum):
        RED = 1

    class Name(str):
        pass

    class Ratio(float):
        pass

    class Level(enum.IntEnum):
        HIGH = 3

    @dataclass
    class Point:
        x: float

    tricky = {
        "id": 7,
        "score": 0.25,
        "nan": math.nan,
        "inf": math.inf,
        "np": [np.float32(0.5), np.float64(math.nan), np.int64(3), np.bool_(True)],
        "np_inf": np.float32(np.inf),
        "tuple": (1, 2.5, (math.nan, "x")),
        "nested": {"a": {"b": [None, True, {"c": -math.inf}]}},
        1: "int key",
        (1, 2): "tuple key",
        None: "none key",
        Name("k"): "str subclass key",
        "set": {3, 1, 2},
        "frozen": frozenset({"b", "a"}),
        "subclasses": [Name("n"), Ratio(math.nan), Ratio(1.5), Level.HIGH, np.float64(0.5)],
        "objects": [Color.RED, uuid.UUID(int=5), Point(1.0), datetime.date(2026, 1, 2)],
        "empty": [{}, [], ()],
    }
    safe = json_safe(tricky)
    assert safe == {
        "id": 7,
        "score": 0.25,
        "nan": None,
        "inf": None,
        "np": [0.5, None, 3, True],
        "np_inf": None,
        "tuple": [1, 2.5, [None, "x"]],
        "nested": {"a": {"b": [None, True, {"c": None}]}},
        "1": "int key",
        "(1, 2)": "tuple key",
        "None": "none key",
        "k": "str subclass key",
        "set": [1, 2, 3],
        "frozen": ["a", "b"],
        "subclasses": ["n", None, 1.5, 3, 0.5],
        "objects": [
            "<Color.RED: 1>",
            "UUID('00000000-0000-0000-0000-000000000005')",
            repr(Point(1.0)),
            "datetime.date(2026, 1, 2)",
        ],
        "empty": [{}, [], []],
    }
    assert type(next(k for k in safe if k == "k")) is str
    assert [type(v) for v in safe["np"]] == [float, type(None), int, bool]
    assert [type(v) for v in safe["subclasses"]] == [str, type(None), float, int, float]
    assert json.loads(orjson.dumps(safe)) == safe  # plain JSON, whichever encoder
    for value, expected in ((math.nan, None), (np.float32(2.5), 2.5), ("s", "s"), ((1,), [1])):
        assert json_safe(value) == expected
