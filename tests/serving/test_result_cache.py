"""The LRU result cache: normalised keys, eviction order, hit rate, and never an old version's answers."""

import types

import pytest

from tfsearch.serving.result_cache import ResultCache, normalise_query


def version(number):
    return types.SimpleNamespace(version=number)


def test_normalised_queries_share_an_entry():
    assert normalise_query("  covid\tvaccines \n") == "covid vaccines"
    assert normalise_query("cafe\u0301") == "caf\u00e9"  # NFD e + combining acute -> NFC é
    assert normalise_query("Covid") != normalise_query("covid")  # case is the model's business
    cache, v1 = ResultCache(4), version(1)
    cache.put(v1, "covid vaccines", 10, 0.3, "row")
    assert cache.get(v1, " covid  vaccines", 10, 0.3) == "row"
    # Another k or diversity is another entry.
    assert cache.get(v1, "covid vaccines", 5, 0.3) is None and cache.get(v1, "covid vaccines", 10, 0.0) is None


def test_least_recently_used_is_evicted_and_hit_rate_counts_lookups():
    cache, v1 = ResultCache(2), version(1)
    assert cache.hit_rate == 0.0
    cache.put(v1, "a", 1, 0.0, "A")
    cache.put(v1, "b", 1, 0.0, "B")
    assert cache.get(v1, "a", 1, 0.0) == "A"  # "a" is now the most recent: "b" goes first
    cache.put(v1, "c", 1, 0.0, "C")
    assert len(cache) == 2 and cache.get(v1, "b", 1, 0.0) is None and cache.get(v1, "c", 1, 0.0) == "C"
    # Lookups: a (hit), b (miss), c (hit): 2 of 3.
    assert (cache.hits, cache.misses) == (2, 1) and cache.hit_rate == pytest.approx(2 / 3)


def test_a_new_version_never_gets_an_old_versions_answer():
    cache, v1, v2 = ResultCache(8), version(1), version(2)
    cache.put(v1, "a", 1, 0.0, "old")
    assert cache.get(v2, "a", 1, 0.0) is None  # version 2 owns the cache now: version 1's entries are gone
    cache.put(v1, "a", 1, 0.0, "old, finished late")  # a request that ran on version 1: not stored
    assert cache.get(v2, "a", 1, 0.0) is None
    cache.put(v2, "a", 1, 0.0, "new")
    assert cache.get(v2, "a", 1, 0.0) == "new"
    # A republished version 2 (another object with the same number) starts empty too.
    republished = version(2)
    assert cache.get(republished, "a", 1, 0.0) is None


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, None])
def test_capacity_must_be_a_positive_integer(capacity):
    with pytest.raises(ValueError, match="`capacity` must be a positive integer"):
        ResultCache(capacity)
