"""frozen_setup hides what exists from the collector for a block, and only then."""

from __future__ import annotations

import gc

import pytest

from mqttsim.sim.gcfreeze import frozen_setup


def test_the_block_freezes_what_exists_and_gives_it_back() -> None:
    assert gc.get_freeze_count() == 0
    kept = [[] for _ in range(10)]
    with frozen_setup():
        assert gc.get_freeze_count() >= len(kept)
        made = [[] for _ in range(5)]
        assert all(gc.is_tracked(x) for x in made)
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_the_block_are_still_collected() -> None:
    class Node:
        other: object

    with frozen_setup():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2


def test_an_exception_still_unfreezes() -> None:
    with pytest.raises(RuntimeError), frozen_setup():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_a_caller_that_froze_objects_keeps_them_frozen() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_setup():
            pass
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
