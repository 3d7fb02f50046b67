"""One search: read the query, gather each signal's ranked candidates, fuse.

Signals (each a ranked list of chunks; fusion weights in ``Config``):

- ``bm25``: BM25 of the chunk's tokens (path, symbol, text); chunks defining a
  code identifier the query names get the best score on top of their own.
- ``skeleton``: BM25 of the file's skeleton, given to the file's candidate chunks
  (a file-level match lifts every chunk of the file); a matching file with no
  candidate chunk contributes its first chunk.
- ``pagerank``: personalized PageRank mass of the chunk's file, seeded by the files
  of the best lexical matches and of the definitions the query names; a file
  reached only through the graph contributes its definitions of the names the
  seeds reference (or its first chunk).
- ``neighbor``: for the best matched definitions, the chunk of the enclosing class,
  definitions they reference (callees) and chunks that reference them (callers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exocortex.search.cache import DEFINITION_KINDS, SearchData, load_search_data
from exocortex.search.fuse import reciprocal_rank_fusion
from exocortex.search.hits import SearchHit
from exocortex.search.lexical import top
from exocortex.search.query import Query, parse_query
from exocortex.search.structure import MAX_DEFINITIONS, personalized_pagerank

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.store.lance import StoreReader

SEED_CHUNKS = 50
"""Best lexical chunks whose files seed PageRank."""
SEED_SKELETONS = 20
NEIGHBOR_SOURCES = 10
"""Best matched definitions whose neighbours become candidates."""
NEIGHBORS_PER_SOURCE = 8
PAGERANK_FILES = 50
"""Files reached by PageRank that may contribute chunks."""
PAGERANK_NAMES = 200
"""Names reached by PageRank whose definitions in those files are candidates."""


def _top_positive(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest positive values, largest first."""
    idx = np.flatnonzero(values > 0)
    if idx.size > n:
        idx = idx[np.argpartition(-values[idx], n - 1)[:n]]
    return idx[np.argsort(-values[idx], kind="stable")]


def search(reader: StoreReader, query: str, k: int, config: Config) -> list[SearchHit]:
    if k <= 0:
        return []
    q = parse_query(query)
    if q.empty:
        return []
    data = load_search_data(reader)
    if data.chunks.num_docs == 0:
        return []
    budget = max(int(config.search_candidates), k)
    ranked = _signals(data, q, budget, config)
    fused = reciprocal_rank_fusion(
        ranked,
        {
            "bm25": config.weight_bm25,
            "skeleton": config.weight_skeleton,
            "pagerank": config.weight_pagerank,
            "neighbor": config.weight_neighbor,
        },
        config.fusion_k,
    )[:k]
    return _hits(data, fused)


def _signals(data: SearchData, q: Query, budget: int, config: Config) -> dict[str, list[tuple[int, float]]]:
    chunks = data.chunks
    docs, scores = chunks.score(q.terms)
    # Definitions of identifiers the query names: lifted to the top of the lexical list.
    exact: list[int] = []
    for ident in q.identifiers:
        tid = chunks.term_id(ident)
        if tid >= 0:
            exact.extend(data.definitions(tid).tolist())
    if exact:
        best = float(scores.max()) if scores.size else 1.0
        exact_docs = np.unique(np.asarray(exact, np.int64))
        pos = np.searchsorted(docs, exact_docs)  # docs from flatnonzero are ascending
        found = (pos < docs.size) & (docs[np.minimum(pos, max(docs.size - 1, 0))] == exact_docs)
        scores = scores.copy()
        scores[pos[found]] += best
        docs = np.concatenate([docs, exact_docs[~found]])
        scores = np.concatenate([scores, np.full(int((~found).sum()), best)])
    docs, scores = top(docs, scores, budget)
    bm25 = dict(zip(docs.tolist(), scores.tolist(), strict=True))
    ranked: dict[str, list[tuple[int, float]]] = {"bm25": list(bm25.items())}

    # Skeleton BM25 per file.
    fdocs, fscores = top(*data.skeletons.score(q.terms), budget)
    skeleton = dict(zip(fdocs.tolist(), fscores.tolist(), strict=True))

    # Neighbours of the best matched definitions.
    neighbor = _neighbors(data, docs, scores) if config.weight_neighbor > 0 else {}

    # Personalized PageRank seeded by the files of the best matches.
    file_mass = np.zeros(0)
    name_mass = np.zeros(0)
    if config.weight_pagerank > 0:
        seed_files = data.chunk_file[docs[:SEED_CHUNKS]].astype(np.int64)
        seed_weights = scores[:SEED_CHUNKS] / (scores[0] if scores.size and scores[0] > 0 else 1.0)
        seed_files = np.concatenate([seed_files, fdocs[:SEED_SKELETONS].astype(np.int64)])
        seed_weights = np.concatenate([seed_weights, 0.5 * np.ones(min(SEED_SKELETONS, fdocs.size))])
        keep = seed_files >= 0
        if keep.any():
            uniq, inverse = np.unique(seed_files[keep], return_inverse=True)
            weights = np.bincount(inverse, weights=seed_weights[keep])
            file_mass, name_mass = personalized_pagerank(data.graph, uniq, weights, config.pagerank_damping)

    candidates = set(bm25) | set(neighbor)
    # A skeleton match with no candidate chunk brings its file's first chunk.
    covered: set[int] = set()
    if candidates:
        covered = set(data.chunk_file[np.fromiter(candidates, np.int64, len(candidates))].tolist())
    for f in list(skeleton)[:budget]:
        if f not in covered:
            first = int(data.file_first_chunk[f])
            if first >= 0:
                candidates.add(first)
                covered.add(f)
    # Files PageRank reaches bring the definitions of the names the seeds pointed at.
    has_mass = bool(file_mass.size and file_mass.max() > 0)
    if has_mass:
        best_files = _top_positive(file_mass, PAGERANK_FILES)
        wanted = {f for f in best_files.tolist() if f not in covered}
        if wanted:
            for name in _top_positive(name_mass, PAGERANK_NAMES).tolist():
                for d in data.definitions(name).tolist():
                    f = int(data.chunk_file[d])
                    if f in wanted:
                        candidates.add(d)
                        covered.add(f)
            for f in wanted - covered:
                first = int(data.file_first_chunk[f])
                if first >= 0:
                    candidates.add(first)

    cand = np.fromiter(candidates, np.int64, len(candidates))
    cand_file = data.chunk_file[cand].astype(np.int64)
    own = np.array([bm25.get(int(d), 0.0) for d in cand.tolist()])
    if skeleton:
        sk = np.array([skeleton.get(int(f), 0.0) for f in cand_file.tolist()])
        order = np.lexsort((cand, -own, -sk))
        ranked["skeleton"] = [(int(cand[i]), float(sk[i])) for i in order if sk[i] > 0][:budget]
    if has_mass:
        pr = file_mass[cand_file]
        order = np.lexsort((cand, -own, -pr))
        ranked["pagerank"] = [(int(cand[i]), float(pr[i])) for i in order if pr[i] > 0][:budget]
    if neighbor:
        ranked["neighbor"] = sorted(neighbor.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]
    return ranked


