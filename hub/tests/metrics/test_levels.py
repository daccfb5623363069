"""Property: the four levels of a batch's metric rows are exact sums of its entries, and the entries are
left as they came (the level sums start from copies of the first entry's histograms, never from them)."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tallyhub import histograms
from tallyhub.metrics.rows import LevelAggregates
from tallyhub.storage.tables import LEVEL_CONSUMER, LEVEL_CONSUMER_TOTAL, LEVEL_ENDPOINT, LEVEL_TOTAL

hist = st.dictionaries(st.sampled_from([0, 1, 10, 20, 990]), st.integers(0, 50), max_size=4)
entry = st.tuples(
    st.sampled_from([None, ("GET", "/a"), ("POST", "/b")]),  # endpoint: few, so keys repeat
    st.sampled_from([None, "c1", "c2"]),
    st.sampled_from([200, 404]),
    st.integers(0, 100),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    hist,
    hist,
    hist,
)


def _expected(entries: list[tuple[Any, ...]], key_of: Any) -> dict[Any, tuple[Any, ...]]:
    sums: dict[Any, list[Any]] = {}
    for e in entries:
        total = sums.setdefault(key_of(e), [0, 0, 0, Counter(), Counter(), Counter()])
        for i in range(3):
            total[i] += e[3 + i]
            total[3 + i].update(e[6 + i])
    return {k: (a, b, c, dict(t), dict(q), dict(r)) for k, (a, b, c, t, q, r) in sums.items()}


@settings(max_examples=200, deadline=None)
@given(st.lists(entry, max_size=30))
def test_each_level_sums_the_entries_exactly(entries: list[tuple[Any, ...]]) -> None:
    sent = copy.deepcopy(entries)
    levels: LevelAggregates[tuple[str, str], str] = LevelAggregates()
    for e in entries:
        levels.add(*e)
    stored: dict[int, dict[Any, tuple[Any, ...]]] = {}
    for level, endpoint, consumer, status, values in levels.serialised():
        a, b, c, t, q, r, rolled = values
        assert rolled is False
        key = (endpoint, consumer, status)
        assert key not in stored.setdefault(level, {}), "one row per key and level"
        # Counter drops nothing, so compare without empty bins: a bin of 0 adds nothing to any figure.
        loaded = tuple({k: v for k, v in histograms.loads(h).items() if v} for h in (t, q, r))
        stored[level][key] = (a, b, c, *loaded)

    def nonzero(rows: dict[Any, tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
        return {k: (*v[:3], *({b: n for b, n in h.items() if n} for h in v[3:])) for k, v in rows.items()}

    assert stored.get(LEVEL_CONSUMER, {}) == nonzero(_expected(entries, lambda e: (e[0], e[1], e[2])))
    assert stored.get(LEVEL_ENDPOINT, {}) == nonzero(_expected(entries, lambda e: (e[0], None, e[2])))
    assert stored.get(LEVEL_CONSUMER_TOTAL, {}) == nonzero(_expected(entries, lambda e: (None, e[1], e[2])))
    assert stored.get(LEVEL_TOTAL, {}) == nonzero(_expected(entries, lambda e: (None, None, e[2])))
    assert entries == sent, "the entries' own histograms were changed"
