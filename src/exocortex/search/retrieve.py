"""One search: read the query, gather each signal's ranked candidates, fuse.

Signals (each a ranked list of chunks; fusion weights in ``Config``):

- ``bm25``: BM25 of the chunk's tokens (path, symbol, text); chunks defining a
  code identifier the query names get the best score on top of their own.
- ``skeleton``: BM25 of the file's skeleton, given to the file's candidate chunks
  (a file-level match lifts every chunk of the file); a matching file with no
  candidate chunk contributes its first chunk.
- ``file``: the same with BM25 of the whole file (the sums of its chunks' terms).
- ``pagerank``: personalized PageRank mass of the chunk's file, seeded by the files
  of the best lexical matches and of the definitions the query names; a file
  reached only through the graph contributes its definitions of the names the
  seeds reference (or its first chunk).
- ``expand``: every chunk of the best few files of a first fusion, by file rank
  then line order (then all signals are fused again);
- ``neighbor``: for the best matched definitions, the chunk of the enclosing class,
  definitions they reference (callees) and chunks that reference them (callers);
- ``named``: the chunks of the files the query names (a path, a dotted module, a
  traceback frame: :mod:`exocortex.search.names`), a frame's function first.

The query's first line weighs ``query_title_weight`` times more when it has several
(an issue's title).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from exocortex.log import get_logger
from exocortex.search.cache import DEFINITION_KINDS, SearchData, load_search_data
from exocortex.search.fuse import Fused, Ranked, reciprocal_rank_fusion
from exocortex.search.hits import SearchHit
from exocortex.search.lexical import segment_positions, top
from exocortex.search.names import mentions, named_file_values
from exocortex.search.query import Query, parse_query
from exocortex.search.roles import role_priors
from exocortex.search.structure import MAX_DEFINITIONS, personalized_pagerank

log = get_logger(__name__)

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.search.filters import PathFilter
    from exocortex.store.lance import StoreReader


def _top_positive(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest positive values, largest first."""
    idx = np.flatnonzero(values > 0)
    if idx.size > n:
        idx = idx[np.argpartition(-values[idx], n - 1)[:n]]
    return idx[np.argsort(-values[idx], kind="stable")]


def search(reader: StoreReader, query: str, k: int, config: Config, candidates: int | None = None,
           paths: PathFilter | None = None) -> list[SearchHit]:
    """The ``k`` best chunks for ``query`` (of the files ``paths`` allows: see :mod:`.filters`).

    Each signal contributes ``max(candidates, k)`` candidates (``search_candidates`` by
    default). Wider lists change the ranking, not only its length: the by-file signals then
    also reach chunks of good files that no query word matched, which a pack wants and a
    short list of results does not (``pack_search_candidates``; the comparison is in the
    retrieval sections of docs/benchmarks.md). So the first hits of a pack may differ
    from those of a search.
    """
    if k <= 0:
        return []
    q = parse_query(query, config.query_title_weight)
    if q.empty:
        return []
    data = load_search_data(reader, config)
    if data.chunks.num_docs == 0:
        return []
    allowed = paths.file_mask(data.file_paths) if paths is not None else None
    if allowed is not None and not allowed.any():
        return []
    priors = role_priors(query, config.prior_tests, config.prior_docs)
    pool = config.search_candidates if candidates is None else candidates
    fused = _fuse(data, q, max(int(pool), k), config, priors, allowed)
    return _hits(data, fused.head(k))


def _fuse(data: SearchData, q: Query, budget: int, config: Config, priors: np.ndarray,
          allowed: np.ndarray | None = None) -> Fused:
    """Every signal's ``budget`` best candidates (of the ``allowed`` files), fused, with the role priors applied."""
    ranked = _signals(data, q, budget, config, allowed)
    weights = {
        "bm25": config.weight_bm25,
        "skeleton": config.weight_skeleton,
        "file": config.weight_file,
        "pagerank": config.weight_pagerank,
        "neighbor": config.weight_neighbor,
        "named": config.weight_named,
        "semantic": config.weight_semantic,
        "semantic_file": config.weight_semantic_file,
    }
    fused = _with_priors(data, reciprocal_rank_fusion(ranked, weights, config.fusion_k), priors)
    if config.expand_files > 0 and config.weight_expand > 0 and len(fused):
        # Every chunk of the best files becomes a candidate: the code a question is about
        # often sits next to the lines it names (another method of the same class).
        ranked["expand"] = _file_chunks(data, fused, config.expand_files)
        weights["expand"] = config.weight_expand
        fused = _with_priors(data, reciprocal_rank_fusion(ranked, weights, config.fusion_k), priors)
    return fused