def _neighbors(data: SearchData, docs: np.ndarray, scores: np.ndarray) -> dict[int, float]:
    """Chunks next to the best matched definitions, scored by their source's score."""
    keys = data.chunk_keys
    chunks = data.chunks
    out: dict[int, float] = {}
    sources = 0

    def offer(doc: int, value: float) -> None:
        out[doc] = max(out.get(doc, 0.0), value)

    for doc, score in zip(docs.tolist(), scores.tolist(), strict=True):
        if sources >= NEIGHBOR_SOURCES:
            break
        kind = keys.column("kind")[doc].as_py()
        if kind not in DEFINITION_KINDS:
            continue
        sources += 1
        symbol = keys.column("symbol")[doc].as_py()
        file = int(data.chunk_file[doc])
        # The enclosing class (or struct, impl...) of a method.
        if "." in symbol:
            parent = symbol.rsplit(".", 1)[0]
            tid = chunks.term_id(parent.rsplit(".", 1)[-1].lower())
            if tid >= 0:
                for d in data.definitions(tid).tolist():
                    if int(data.chunk_file[d]) == file and keys.column("symbol")[d].as_py() == parent:
                        offer(d, score)
                        break
        # Callees: definitions of the names this chunk mentions (rare names only).
        name_tid = chunks.term_id(symbol.rsplit(".", 1)[-1].lower())
        taken = 0
        graph = data.graph
        for tid in chunks.doc_terms(doc).tolist():
            if taken >= NEIGHBORS_PER_SOURCE:
                break
            if tid == name_tid or not (0 < graph.name_files[tid] <= MAX_DEFINITIONS):
                continue
            for d in data.definitions(tid)[:2].tolist():
                if d != doc:
                    offer(d, score * 0.5)
                    taken += 1
        # Callers: chunks mentioning this definition's name, most mentions first.
        if name_tid >= 0 and 0 < graph.name_files[name_tid] <= MAX_DEFINITIONS:
            pdocs, tf = chunks.postings(name_tid)
            if pdocs.size:
                pick = np.argsort(-tf, kind="stable")[: NEIGHBORS_PER_SOURCE + 1]
                for d in pdocs[pick].tolist():
                    if d != doc:
                        offer(int(d), score * 0.5)
    return out


def _hits(data: SearchData, fused: list[tuple[int, float, dict[str, float]]]) -> list[SearchHit]:
    if not fused:
        return []
    rows = data.chunk_keys.take(np.asarray([doc for doc, _, _ in fused], np.int64)).to_pydict()
    return [
        SearchHit(
            path=rows["path"][i],
            ordinal=int(rows["ordinal"][i]),
            symbol=rows["symbol"][i],
            kind=rows["kind"][i],
            lines=(int(rows["start_line"][i]), int(rows["end_line"][i])),
            score=score,
            signals=signals,
        )
        for i, (_, score, signals) in enumerate(fused)
    ]
