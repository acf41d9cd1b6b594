"""Training throughput (examples/s) of the Phoenix ranker and retrieval model on the demo world.

Uses the demo model preset (the one the committed demo checkpoints are trained with) and the
default training batch sizes of ``feedmixer phoenix train``. Compilation and the first steps
are excluded; each measurement times ``--steps`` jitted updates including building each
batch from the log (what a real run does), and the median of ``--repeats`` is reported.
An "example" is one candidate for the ranker (a request of ``candidate_seq_len``
impressions counts as that many) and one positive for retrieval.

The baseline, measured in the same run and interleaved with it, is the jitted update alone
on one batch built beforehand: the ratio says how much of a real step the input pipeline
(hashing, gathering the log rows) costs.

    .venv/bin/python benchmarks/training_throughput.py            # 5 x 50 steps per model
    .venv/bin/python benchmarks/training_throughput.py --quick    # 5 x 10 steps
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax

from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world
from phoenix_models.train import TrainConfig, init_state, make_optimizer, make_update
from phoenix_models.train_tasks import demo_model_config, demo_ranker_task, demo_retrieval_task


def measure(task, cfg: TrainConfig, steps: int, repeats: int, per_example: int) -> dict:
    optimizer = make_optimizer(cfg)
    params = task.init_params(jax.random.PRNGKey(0))
    state = init_state(params, optimizer)
    update = make_update(task.loss_fn, optimizer)
    fixed = task.batch(0)
    started = time.perf_counter()
    state, metrics = update(state, fixed)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - started
    examples = steps * cfg.batch_size * per_example
    full, update_only = [], []
    step = 1
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            state, metrics = update(state, task.batch(step))
            step += 1
        jax.block_until_ready(metrics)
        full.append(examples / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(steps):
            state, metrics = update(state, fixed)
        jax.block_until_ready(metrics)
        update_only.append(examples / (time.perf_counter() - started))
    rate, baseline = statistics.median(full), statistics.median(update_only)
    return {
        "examples_per_s": round(rate),
        "runs": [round(r) for r in full],
        "update_only_examples_per_s": round(baseline),
        "ratio_to_update_only": round(rate / baseline, 3),
        "batch_size": cfg.batch_size,
        "compile_s": round(compile_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10 steps per measurement")
    args = parser.parse_args()
    steps = 10 if args.quick else args.steps

    world = generate_demo_world(DemoWorldConfig())
    model_cfg = demo_model_config()
    results = {}
    ranker_cfg = TrainConfig(batch_size=64)
    results["ranker"] = measure(
        demo_ranker_task(world, model_cfg, ranker_cfg),
        ranker_cfg,
        steps,
        args.repeats,
        per_example=model_cfg.candidate_seq_len,
    )
    retrieval_cfg = TrainConfig(batch_size=256, logq_correction=True)
    results["retrieval"] = measure(
        demo_retrieval_task(world, demo_model_config(kind="retrieval"), retrieval_cfg),
        retrieval_cfg,
        steps,
        args.repeats,
        per_example=1,
    )
    print(json.dumps({"model": "demo preset", "jax_backend": jax.default_backend(), **results}))


if __name__ == "__main__":
    main()