def _with_priors(data: SearchData, fused: Fused, priors: np.ndarray) -> Fused:
    """Scores multiplied by the prior of each chunk's file role (tests and docs count for less)."""
    files = data.chunk_file[fused.docs]
    factor = np.where(files >= 0, priors[data.file_role[np.maximum(files, 0)]], 1.0)
    return fused if np.all(factor == 1.0) else fused.rescored(fused.scores * factor)


def _file_chunks(data: SearchData, fused: Fused, n_files: int) -> Ranked:
    """All chunks of the ``n_files`` best files of ``fused``, by file rank, then line order."""
    files = data.chunk_file[fused.docs]
    files = files[files >= 0]
    _, first_seen = np.unique(files, return_index=True)
    best = files[np.sort(first_seen)][:n_files].astype(np.int64)
    starts = data.file_first_chunk[best]
    best, starts = best[starts >= 0], starts[starts >= 0]
    counts = data.file_chunk_count[best]
    docs = segment_positions(starts, counts)
    values = np.repeat(1.0 / np.arange(1, best.size + 1), counts)
    return docs, values


def _ranked(docs: np.ndarray, values: np.ndarray, own: np.ndarray, budget: int) -> Ranked:
    """Candidates with a positive value, by value, then their own BM25 score, then doc id."""
    keep = values > 0
    docs, values, own = docs[keep], values[keep], own[keep]
    order = np.lexsort((docs, -own, -values))[:budget]
    return docs[order], values[order]


