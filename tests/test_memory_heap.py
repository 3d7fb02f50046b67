"""Giving freed memory back: RSS falls after freed heap memory is released."""

from __future__ import annotations

import psutil

from exocortex.memory import heap


def test_freed_heap_memory_below_a_live_block_is_given_back() -> None:
    process = psutil.Process()
    heap.release_freed_memory()
    if heap._libc() is None:  # not glibc: Arrow's pool is released, and nothing fails
        return
    before = process.memory_info().rss
    # Many small blocks (below the mmap threshold, so they live on glibc's heap), then one
    # block allocated after them that stays alive: freeing the others cannot shrink the
    # heap from its top, so their pages stay mapped until they are released.
    blocks = [bytearray(4096) for _ in range(50_000)]  # about 200 MB
    pin = bytearray(4096)
    del blocks
    held = process.memory_info().rss
    assert held - before > 150 << 20, "freed memory was not held (nothing to release)"
    heap.release_freed_memory()
    assert process.memory_info().rss - before < 60 << 20
    del pin


def test_large_allocations_leave_the_rss_when_freed() -> None:
    if heap._libc() is None:  # not glibc: the setting is not taken, and says so
        assert heap.map_large_allocations() is False
        return
    assert heap.map_large_allocations() is True
    process = psutil.Process()
    big = bytearray(16 << 20)
    del big  # by itself, glibc would now serve blocks below 16 MiB from its heap
    before = process.memory_info().rss
    blocks, pins = [], []
    for _ in range(25):  # 100 MiB of 4 MiB blocks, each followed by a small live block on the heap
        blocks.append(bytearray(4 << 20))
        pins.append(bytearray(2048))
    del blocks
    # Freed blocks below live ones stay in the RSS on the heap (100 MiB without the setting,
    # measured); with pages of their own they are unmapped when freed.
    assert process.memory_info().rss - before < 30 << 20
    del pins
