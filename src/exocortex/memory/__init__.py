"""Memory: cache eviction policies (``policies``), a multi-level cache over them (``cache``) with an
on-disk level (``disk``), cache trace readers and replay (``traces``), and giving freed memory back
to the operating system (``heap``). The vector tiers and the memory governor come with the rest of
the memory issue."""

from exocortex.memory.cache import CacheLevel, Level, MultiLevelCache, Record
from exocortex.memory.disk import DiskLevel, DiskLevelLockedError
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
]
