"""Post text for the demo world: topic vocabularies and a generator of short posts.

Texts are built from each topic's words, multi-word phrases and hashtags so that muted
keyword filtering (a tokenised phrase match) has something realistic to match.
"""

from __future__ import annotations

import numpy as np

# topic: (12 words, phrases separated by "|", hashtags). Phrases and hashtags make muted
# keyword filtering meaningful (multi-word matches, "#" tokens).
_TOPIC_SPEC: dict[str, tuple[str, str, str]] = {
    "ai": (
        "model neural training gpu transformer dataset agents inference benchmark tokens "
        "alignment weights",
        "machine learning|large language model|open weights",
        "#AI #MachineLearning",
    ),
    "football": (
        "goal striker keeper derby league transfer penalty midfield referee stadium fixture coach",
        "world cup|offside trap|clean sheet",
        "#Football #WorldCup",
    ),
    "cooking": (
        "recipe garlic oven sourdough pasta spice braise butter knife broth dough skillet",
        "sheet pan dinner|cast iron|meal prep",
        "#Cooking #Recipe",
    ),
    "music": (
        "album guitar chorus vinyl tour drummer setlist melody synth remix lyrics festival",
        "new single|live session|b side",
        "#NowPlaying #NewMusic",
    ),
    "politics": (
        "election senate policy vote campaign debate budget minister poll reform tariff parliament",
        "town hall|swing state|approval rating",
        "#Election #Politics",
    ),
    "gaming": (
        "speedrun console patch boss loot raid controller indie esports shader quest respawn",
        "early access|open world|frame rate",
        "#Gaming #Speedrun",
    ),
    "travel": (
        "flight hostel passport itinerary beach layover train museum backpack island visa sunrise",
        "road trip|hidden gem|carry on",
        "#Travel #Wanderlust",
    ),
    "finance": (
        "stocks inflation bonds earnings dividend rates index portfolio recession yield "
        "budget savings",
        "interest rate|bull market|index fund",
        "#Investing #Markets",
    ),
    "climate": (
        "solar emissions wildfire heatwave carbon glacier drought turbine battery flood forest "
        "ocean",
        "heat pump|net zero|sea level",
        "#Climate #ClimateAction",
    ),
    "space": (
        "rocket orbit telescope lander nebula launch moon mars satellite comet booster astronaut",
        "black hole|launch window|deep field",
        "#Space #Astronomy",
    ),
    "movies": (
        "trailer director sequel premiere cinema screenplay cast popcorn review franchise scene "
        "oscars",
        "box office|plot twist|director's cut",
        "#Movies #FilmTwitter",
    ),
    "fitness": (
        "workout squat marathon protein cardio deadlift stretch gym reps yoga sprint recovery",
        "personal best|rest day|leg day",
        "#Fitness #GymLife",
    ),
    "fashion": (
        "runway denim sneakers vintage outfit designer fabric tailoring jacket trend boots "
        "collection",
        "street style|capsule wardrobe|fashion week",
        "#Fashion #OOTD",
    ),
    "books": (
        "novel chapter author paperback library poetry memoir fiction bookshop sequel essay "
        "reading",
        "book club|page turner|short story",
        "#Books #AmReading",
    ),
    "crypto": (
        "bitcoin wallet token blockchain ledger mining defi exchange stablecoin airdrop halving "
        "altcoin",
        "to the moon|cold storage|smart contract",
        "#Crypto #Bitcoin",
    ),
    "pets": (
        "puppy kitten leash vet adoption treats paws shelter parrot hamster groomer fetch",
        "good boy|rescue dog|cat nap",
        "#Pets #DogsOfX",
    ),
}
TOPIC_VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    topic: {
        "words": tuple(words.split()),
        "phrases": tuple(phrases.split("|")),
        "hashtags": tuple(hashtags.split()),
    }
    for topic, (words, phrases, hashtags) in _TOPIC_SPEC.items()
}
"""Per topic: 12 single words, 3 multi-word phrases and 2 hashtags that posts are made of."""

_FILLER = "the a this my our really just today new so about thread honestly again finally big and"
FILLER_WORDS: tuple[str, ...] = (*_FILLER.split(), "with", "for", "why")
SPAM_TEXT: tuple[str, ...] = ("buy followers now", "free crypto giveaway", "click this link")


def generate_texts(
    topics: tuple[str, ...], topic: np.ndarray, safety_label: np.ndarray, rng
) -> np.ndarray:
    """Short posts from the topic's words, sometimes with a phrase and a hashtag."""
    n = topic.size
    lengths = rng.integers(4, 10, size=n)
    draws = rng.random((n, 12))
    word_pick = rng.integers(0, 1 << 30, size=(n, 12))
    with_phrase = rng.random(n) < 0.3
    with_hashtag = rng.random(n) < 0.4
    texts = np.empty(n, dtype=object)
    for i in range(n):
        vocab = TOPIC_VOCABULARY[topics[topic[i]]]
        words = [
            vocab["words"][word_pick[i, k] % 12]
            if draws[i, k] < 0.6
            else FILLER_WORDS[word_pick[i, k] % len(FILLER_WORDS)]
            for k in range(lengths[i])
        ]
        if with_phrase[i]:
            words.insert(
                int(word_pick[i, 0] % len(words)), _pick(vocab["phrases"], word_pick[i, 1])
            )
        if safety_label[i] == "spam":
            words.insert(0, _pick(SPAM_TEXT, word_pick[i, 2]))
        if with_hashtag[i]:
            words.append(_pick(vocab["hashtags"], word_pick[i, 3]))
        sentence = " ".join(words)
        texts[i] = sentence[:1].upper() + sentence[1:]
    return texts


def _pick(options: tuple[str, ...], draw: int) -> str:
    return options[int(draw) % len(options)]
