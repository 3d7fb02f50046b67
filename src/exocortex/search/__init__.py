"""Retrieval: rank the chunks of a store for a query, on CPU, with no model.

Signals (see :mod:`.retrieve`): BM25 over chunk tokens, BM25 over file skeletons,
personalized PageRank over the definition/reference/import graph, and graph
neighbours (enclosing class, callers, callees) of matched definitions, fused by
weighted reciprocal rank (:mod:`.fuse`). Importing this package is cheap; the
search data is loaded on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exocortex.search.hits import SearchHit

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.search.filters import PathFilter
    from exocortex.store.lance import StoreReader


def search(reader: StoreReader, query: str, k: int, config: Config, candidates: int | None = None,
           paths: PathFilter | None = None) -> list[SearchHit]:
    """At most ``k`` chunks ranked for ``query``, best first; an empty list when nothing matches.

    ``candidates``: how many each signal contributes (default ``config.search_candidates``);
    ``paths``: only chunks of the files it allows (:class:`exocortex.search.filters.PathFilter`).
    """
    from exocortex.search.retrieve import search as _search

    return _search(reader, query, k, config, candidates, paths)


__all__ = ["SearchHit", "search"]
