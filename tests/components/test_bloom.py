import numpy as np
import pytest

from components.bloom import BloomFilter


def test_bloom_filter_never_misses_an_added_id():
    bloom = BloomFilter.for_capacity(5_000, false_positive_rate=0.01)
    added = np.arange(5_000) * 13 + 7
    bloom.add_many(added)
    assert bloom.contains_many(added).all()


@pytest.mark.parametrize("rate", [0.05, 0.01, 0.001])
def test_bloom_false_positive_rate_at_capacity_is_close_to_the_target(rate):
    bloom = BloomFilter.of(range(10_000), false_positive_rate=rate)
    strangers = np.arange(10_000_000, 10_200_000)
    measured = bloom.contains_many(strangers).mean()
    assert measured <= rate * 1.5


def test_bloom_round_trips_through_bytes():
    bloom = BloomFilter.of([1, 2, 3])
    assert BloomFilter.from_bytes(bloom.to_bytes()) == bloom


@pytest.mark.parametrize(
    ("capacity", "rate", "message"),
    [(0, 0.01, "capacity"), (10, 0.0, "strictly between"), (10, 1.0, "strictly between")],
)
def test_bloom_rejects_bad_sizing(capacity, rate, message):
    with pytest.raises(ValueError, match=message):
        BloomFilter.for_capacity(capacity, rate)


def test_bloom_rejects_corrupt_bytes():
    with pytest.raises(ValueError, match="corrupt"):
        BloomFilter.from_bytes(BloomFilter.of([1]).to_bytes()[:-1])
