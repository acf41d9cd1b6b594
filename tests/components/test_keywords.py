import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.keywords import KeywordMatcher, normalize_text


@pytest.mark.parametrize(
    ("keywords", "text", "muted"),
    [
        (["game of thrones"], "Game of Thrones finale!", True),
        (["game of thrones"], "endgame", False),
        (["game of thrones"], "game-of-thrones spoilers", True),
        (["game of thrones"], "the game of chess", False),
        (["game"], "endgame", False),
        (["game"], "GAME night", True),
        (["game"], "\uff27\uff41\uff4d\uff45 night", True),  # full-width letters normalise (NFKC)
        (["café"], "Cafe\u0301 au lait", True),  # decomposed accent normalises
        (["straße"], "STRASSE closed", True),  # case folding, not just lower()
        (["nba"], "Tonight: #NBA finals", True),
        (["#nba"], "nba finals", False),
        (["#nba"], "watching #nba", True),
        (["nba"], "nbafinals", False),
        ([], "anything", False),
        (["  "], "anything", False),
    ],
)
def test_keyword_matching(keywords, text, muted):
    assert KeywordMatcher(keywords).matches(text) is muted


def test_matcher_without_keywords_is_falsy():
    assert not KeywordMatcher([])
    assert KeywordMatcher(["x"])


@given(
    keywords=st.lists(st.text(alphabet="ab #-\uff41é", max_size=6), max_size=4),
    text=st.text(alphabet="abAB #-.\uff41\uff22é\u0301", max_size=30),
)
def test_the_prefilter_never_changes_an_answer(keywords, text):
    matcher = KeywordMatcher(keywords)
    full = bool(matcher) and matcher._pattern.search(normalize_text(text)) is not None
    assert matcher.matches(text) is (bool(text) and full)
