import pytest

from components.keywords import KeywordMatcher


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
