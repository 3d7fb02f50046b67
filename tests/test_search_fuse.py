"""Weighted reciprocal rank fusion, checked against sums worked out by hand."""

from __future__ import annotations

import math

import numpy as np

from exocortex.search.fuse import reciprocal_rank_fusion


def _ranked(docs: list[int], values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(docs, np.int64), np.array(values)


def test_scores_are_weighted_reciprocal_ranks_summed_over_signals() -> None:
    ranked = {"a": _ranked([7, 3, 9], [5.0, 4.0, 1.0]), "b": _ranked([3, 8], [0.2, 0.1]), "off": _ranked([1], [9.0])}
    fused = reciprocal_rank_fusion(ranked, {"a": 1.0, "b": 0.5, "off": 0.0}, fusion_k=10.0)
    want = {7: 1 / 11, 3: 1 / 12 + 0.5 / 11, 9: 1 / 13, 8: 0.5 / 12}
    assert fused.docs.tolist() == sorted(want, key=lambda d: -want[d])  # 3, 7, 9, 8
    assert all(math.isclose(s, want[d]) for d, s in zip(fused.docs.tolist(), fused.scores.tolist(), strict=True))
    assert fused.signals(0) == {"a": 4.0, "b": 0.2}  # doc 3: both signals, with their own values
    assert fused.signals(3) == {"b": 0.1}  # doc 8: only the signal that ranked it
    assert "off" not in fused.values  # a zero weight contributes nothing


def test_ties_go_to_the_lower_doc_id_and_head_keeps_the_best() -> None:
    ranked = {"a": _ranked([5, 2], [1.0, 1.0]), "b": _ranked([2, 5], [1.0, 1.0])}
    fused = reciprocal_rank_fusion(ranked, {"a": 1.0, "b": 1.0}, fusion_k=60.0)
    assert fused.docs.tolist() == [2, 5]
    best = fused.head(1)
    assert best.docs.tolist() == [2] and best.signals(0) == {"a": 1.0, "b": 1.0}
    assert len(reciprocal_rank_fusion({}, {"a": 1.0}, 60.0)) == 0

