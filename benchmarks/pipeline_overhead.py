"""Framework overhead: a 20-component recipe over 1,000 candidates vs the same work inline.

The recipe has 2 query hydrators, 3 sources, 3 hydrators, 6 filters, 4 scorers, a selector
and a side effect, all light (pure Python over the candidates). The baseline calls the very
same component methods one after another and applies their outputs with plain loops — no
timeouts, checks, degradation records, timings or logging. The difference is what the
framework costs per request.

    python benchmarks/pipeline_overhead.py            # full run (~1 min)
    python benchmarks/pipeline_overhead.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from pydantic import BaseModel, ConfigDict

from pipeline import (
    Filter,
    FilterResult,
    Hydrator,
    Pipeline,
    QueryHydrator,
    Scorer,
    SideEffect,
    Source,
)
from pipeline.builtins import TopK
from pipeline.logging import configure_logging

N_CANDIDATES = 1_000


@dataclass(slots=True)
class Query:
    user_id: int
    region: str | None = None
    blocked: frozenset[int] | None = None


@dataclass(slots=True)
class Item:
    id: int
    author: int
    age: float
    f1: float | None = None
    f2: float | None = None
    f3: float | None = None
    s1: float | None = None
    s2: float | None = None
    s3: float | None = None
    score: float | None = None


class _P(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Region(QueryHydrator[Query, Item]):
    writes = {"region"}

    def hydrate(self, query: Query) -> dict[str, str]:
        return {"region": "eu" if query.user_id % 2 else "us"}


class Blocked(QueryHydrator[Query, Item]):
    writes = {"blocked"}

    def hydrate(self, query: Query) -> dict[str, frozenset[int]]:
        return {"blocked": frozenset(range(query.user_id % 7, 300, 37))}


class Range(Source[Query, Item]):
    class Params(_P):
        start: int
        n: int

    def get_candidates(self, query: Query) -> list[Item]:
        start = self.params.start
        return [Item(i, i % 311, (i * 37) % 100) for i in range(start, start + self.params.n)]


def _feature(name: str, mod: int) -> type[Hydrator]:
    class Feature(Hydrator[Query, Item]):
        writes = {name}

        def hydrate(self, query: Query, candidates: Sequence[Item]) -> dict[str, list[float]]:
            return {name: [(c.id % mod) / mod for c in candidates]}

    Feature.__name__ = f"Feature_{name}"
    return Feature


class DropMod(Filter[Query, Item]):
    class Params(_P):
        mod: int

    def filter(self, query: Query, candidates: Sequence[Item]) -> FilterResult[Item]:
        mod = self.params.mod
        kept, removed = [], []
        for c in candidates:
            (removed if c.id % mod == 0 else kept).append(c)
        return FilterResult(kept, removed)


class BlockedAuthors(Filter[Query, Item]):
    query_reads = {"blocked"}

    def filter(self, query: Query, candidates: Sequence[Item]) -> FilterResult[Item]:
        blocked = query.blocked or frozenset()
        kept, removed = [], []
        for c in candidates:
            (removed if c.author in blocked else kept).append(c)
        return FilterResult(kept, removed)


class MaxAge(Filter[Query, Item]):
    def filter(self, query: Query, candidates: Sequence[Item]) -> FilterResult[Item]:
        kept, removed = [], []
        for c in candidates:
            (removed if c.age > 95 else kept).append(c)
        return FilterResult(kept, removed)


class Weighted(Scorer[Query, Item]):
    reads = {"f1", "f2", "f3"}
    writes = {"s1"}

    def score(self, query: Query, candidates: Sequence[Item]) -> dict[str, list[float]]:
        return {"s1": [c.f1 + 2 * c.f2 + 0.5 * c.f3 for c in candidates]}


class Recency(Scorer[Query, Item]):
    reads = {"s1"}
    writes = {"s2"}

    def score(self, query: Query, candidates: Sequence[Item]) -> dict[str, list[float]]:
        return {"s2": [c.s1 * (1 - c.age / 200) for c in candidates]}


class Diversity(Scorer[Query, Item]):
    reads = {"s2"}
    writes = {"s3"}

    def score(self, query: Query, candidates: Sequence[Item]) -> dict[str, list[float]]:
        seen: dict[int, int] = {}
        out = []
        for c in sorted(candidates, key=lambda c: -c.s2):
            n = seen.get(c.author, 0)
            seen[c.author] = n + 1
            out.append((c, c.s2 * (0.75 * 0.5**n + 0.25)))
        by_id = {c.id: s for c, s in out}
        return {"s3": [by_id[c.id] for c in candidates]}


class Final(Scorer[Query, Item]):
    reads = {"s3"}
    writes = {"score"}

    def score(self, query: Query, candidates: Sequence[Item]) -> dict[str, list[float]]:
        return {"score": [c.s3 * (0.75 if c.author % 5 == 0 else 1.0) for c in candidates]}


class CountServed(SideEffect[Query, Item]):
    served = 0

    def run(self, query: Query, result: object) -> None:
        CountServed.served += len(result.selected)  # type: ignore[attr-defined]


def build() -> Pipeline[Query, Item]:
    third = N_CANDIDATES // 3
    return Pipeline(
        name="overhead",
        query_hydrators=[Region(), Blocked()],
        sources=[
            Range(start=0, n=third, name="range_a"),
            Range(start=third, n=third, name="range_b"),
            Range(start=2 * third, n=N_CANDIDATES - 2 * third, name="range_c"),
        ],
        hydrators=[_feature("f1", 7)(), _feature("f2", 11)(), _feature("f3", 13)()],
        filters=[
            DropMod(mod=17, name="mod17"),
            DropMod(mod=19, name="mod19"),
            DropMod(mod=23, name="mod23"),
            DropMod(mod=29, name="mod29"),
            BlockedAuthors(),
            MaxAge(),
        ],
        scorers=[Weighted(), Recency(), Diversity(), Final()],
        selector=TopK(k=100),
        side_effects=[CountServed()],
        result_size=50,
    )


def straight_line(p: Pipeline[Query, Item], query: Query) -> list[Item]:
    """The same component calls, applied with plain loops and nothing else."""
    for hydrator in p.query_hydrators:
        for field, value in hydrator.hydrate(query).items():
            setattr(query, field, value)
    candidates: list[Item] = []
    for source in p.sources:
        candidates.extend(source.get_candidates(query))
    for hydrator in p.hydrators:
        for field, column in hydrator.hydrate(query, candidates).items():
            for c, v in zip(candidates, column, strict=True):
                setattr(c, field, v)
    for f in p.filters:
        candidates = f.filter(query, candidates).kept
    for scorer in p.scorers:
        for field, column in scorer.score(query, candidates).items():
            for c, v in zip(candidates, column, strict=True):
                setattr(c, field, v)
    selected = p.selector.select(query, candidates)[: p.result_size]  # type: ignore[union-attr]
    CountServed.served += len(selected)
    return selected


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(runs: int, concurrent: int) -> dict[str, float]:
    p = build()
    pipeline_ms: list[float] = []
    inline_ms: list[float] = []
    async with p:  # as a service runs it: side effects in the pipeline's task group
        for _ in range(20):  # warm caches and the allocator
            await p.execute(Query(1))
            straight_line(p, Query(1))
        for i in range(runs):  # interleave so machine noise hits both alike
            gc.collect()  # each timed call starts from the same heap state
            start = time.perf_counter()
            result = await p.execute(Query(i))
            pipeline_ms.append((time.perf_counter() - start) * 1000)
            gc.collect()
            start = time.perf_counter()
            served = straight_line(p, Query(i))
            inline_ms.append((time.perf_counter() - start) * 1000)
            assert [c.id for c in served] == [c.id for c in result.selected], "same answer"
            assert not result.degradations
        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for i in range(concurrent):
                group.start_soon(p.execute, Query(i))
        throughput = concurrent / (time.perf_counter() - start)
    p50, inline_p50 = statistics.median(pipeline_ms), statistics.median(inline_ms)
    return {
        "pipeline_p50_ms": p50,
        "pipeline_p99_ms": percentile(pipeline_ms, 0.99),
        "inline_p50_ms": inline_p50,
        "inline_p99_ms": percentile(inline_ms, 0.99),
        "overhead_p50_ms": p50 - inline_p50,
        "overhead_share": (p50 - inline_p50) / p50,
        "ratio": p50 / inline_p50,
        "throughput_rps": throughput,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few runs, for a smoke test")
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    configure_logging("warning")
    runs = 30 if args.quick else args.runs
    stats = anyio.run(measure, runs, 100)
    print(f"pipeline_overhead: {N_CANDIDATES} candidates, 20 components, {runs} interleaved runs")
    for label, key in (("pipeline", "pipeline"), ("straight-line", "inline")):
        p50, p99 = stats[f"{key}_p50_ms"], stats[f"{key}_p99_ms"]
        print(f"  {label:<14} p50 {p50:.3f} ms   p99 {p99:.3f} ms")
    print(
        f"  overhead       p50 {stats['overhead_p50_ms']:.3f} ms "
        f"({stats['overhead_share']:.1%} of the request; "
        f"pipeline/straight-line = {stats['ratio']:.2f}x)"
    )
    print(f"  throughput at 100 concurrent requests: {stats['throughput_rps']:.0f} requests/s")


if __name__ == "__main__":
    main()
