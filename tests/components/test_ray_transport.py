"""What the Ray ingress sends to the ranker deployment carries every field the ranker reads."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray", reason="the ray extra is not installed")

from components.models import PostCandidate
from components.phoenix import candidate_arrays
from components.ray_serve import RemoteRanking
from phoenix_models import PhoenixConfig

NOW = 1_785_542_400.0


class _EchoHandle:
    """A deployment handle whose every call answers with the request it was sent."""

    def __getattr__(self, method: str):
        class Call:
            @staticmethod
            def remote(request):
                return type("Answer", (), {"result": lambda self, timeout_s: request})()

        return Call


def test_a_rank_request_rebuilds_the_candidates_the_ranker_reads():
    candidates = [
        PostCandidate(
            10 + i,
            3 + i % 2,
            created_at=int(NOW) - 600 * i,
            text=f"post {i}",
            has_image=i % 3 == 0,
            video_duration_s=12.0 if i % 4 == 1 else None,
            impressions=None if i == 2 else 7 * i,
            engaged=None if i == 2 else i,
            safety_labels=None if i == 3 else ("spam",) * (i % 2),
        )
        for i in range(6)
    ]
    request = RemoteRanking(_EchoHandle(), history_length=8).predict(1, [], candidates, NOW)
    config = PhoenixConfig.tiny(engagement_inputs=True, safety_label_inputs=True)
    sent = candidate_arrays(config, request.candidates, NOW, 8)
    local = candidate_arrays(config, candidates, NOW, 8)
    for name, a, b in zip(sent._fields, sent, local, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert sent.engagement is not None and len(set(sent.engagement[0].tolist())) > 2
    assert sent.safety_label is not None and set(sent.safety_label[0, :6].tolist()) == {0, 1, 4}
