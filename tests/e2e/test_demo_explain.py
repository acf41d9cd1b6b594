"""``feedmixer demo``'s explanations: each scorer's part in a post's place."""

from __future__ import annotations

from components.cli import explain_post, strongest_topics


async def test_explain_names_each_scorer_step_of_a_served_post(serve):
    result = await serve()
    post = result.selected[0]
    lines = explain_post(result, post.id)
    assert lines[0].startswith(f"{post.id} was retrieved by source")
    text = "\n".join(lines)
    assert f"{post.weighted_sum:+.6g}" in text
    assert f"author_diversity: factor {post.diversity_factor:.4f}" in text
    assert f"oon: factor {post.oon_factor:.2f}" in text
    assert post.impressions is not None  # for_you hydrates the post's engagement so far
    assert f"engagement so far: {post.impressions} impressions, {post.engaged} engaged" in text
    assert f"engagement_prior: factor {post.engagement_factor:.4f}" in text
    assert f"policy = {post.weighted_score:+.6g}" in text
    assert "rank 1 of" in lines[-1]


async def test_explain_shows_the_offset_score_when_the_recipe_uses_x_formula(serve):
    result = await serve(overrides={"scorers.weighted.params.negative_scores": "offset"})
    post = result.selected[0]
    text = "\n".join(explain_post(result, post.id))
    # a negative sum the engagement factor cannot raise (factor <= 1) lands in [0, 0.001)
    negative = [
        c
        for c in result.scored
        if c.weighted_sum is not None and c.weighted_sum < 0 and c.engagement_factor <= 1
    ]
    assert negative and all(0 <= c.weighted_score < 0.001 for c in negative)
    assert f"policy = {post.weighted_score:+.6g}" in text


async def test_explain_of_a_filtered_or_unknown_post_tells_its_path_only(serve):
    result = await serve()
    scored = {c.id for c in result.scored}
    removed = next(r for r in result.removed if r.candidate.id not in scored)
    (line,) = explain_post(result, removed.candidate.id)
    assert f"removed by filter {removed.filter!r}" in line
    assert explain_post(result, -1) == ["-1 was not retrieved by any source."]


def test_strongest_topics_come_from_the_hidden_preferences(world):
    topics = strongest_topics(world, 1)
    preference = world.users.topic_preference[0]
    assert [t["weight"] for t in topics] == sorted(
        (float(p) for p in preference if p > 0), reverse=True
    )[:3]
    assert topics[0]["topic"] == world.topics[int(preference.argmax())]
