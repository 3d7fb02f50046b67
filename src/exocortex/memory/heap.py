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
