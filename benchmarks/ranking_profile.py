"""Profile: where the fast path's time goes when ranking 1,536 candidates (mini config).

Traces ``--calls`` calls of ``Ranker.score_context`` with ``jax.profiler`` and prints the
XLA operations that took the most time per call, with the operation's kind (``dot``: a
matrix product on Eigen, as the serving options compile it; ``ynn_fusion``: YNNPACK;
``*_fusion``: fused element-wise loops). Not a speed benchmark (tracing adds overhead); it
says which operations a speed-up has to come from. Pinned to one core (``taskset -c 1``)
the sum is the work a call needs, free of thread-pool waiting.

    python benchmarks/ranking_profile.py                  # 10 traced calls
    taskset -c 1 python benchmarks/ranking_profile.py     # the same, on one core
    python benchmarks/ranking_profile.py --quick          # 3 traced calls
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import tempfile
from pathlib import Path

import jax
from ranking_fast_path import NUM_CANDIDATES, make_inputs

from phoenix_models import PhoenixConfig, Ranker
from phoenix_models.batch import candidate_batch, context_batch
from phoenix_models.ranker import candidate_slots

#: Trace events that are not XLA operations (Python frames, runtime bookkeeping).
NOT_OPS = ("$", "ThunkExecutor", "PjitFunction", "SlinkyThreadPool", "while")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 traced calls")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    calls = 3 if args.quick else args.calls

    cfg = PhoenixConfig.mini()
    ranker = Ranker.init(cfg, seed=0)
    ranker.threads = 1  # one call, so the operations below are one program's
    user, history, cands = make_inputs(cfg, seed=1)
    context = ranker.encode(context_batch(cfg, [(user, history)]))
    batch = candidate_batch(cfg, [cands])
    slots = candidate_slots(NUM_CANDIDATES, "chunked", cfg)[None]
    hlo = ranker._score.lower(ranker.params, context, batch, slots).compile().as_text()
    for _ in range(3):
        ranker.score_context(context, batch)

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(calls):
                ranker.score_context(context, batch)
        trace = next(Path(folder).rglob("*.trace.json.gz"))
        data = json.loads(gzip.decompress(trace.read_bytes()))
    events = data["traceEvents"] if isinstance(data, dict) else data
    total: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") == "X" and not name.startswith(NOT_OPS):
            total[name] += event.get("dur", 0)
            count[name] += 1
    ops_ms = sum(total.values()) / calls / 1e3
    print(
        f"{NUM_CANDIDATES} candidates, mini config, one call; XLA operations "
        f"{ops_ms:.1f} ms per call (summed over the threads that ran them), top {args.top}:"
    )
    print(f"{'ms/call':>8} {'share':>6} {'runs/call':>9}  {'operation':<32} output, source op")
    for name, micros in total.most_common(args.top):
        ms = micros / calls / 1e3
        print(
            f"{ms:8.2f} {ms / ops_ms:6.1%} {count[name] / calls:9.1f}  {name:<32} "
            f"{describe(hlo, name)}"
        )


def describe(hlo: str, name: str) -> str:
    """Output shape and source operation of an instruction of the compiled program."""
    match = re.search(rf"%{re.escape(name)} = (\S+) .*?(?:op_name=\"([^\"]+)\"|$)", hlo, re.M)
    if match is None:
        return ""
    return f"{match.group(1)} {(match.group(2) or '').rsplit('/', 1)[-1]}"


if __name__ == "__main__":
    main()
