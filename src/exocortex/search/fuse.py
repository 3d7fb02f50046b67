"""Fusing ranked lists: weighted reciprocal rank fusion.

Each signal ranks some chunks; a chunk's fused score is
``sum(weight[s] / (fusion_k + rank_s))`` over the signals that ranked it (rank 1 is
best). Ranks, not raw scores, are added, so signals on different scales (BM25
scores, PageRank mass) combine without calibration; the weights say how much
each signal is trusted and come from the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from exocortex.errors import ConfigError

Ranked = tuple[np.ndarray, np.ndarray]
"""One signal's ranking: (doc ids, values), best first, docs distinct."""


@dataclass(frozen=True, slots=True)
class Fused:
    docs: np.ndarray
    """Doc ids, best fused score first (ties by doc id)."""
    scores: np.ndarray
    values: dict[str, np.ndarray]
    """signal -> its value for each doc of ``docs``; NaN where the signal did not rank the doc."""

    def __len__(self) -> int:
        return int(self.docs.size)

    def head(self, n: int) -> Fused:
        """The ``n`` best."""
        return Fused(self.docs[:n], self.scores[:n], {name: v[:n] for name, v in self.values.items()})

    def rescored(self, scores: np.ndarray) -> Fused:
        """The same docs with new ``scores``, re-sorted (ties by doc id)."""
        order = np.lexsort((self.docs, -scores))
        return Fused(self.docs[order], scores[order], {name: v[order] for name, v in self.values.items()})

    def signals(self, i: int) -> dict[str, float]:
        """The values of the signals that ranked the ``i``-th doc."""
        out: dict[str, float] = {}
        for name, values in self.values.items():
            value = values[i]
            if value == value:  # not NaN
                out[name] = float(value)
        return out


def reciprocal_rank_fusion(ranked: Mapping[str, Ranked], weights: Mapping[str, float], fusion_k: float) -> Fused:
    """Fuse ``signal -> (docs, values)`` into every ranked doc, best first (``Fused.head`` keeps the best).

    A signal with weight 0 or no entries contributes nothing and has no entry in
    ``values``. Contributions are added in signal order, so the sums are those of
    a plain loop over the lists.
    """
    _check_constants(weights, fusion_k)
    used = [(name, docs, values, float(weights.get(name, 0.0))) for name, (docs, values) in ranked.items()]
    used = [u for u in used if u[3] > 0.0 and u[1].size]
    if not used:
        empty = np.empty(0, np.int64)
        return Fused(empty, np.empty(0, np.float64), {})
    all_docs = np.concatenate([docs.astype(np.int64, copy=False) for _, docs, _, _ in used])
    parts = [weight / (fusion_k + np.arange(1, docs.size + 1, dtype=np.float64)) for _, docs, _, weight in used]
    uniq, inverse = np.unique(all_docs, return_inverse=True)
    scores = np.bincount(inverse, weights=np.concatenate(parts), minlength=uniq.size)
    order = np.lexsort((uniq, -scores))
    fused_values: dict[str, np.ndarray] = {}
    at = 0
    for name, docs, values, _ in used:
        column = np.full(uniq.size, np.nan)
        column[inverse[at : at + docs.size]] = values
        at += docs.size
        fused_values[name] = column[order]
    return Fused(uniq[order], scores[order], fused_values)


def _check_constants(weights: Mapping[str, float], fusion_k: float) -> None:
    """Refuse what would make scores NaN or drop a signal unseen (``load_config`` refuses them first;
    this guards a ``Config`` built by hand)."""
    if not (math.isfinite(fusion_k) and fusion_k > 0):
        raise ConfigError(f"fusion_k must be a finite positive number, got {fusion_k!r}")
    for name, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ConfigError(f"the fusion weight of {name} must be a finite number of at least 0, got {weight!r}")
