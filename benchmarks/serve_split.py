"""Where a served For-You answer's time goes: the pipeline, the rest of the handler, the rest.

Sends sequential requests to a running `feedmixer serve` with the standard library's
`http.client` (one keep-alive connection, so no client library's own cost is counted) and
splits the mean client latency into the pipeline (`timings.total_ms` of each answer), the
rest of the service's handler (`feedmixer_request_duration_seconds` from `/metrics` minus
the pipeline: admission, building the answer and its JSON; the metrics are recorded after
the answer is sent) and everything outside the handler (uvicorn, FastAPI's request
parsing, loopback, the client's own read).

    FEEDMIXER_DEMO_WORLD=n_users=300,n_authors=150,n_posts=6000,n_impressions=30000 \\
        .venv/bin/feedmixer serve --port 18777 --state /tmp/serve-split &
    .venv/bin/python benchmarks/serve_split.py --port 18777 --users 300
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import time
import urllib.request

METRIC = re.compile(r'feedmixer_request_duration_seconds_sum\{recipe="for_you"\} (\S+)')


def handler_seconds(port: int) -> float:
    """The service's summed handler time for For-You requests so far."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    found = METRIC.search(text)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, default=300, help="viewer ids 1..N")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--warm", type=int, default=20, help="unmeasured requests first")
    args = parser.parse_args()

    connection = http.client.HTTPConnection("127.0.0.1", args.port)
    rng = random.Random(0)

    def call() -> tuple[float, float]:
        body = json.dumps({"user_id": rng.randint(1, args.users)})
        started = time.perf_counter()
        connection.request("POST", "/v1/feeds/for_you", body, {"Content-Type": "application/json"})
        data = connection.getresponse().read()
        latency = (time.perf_counter() - started) * 1000
        return latency, json.loads(data)["timings"]["total_ms"]

    for _ in range(args.warm):
        call()
    before = handler_seconds(args.port)
    latencies, pipelines = zip(*(call() for _ in range(args.requests)), strict=True)
    handler = (handler_seconds(args.port) - before) * 1000 / args.requests
    latency = sum(latencies) / args.requests
    pipeline = sum(pipelines) / args.requests
    print(f"{args.requests} requests, means: client latency {latency:.2f} ms")
    print(f"  pipeline.execute                 {pipeline:7.2f} ms")
    print(f"  rest of the handler              {handler - pipeline:7.2f} ms")
    print(f"  outside the handler (HTTP, I/O)  {latency - handler:7.2f} ms")


if __name__ == "__main__":
    main()
