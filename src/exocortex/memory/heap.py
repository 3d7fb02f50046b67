"""Returning freed heap memory to the operating system.

Large transient reads (a whole Lance table, decoded by the Rust reader into the C
heap, then copied into sorted Arrow tables) leave hundreds of megabytes freed but
still mapped: glibc keeps them for later allocations, so the process's RSS stays
high although nothing uses them. ``release_freed_memory`` asks Arrow's pool and
glibc's allocator to hand such pages back. It frees nothing that is in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any

import pyarrow as pa


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only (not musl)
    except OSError:
        return None


def release_freed_memory() -> None:
    """Give memory that was freed, but is still held by the allocators, back to the OS."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_ALLOCATION_BYTES = 1 << 20
"""Allocations of at least this size get pages of their own (see :func:`map_large_allocations`)."""


@functools.cache
def map_large_allocations() -> bool:
    """From now on, give every allocation of ``LARGE_ALLOCATION_BYTES`` or more pages of its own,
    returned to the OS the moment it is freed. Returns whether the allocator took the setting.

    glibc raises its threshold for that as the program frees large blocks (up to 32 MiB), so the
    search-data build's temporaries (NumPy arrays of tens of MB, freed one after another) end up
    in the heap and stay in the RSS after they are freed: about 0.4 GB at the build's peak on
    50,000 files. A fixed threshold stops that; the cost is a page fault per fresh page of a large
    array (measured in a 50k-file cold index: about 3 s more system time in 180 CPU seconds).
    Process-wide, once: it changes how the whole process allocates, in a long-running server too.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES) == 1)
