"""Fusing ranked lists: weighted reciprocal rank fusion.

Each signal ranks some chunks; a chunk's fused score is
``sum(weight[s] / (fusion_k + rank_s))`` over the signals that ranked it (rank 1 is
best). Ranks, not raw scores, are added, so signals on different scales (BM25
scores, PageRank mass) combine without calibration; the weights say how much
each signal is trusted and come from the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[tuple[int, float]]],
    weights: Mapping[str, float],
    fusion_k: float,
) -> list[tuple[int, float, dict[str, float]]]:
    """Fuse ``signal -> [(doc, value), ...]`` (each best first) into ``[(doc, score, {signal: value})]``.

    The result is sorted by fused score, descending (ties by doc id). A signal with
    weight 0 or no entries contributes nothing and is left out of the signals dict.
    """
    fused: dict[int, float] = {}
    signals: dict[int, dict[str, float]] = {}
    for name, items in ranked.items():
        weight = float(weights.get(name, 0.0))
        if weight <= 0.0:
            continue
        for rank, (doc, value) in enumerate(items, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (fusion_k + rank)
            signals.setdefault(doc, {})[name] = float(value)
    order = sorted(fused, key=lambda d: (-fused[d], d))
    return [(doc, fused[doc], signals[doc]) for doc in order]
