"""What retrieval hands to packing: ranked chunks with the signals that ranked them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked chunk. ``(path, ordinal)`` is the chunk's key in the store's chunks table."""

    path: str
    ordinal: int
    symbol: str
    kind: str
    lines: tuple[int, int]
    """1-based inclusive line range of the chunk."""
    score: float
    """Fused score; higher is more relevant. Hits are returned in descending score."""
    signals: dict[str, float] = field(default_factory=dict)
    """Per-signal contributions, e.g. {"bm25": 7.1, "pagerank": 0.003, "neighbor": 1.0}."""
