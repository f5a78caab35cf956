"""Lane keys and entry signatures (pure functions)."""

from __future__ import annotations

import random

import pytest

from content.adapters.feed_lanes import (
    _lane_hashes,
    entry_id,
    may_be_in,
    signature,
    split_entry_id,
)


def test_a_late_joiner_sorts_between_the_numbers_around_it() -> None:
    keys = [entry_id("tag:x", 5), entry_id("tag:x", 5, 17), entry_id("tag:x", 5, 230)]
    keys.append(entry_id("tag:x", 6))
    assert sorted(keys) == keys
    assert split_entry_id(keys[1]) == ("tag:x", 5)
    # A lane's range holds none of another lane whose name starts the same.
    assert not "tag:x|" <= entry_id("tag:x-y", 1) < "tag:x|~"


@pytest.mark.parametrize("bad", ["", "all", "all|12", "|000000000001", "all|000000000001.7"])
def test_anything_else_is_not_an_entry_key(bad: str) -> None:
    with pytest.raises(ValueError):
        split_entry_id(bad)


def test_signatures_never_miss_a_lane_and_rarely_admit_another() -> None:
    rng = random.Random(7)
    admitted = 0
    for n in range(300):
        lanes = [f"tok:w{rng.randrange(10_000)}" for _ in range(rng.randrange(1, 120))]
        sig = signature(lanes)
        assert all(may_be_in(sig, [_lane_hashes(lane)]) for lane in lanes)
        admitted += may_be_in(sig, [_lane_hashes(f"tok:other{n}")])
    assert admitted < 15  # about 1% expected
