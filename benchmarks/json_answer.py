"""Benchmark: ``json_safe`` over a For-You answer's 35 entries, against the version before
its exact-type fast path (read from git, so both run in one process).

    .venv/bin/python benchmarks/json_answer.py            # baseline: json_safe at 64ca34e
"""

from __future__ import annotations

import argparse
import random
import subprocess
import timeit
import types

from components.models import ACTIONS
from pipeline.report import json_safe


def answer_entries(count: int = 35) -> list[dict]:
    """Entries shaped like `feedmixer serve`'s For-You answer (29 values each)."""
    rng = random.Random(0)
    return [
        {
            "id": 1_000_000 + i,
            "score": rng.random(),
            "author_id": 7,
            "text": "some text of a post",
            "created_at": 1_785_542_400,
            "in_network": True,
            "source": "thunder",
            "weighted_sum": -0.2,
            "diversity_factor": 1.0,
            "oon_factor": 1.0,
            "scores": {a: rng.random() for a in ACTIONS},
        }
        for i in range(count)
    ]


def baseline(revision: str) -> types.FunctionType:
    source = subprocess.run(
        ["git", "show", f"{revision}:pipeline/report.py"], capture_output=True, check=True
    ).stdout.decode()
    module = types.ModuleType("report_before")
    exec(compile(source, "report_before", "exec"), module.__dict__)
    return module.json_safe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="64ca34e", help="git revision of the baseline")
    args = parser.parse_args()
    entries = answer_entries()
    before = baseline(args.baseline)
    assert [before(e) for e in entries] == [json_safe(e) for e in entries]
    times = {}
    for name, function in (("before", before), ("now", json_safe)):
        runs = timeit.repeat(lambda f=function: [f(e) for e in entries], number=200, repeat=9)
        times[name] = sorted(runs)[len(runs) // 2] / 200 * 1000  # median, ms per answer
        print(f"{name}: {times[name]:.3f} ms per 35-entry answer (median of 9 x 200)")
    print(f"speed-up: {times['before'] / times['now']:.1f}x")


if __name__ == "__main__":
    main()
