from components.filters.conversation_dedup import ConversationDedup
from pipeline.testing import run_component


async def test_only_the_best_scored_post_of_a_conversation_is_kept(
    make_query, make_candidate, id_list
):
    candidates = [
        make_candidate(1, conversation_id=1, score=0.2),  # root
        make_candidate(2, conversation_id=1, in_reply_to_post_id=1, score=0.9),
        make_candidate(3, conversation_id=1, in_reply_to_post_id=2, score=0.5),
        make_candidate(4, score=0.1),  # its own conversation
        make_candidate(5, ancestors=(8, 7), score=0.3),  # root unknown: oldest ancestor
        make_candidate(6, ancestors=(7,), score=0.4),
    ]
    result = await run_component(ConversationDedup(), make_query(), candidates)
    assert id_list(result.kept) == [2, 4, 6]
    assert id_list(result.removed) == [1, 3, 5]


async def test_the_compared_score_field_is_configurable(make_query, make_candidate, id_list):
    candidates = [
        make_candidate(1, conversation_id=1, age_s=10, score=0.1),
        make_candidate(2, conversation_id=1, age_s=99, score=0.9),
    ]
    newest = ConversationDedup(score_field="created_at")
    assert newest.reads >= {"created_at"}
    result = await run_component(newest, make_query(), candidates)
    assert id_list(result.kept) == [1]
