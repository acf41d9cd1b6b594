import numpy as np
import pytest
from pydantic import ValidationError

from components.models import ACTION_INDEX, ACTIONS
from components.scorers.weighted import PUBLISHED_WEIGHTS, Weighted, offset_negative
from pipeline.testing import run_component


def probs(**values: float) -> tuple[float, ...]:
    row = [0.0] * len(ACTIONS)
    for name, value in values.items():
        row[ACTION_INDEX[name]] = value
    return tuple(row)


def weights_sums() -> tuple[float, float]:
    w = np.array(list(PUBLISHED_WEIGHTS.values()))
    return -w[w < 0].sum(), np.abs(w).sum()


def test_published_weights_cover_every_action_with_the_design_values():
    assert set(PUBLISHED_WEIGHTS) == set(ACTIONS)
    assert PUBLISHED_WEIGHTS["share_via_copy_link"] == 20
    assert PUBLISHED_WEIGHTS["report"] == -234


OFFSET = Weighted.Params(negative_scores="offset")


async def test_weighted_sum_is_kept_beside_the_offset_score(make_query, make_candidate):
    candidate = make_candidate(1, phoenix_scores=probs(favorite=0.4, reply=0.1, dwell_time=0.5))
    (scored,) = await run_component(Weighted(OFFSET), make_query(), [candidate])
    expected = 0.4 * 0.5 + 0.1 * 5 + 0.5 * 0.004
    assert scored.weighted_sum == pytest.approx(expected)
    assert scored.weighted_score == pytest.approx(expected + 0.001)


async def test_signed_scores_keep_the_sum_and_its_resolution(make_query, make_candidate):
    candidates = [
        make_candidate(1, phoenix_scores=probs(report=0.01)),
        make_candidate(2, phoenix_scores=probs(report=0.011)),
        make_candidate(3, phoenix_scores=probs(click=0.1)),
    ]
    bad, worse, good = await run_component(Weighted(), make_query(), candidates)
    assert [bad.weighted_score, worse.weighted_score] == pytest.approx([-2.34, -2.574])
    assert worse.weighted_score < bad.weighted_score < 0 < good.weighted_score
    assert bad.weighted_sum == bad.weighted_score
    # the offset squeezes the same gap of 0.234 into 5.7e-7
    offset = await run_component(Weighted(OFFSET), make_query(), candidates[:2])
    assert offset[0].weighted_score - offset[1].weighted_score < 1e-6


async def test_negative_scores_are_rescaled_below_every_positive_score(make_query, make_candidate):
    candidates = [
        make_candidate(1, phoenix_scores=probs(report=0.01)),
        make_candidate(2, phoenix_scores=probs(report=0.02)),
        make_candidate(3, phoenix_scores=probs(click=1e-6)),
    ]
    bad, worse, barely_good = await run_component(Weighted(OFFSET), make_query(), candidates)
    negative, total = weights_sums()
    assert bad.weighted_score == pytest.approx((-2.34 + negative) / total * 0.001)
    assert 0 <= worse.weighted_score < bad.weighted_score < 0.001 < barely_good.weighted_score


async def test_video_quality_view_counts_only_for_long_enough_videos(make_query, make_candidate):
    p = probs(video_quality_view=1.0)
    candidates = [
        make_candidate(1, phoenix_scores=p, video_duration_s=30.0),
        make_candidate(2, phoenix_scores=p, video_duration_s=5.0),
        make_candidate(3, phoenix_scores=p, video_duration_s=None),
    ]
    long, short, none = await run_component(Weighted(), make_query(), candidates)
    assert long.weighted_score == pytest.approx(0.05)
    assert short.weighted_score == none.weighted_score == pytest.approx(0.0)


async def test_weights_come_from_params_and_unscored_candidates_stay_none(
    make_query, make_candidate
):
    scorer = Weighted(weights={"favorite": 2.0}, negative_scores="offset")
    candidates = [
        make_candidate(1, phoenix_scores=probs(favorite=0.5, reply=1.0)),
        make_candidate(2),
    ]
    scored, unscored = await run_component(scorer, make_query(), candidates)
    assert scored.weighted_score == pytest.approx(1.0 + 0.001)
    assert unscored.weighted_score is None


def test_unknown_actions_in_weights_are_rejected_with_the_valid_names():
    with pytest.raises(ValidationError, match=r"unknown action.*'likes'.*favorite"):
        Weighted(weights={"likes": 1.0})


def test_all_zero_weights_clip_at_zero():
    n = len(ACTIONS)
    out = offset_negative(np.full(1, -0.5), np.zeros(n), 0.001)
    assert out.tolist() == [0.0]


async def test_a_positive_factor_scales_what_a_post_earns_not_what_it_costs(
    make_query, make_candidate
):
    row = probs(favorite=0.4, reply=0.1, not_interested=0.02, report=0.001)
    earns, costs = 0.4 * 0.5 + 0.1 * 5, -(0.02 * 43.2 + 0.001 * 234)
    candidates = [
        make_candidate(1, phoenix_scores=row, engagement_factor=2.0),
        make_candidate(2, phoenix_scores=row, engagement_factor=0.5),
        make_candidate(3, phoenix_scores=row),  # no factor: the plain sum
    ]
    params = Weighted.Params(positive_factor="engagement_factor")
    raised, lowered, plain = await run_component(Weighted(params), make_query(), candidates)
    assert raised.weighted_score == pytest.approx(2.0 * earns + costs)
    assert lowered.weighted_score == pytest.approx(0.5 * earns + costs)
    assert plain.weighted_score == pytest.approx(earns + costs)
    # the sum stays the ranker's own, for explanations
    assert [c.weighted_sum for c in (raised, lowered, plain)] == pytest.approx([earns + costs] * 3)
    # X's offset applies to the scaled sum
    offset = Weighted.Params(positive_factor="engagement_factor", negative_scores="offset")
    (scored,) = await run_component(Weighted(offset), make_query(), candidates[:1])
    assert scored.weighted_score == pytest.approx(2.0 * earns + costs + 0.001)


def test_a_positive_factor_is_declared_as_a_read_so_recipes_check_its_writer():
    assert "engagement_factor" in Weighted(positive_factor="engagement_factor").reads
    assert "engagement_factor" not in Weighted().reads


async def test_negative_weight_scale_multiplies_only_the_negative_weights(
    make_query, make_candidate
):
    row = probs(favorite=0.4, not_interested=0.02, report=0.001)
    (plain,) = await run_component(
        Weighted(), make_query(), [make_candidate(1, phoenix_scores=row)]
    )
    (scaled,) = await run_component(
        Weighted(negative_weight_scale=2.0), make_query(), [make_candidate(1, phoenix_scores=row)]
    )
    costs = -(0.02 * 43.2 + 0.001 * 234)
    assert plain.weighted_score == pytest.approx(0.4 * 0.5 + costs)
    assert scaled.weighted_score == pytest.approx(0.4 * 0.5 + 2.0 * costs)
    with pytest.raises(ValidationError, match="negative_weight_scale"):
        Weighted(negative_weight_scale=0.0)


def test_a_positive_factor_must_name_a_float_field_of_the_candidate():
    with pytest.raises(ValidationError, match=r"'text' is not a float field.*engagement_factor"):
        Weighted(positive_factor="text")
