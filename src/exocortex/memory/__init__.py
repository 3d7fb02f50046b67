"""Memory: cache eviction policies (``policies``), a multi-level cache over them (``cache``) with an
on-disk level (``disk``), cache trace readers and replay (``traces``), and giving freed memory back
to the operating system (``heap``). The vector tiers (``tiers``: hot float32 on GPU or RAM, warm int8
or float16 in RAM, cold in Lance; imported lazily, so NumPy loads only when they are used), the memory
governor that keeps a process within its budget (``governor``), and the caches the engine itself keeps
through all of this (``engine``)."""

from typing import TYPE_CHECKING, Any

from exocortex.memory.cache import CacheLevel, Level, MultiLevelCache, Record
from exocortex.memory.disk import DiskLevel, DiskLevelLockedError
from exocortex.memory.governor import MemoryEvent, MemoryGovernor, MemorySnapshot, Rule, cache_releaser
from exocortex.memory.policies import (
    ARC,
    FIFO,
    LFU,
    LRU,
    MISSING,
    S3FIFO,
    TTL,
    Belady,
    Evicted,
    OversizeError,
    Policy,
    Random,
    Reason,
    WTinyLFU,
)
from exocortex.memory.traces import TraceError, replay

if TYPE_CHECKING:
    from exocortex.memory.tiers import StoreStats, TierConfigError, TieredVectorStore, TierStats

_LAZY_TIERS = ("StoreStats", "TierConfigError", "TieredVectorStore", "TierStats")


def __getattr__(name: str) -> Any:
    if name in _LAZY_TIERS:
        from exocortex.memory import tiers

        return getattr(tiers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ARC",
    "FIFO",
    "LFU",
    "LRU",
    "MISSING",
    "S3FIFO",
    "TTL",
    "Belady",
    "Evicted",
    "OversizeError",
    "Policy",
    "Random",
    "Reason",
    "TraceError",
    "WTinyLFU",
    "replay",
    "CacheLevel",
    "Level",
    "MultiLevelCache",
    "Record",
    "DiskLevel",
    "DiskLevelLockedError",
    "StoreStats",
    "TierConfigError",
    "TieredVectorStore",
    "MemoryEvent",
    "MemoryGovernor",
    "MemorySnapshot",
    "Rule",
    "cache_releaser",
    "TierStats",
]