def _signals(data: SearchData, q: Query, budget: int, config: Config,
             allowed: np.ndarray | None = None) -> dict[str, Ranked]:
    """Each signal's ranked candidates. With ``allowed`` (a flag per file), only chunks of allowed
    files are ranked, each list cut to ``budget`` after that; the seeds of PageRank and of the
    neighbours still come from every file's matches."""
    chunks = data.chunks
    allowed_doc: np.ndarray | None = None
    if allowed is not None:
        allowed_doc = np.append(allowed, False)[data.chunk_file]  # a chunk of no known file (-1): not allowed

    def keep_docs(d: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if allowed_doc is None:
            return d, v
        m = allowed_doc[d]
        return d[m], v[m]

    def keep_files(f: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return f, v
        m = allowed[f]
        return f[m], v[m]

    k1, b = config.bm25_k1, config.bm25_b
    docs, scores = chunks.score(q.terms, k1, b)
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
    # docs, scores: the best matches of every file (the seeds); rdocs, rscores: of the allowed files.
    rdocs, rscores = top(*keep_docs(docs, scores), budget)
    docs, scores = top(docs, scores, budget) if allowed_doc is not None else (rdocs, rscores)
    ranked: dict[str, Ranked] = {"bm25": (rdocs, rscores)}
    num_docs, num_files = chunks.num_docs, len(data.file_paths)

    # File-level BM25: of each file's skeleton, and of all its text.
    skeleton_scores = data.skeletons.score(q.terms, k1, b)
    fdocs, fscores = top(*keep_files(*skeleton_scores), budget)
    seed_fdocs = top(*skeleton_scores, budget)[0] if allowed is not None else fdocs
    wdocs, wscores = fdocs[:0], fscores[:0]
    if config.weight_file > 0:
        wdocs, wscores = top(*keep_files(*data.files.score(q.terms, k1, b)), budget)

    # Files the query names (paths, dotted modules, traceback frames) and the functions of
    # the frames in them.
    named = np.zeros(0)
    frame_defs: list[int] = []
    found = mentions(q.text) if config.weight_named > 0 else []
    if found:  # the file-name lookup is built at the first query that names something
        named, frames = named_file_values(found, data.file_names(), num_files)
        if allowed is not None:
            named = np.where(allowed, named, 0.0)
            frames = [(file, function) for file, function in frames if allowed[file]]
        for file, function in frames:
            tid = chunks.term_id(function)
            if tid >= 0:
                defs = data.definitions(tid)
                frame_defs.extend(defs[data.chunk_file[defs] == file].tolist())

    # Neighbours of the best matched definitions.
    neighbor = _neighbors(data, docs, scores, config) if config.weight_neighbor > 0 else {}
    if allowed_doc is not None:
        neighbor = {d: v for d, v in neighbor.items() if allowed_doc[d]}

    # Personalized PageRank seeded by the files of the best matches.
    file_mass = np.zeros(0)
    name_mass = np.zeros(0)
    if config.weight_pagerank > 0:
        n_chunks, n_files = config.pagerank_seed_chunks, config.pagerank_seed_files
        seed_files = data.chunk_file[docs[:n_chunks]].astype(np.int64)
        seed_weights = scores[:n_chunks] / (scores[0] if scores.size and scores[0] > 0 else 1.0)
        seed_files = np.concatenate([seed_files, seed_fdocs[:n_files].astype(np.int64)])
        seed_weights = np.concatenate([seed_weights, 0.5 * np.ones(min(n_files, seed_fdocs.size))])
        keep = seed_files >= 0
        if keep.any():
            uniq, inverse = np.unique(seed_files[keep], return_inverse=True)
            weights = np.bincount(inverse, weights=seed_weights[keep])
            file_mass, name_mass = personalized_pagerank(
                data.graph, uniq, weights, config.pagerank_damping, config.pagerank_steps,
                config.pagerank_max_frontier,
            )
            if allowed is not None:
                file_mass = np.where(allowed, file_mass, 0.0)

    # Candidates: the lexical matches and the neighbours, then a first chunk for each file
    # that only a file-level signal found.
    is_candidate = np.zeros(num_docs, bool)
    is_candidate[rdocs] = True
    neighbor_docs = np.fromiter(neighbor, np.int64, len(neighbor))
    is_candidate[neighbor_docs] = True
    covered = np.zeros(num_files + 1, bool)  # the extra slot absorbs chunks of unknown files (-1)
    covered[data.chunk_file[is_candidate]] = True

    def add_first_chunks(files: np.ndarray) -> None:
        files = files[~covered[files]]
        first = data.file_first_chunk[files]
        is_candidate[first[first >= 0]] = True
        covered[files[first >= 0]] = True

    is_candidate[frame_defs] = True
    covered[data.chunk_file[frame_defs]] = True
    add_first_chunks(fdocs)
    add_first_chunks(wdocs)
    named_files = np.flatnonzero(named > 0)
    add_first_chunks(named_files)
    # Files PageRank reaches bring the definitions of the names the seeds pointed at.
    has_mass = bool(file_mass.size and file_mass.max() > 0)
    if has_mass:
        best_files = _top_positive(file_mass, config.pagerank_files)
        wanted = best_files[~covered[best_files]]
        if wanted.size:
            is_wanted = np.zeros(num_files + 1, bool)
            is_wanted[wanted] = True
            for name in _top_positive(name_mass, config.pagerank_names).tolist():
                defs = data.definitions(name)
                defs = defs[is_wanted[data.chunk_file[defs]]]
                is_candidate[defs] = True
                covered[data.chunk_file[defs]] = True
            add_first_chunks(wanted)

    if allowed_doc is not None:
        is_candidate &= allowed_doc
    cand = np.flatnonzero(is_candidate)
    cand_file = data.chunk_file[cand].astype(np.int64)
    known = cand_file >= 0
    own = np.zeros(num_docs)
    own[docs] = scores
    own[rdocs] = rscores
    own = own[cand]

    def by_file(per_file: np.ndarray) -> Ranked:
        """The candidates ranked by a value of their file."""
        return _ranked(cand, np.where(known, per_file[np.maximum(cand_file, 0)], 0.0), own, budget)

    def dense(files: np.ndarray, values: np.ndarray) -> np.ndarray:
        per_file = np.zeros(num_files)
        per_file[files] = values
        return per_file

    if fdocs.size:
        ranked["skeleton"] = by_file(dense(fdocs, fscores))
    if wdocs.size:
        ranked["file"] = by_file(dense(wdocs, wscores))
    if has_mass:
        ranked["pagerank"] = by_file(file_mass)
    if named_files.size:
        # A frame's function first, then the other chunks of the named files.
        boost = np.zeros(num_docs)
        boost[frame_defs] = 1.0
        ranked["named"] = _ranked(cand, np.where(known, named[np.maximum(cand_file, 0)], 0.0) + boost[cand],
                                  own, budget)
    if config.weight_semantic > 0 or config.weight_semantic_file > 0:
        semantic = _semantic(data, q, budget, config, allowed_doc)
        if semantic is not None and semantic[0].size:
            sdocs, sims = semantic
            if config.weight_semantic > 0:
                ranked["semantic"] = semantic
            if config.weight_semantic_file > 0:
                # each file by its best chunk among the semantic list
                per_file = np.zeros(num_files)
                sfiles = data.chunk_file[sdocs]
                known_chunk = sfiles >= 0
                np.maximum.at(per_file, sfiles[known_chunk], sims[known_chunk])
                ranked["semantic_file"] = by_file(per_file)
    if neighbor:
        items = sorted(neighbor.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]
        ranked["neighbor"] = (np.array([d for d, _ in items], np.int64), np.array([v for _, v in items]))
    return ranked


_semantic_warned: set[str] = set()


def _semantic(data: SearchData, q: Query, budget: int, config: Config,
              allowed_doc: np.ndarray | None) -> Ranked | None:
    """The semantic signal's ``budget`` best chunks (of the allowed files) with their cosine
    similarity to the query; None when the model is unavailable (warned once per process) or no
    query term embeds."""
    from exocortex.search.semantic import ModelUnavailable
    from exocortex.search.vectors import commit_vectors

    try:
        vectors = commit_vectors(data, config)
    except ModelUnavailable as exc:
        if str(exc) not in _semantic_warned:
            _semantic_warned.add(str(exc))
            log.warning("semantic signal off: searching with the other signals", reason=str(exc))
        return None
    terms = q.terms
    if config.semantic_query == "title":
        title = q.text.strip().partition("\n")[0]
        terms = parse_query(title).terms or terms
    qv = vectors.query(terms)
    if qv is None:
        return None
    want = budget if allowed_doc is None else min(data.chunks.num_docs, 8 * budget)
    docs, sims = vectors.search(qv, max(want, 1))
    keep = sims > max(config.semantic_min_similarity, 0.0)
    if allowed_doc is not None:
        keep &= allowed_doc[docs]
    return docs[keep][:budget], sims[keep][:budget].astype(np.float64)


def _neighbors(data: SearchData, docs: np.ndarray, scores: np.ndarray, config: Config) -> dict[int, float]:
    """Chunks next to the best matched definitions, scored by their source's score."""
    keys = data.keys
    chunks = data.chunks
    out: dict[int, float] = {}
    sources = 0

    def offer(doc: int, value: float) -> None:
        out[doc] = max(out.get(doc, 0.0), value)

    for doc, score in zip(docs.tolist(), scores.tolist(), strict=True):
        if sources >= config.neighbor_sources:
            break
        kind = keys.value("kind", doc)
        if kind not in DEFINITION_KINDS:
            continue
        sources += 1
        symbol = str(keys.value("symbol", doc))
        file = int(data.chunk_file[doc])
        # The enclosing class (or struct, impl...) of a method.
        if "." in symbol:
            parent = symbol.rsplit(".", 1)[0]
            tid = chunks.term_id(parent.rsplit(".", 1)[-1].lower())
            if tid >= 0:
                for d in data.definitions(tid).tolist():
                    if int(data.chunk_file[d]) == file and keys.value("symbol", d) == parent:
                        offer(d, score)
                        break
        # Callees: definitions of the names this chunk mentions (rare names only).
        name_tid = chunks.term_id(symbol.rsplit(".", 1)[-1].lower())
        taken = 0
        graph = data.graph
        for tid in chunks.doc_terms(doc).tolist():
            if taken >= config.neighbors_per_source:
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
                pick = np.argsort(-tf, kind="stable")[: config.neighbors_per_source + 1]
                for d in pdocs[pick].tolist():
                    if d != doc:
                        offer(int(d), score * 0.5)
    return out


def _hits(data: SearchData, fused: Fused) -> list[SearchHit]:
    if not len(fused):
        return []
    rows: dict[str, list[Any]] = data.keys.rows(fused.docs)
    scores = fused.scores.tolist()
    return [
        SearchHit(
            path=rows["path"][i],
            ordinal=int(rows["ordinal"][i]),
            symbol=rows["symbol"][i],
            kind=rows["kind"][i],
            lines=(int(rows["start_line"][i]), int(rows["end_line"][i])),
            score=scores[i],
            signals=fused.signals(i),
        )
        for i in range(len(fused))
    ]
