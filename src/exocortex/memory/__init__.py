"""Memory: cache eviction policies (``policies``), cache trace readers and replay (``traces``), and
giving freed memory back to the operating system (``heap``). The multi-level cache, the vector
tiers and the memory governor come with the rest of the memory issue."""

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
]
