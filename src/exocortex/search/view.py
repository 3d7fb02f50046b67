"""A commit's search data as one view over a base segment and a delta segment.

The view numbers chunks, files and terms exactly as a full build of the same files
would (chunks by path then ordinal, files by path, terms in sorted order), so every
signal computed over it (BM25 statistics, definition lists, the structure graph,
ties broken by id) is the full build's, operation for operation. What it stores per
commit is small: maps from each segment's local ids to global ids, the global
per-document lengths, per-file arrays, the definition index and the graph. The
postings stay in the segments and are mapped to global ids when a query reads them.

A base-only view (a full build, or a commit that changed nothing) uses the base's
lexical indexes as they are.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.search import structure
from exocortex.search.lexical import LexicalIndex, SortedStrings, segment_positions
from exocortex.search.segment import DEF, IMPORT, REF, Edges, Segment, positions_in, write_strings
from exocortex.search.structure import Graph, import_keys, module_keys, resolve_import

GRAPH_ARRAYS = ("offsets", "targets", "weights", "name_files")
VIEW_ARRAYS = (
    "b_doc", "d_doc", "b_file", "d_file", "b_term", "d_term", "term_b", "term_d", "doc_src", "file_src",
    "chunk_doc_len", "file_doc_len", "skeleton_doc_len",
)
"""Arrays a view with a delta stores besides the definition index and the graph."""


class Lexical(Protocol):
    """What search reads from a lexical index (a segment's own, or a view over two)."""

    @property
    def num_docs(self) -> int: ...

    def term_id(self, term: str) -> int: ...

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]: ...

    def doc_terms(self, doc: int) -> np.ndarray: ...

    def score(self, weighted_terms: dict[str, float], k1: float = 1.2,
              b: float = 0.75) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(slots=True)
class Part:
    index: LexicalIndex
    doc_map: np.ndarray  # local doc -> global doc (-1: deleted)
    term_map: np.ndarray | None = None  # local term -> global term
    term_of_global: np.ndarray | None = None  # global term -> local term (-1: none)


class LexicalView:
    """BM25 over the live documents of several lexical indexes, in global document ids.

    Scores are computed as :meth:`LexicalIndex.score` computes them, with the statistics
    (document count, document frequencies, average length) of the live documents only.
    """

    def __init__(self, parts: list[Part], doc_len: np.ndarray, doc_src: np.ndarray | None = None) -> None:
        self._parts = parts
        self.doc_len = doc_len
        self._doc_src = doc_src  # global doc -> part 0's doc, or -(part 1's doc + 1)
        n = int(doc_len.shape[0])
        total = float(np.asarray(doc_len).sum(dtype=np.float64))  # as lexical.load sums it
        self.avg_len = total / n if n and total else 1.0

    @property
    def num_docs(self) -> int:
        return int(self.doc_len.shape[0])

    def _live_postings(self, part: Part, local_term: int) -> tuple[np.ndarray, np.ndarray]:
        docs, tf = part.index.postings(local_term)
        mapped = part.doc_map[docs]
        keep = mapped >= 0
        return mapped[keep], tf[keep]

    def _gather(self, local_terms: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The live postings, in global ids (not sorted), of each part's local term (-1: none)."""
        docs, tfs = [], []
        for part, local in zip(self._parts, local_terms, strict=True):
            if local >= 0:
                d, tf = self._live_postings(part, local)
                docs.append(d)
                tfs.append(tf)
        if not docs:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return np.concatenate(docs), np.concatenate(tfs)

    def _postings_of(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live postings of ``term`` in global ids (not sorted)."""
        return self._gather([part.index.term_id(term) for part in self._parts])

    def score(self, weighted_terms: dict[str, float], k1: float = 1.2,
              b: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
        if self.num_docs == 0:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        scores: np.ndarray | None = None
        for term, weight in weighted_terms.items():
            docs, tf = self._postings_of(term)
            if docs.size == 0:
                continue
            df = int(docs.size)
            idf = math.log(1.0 + (self.num_docs - df + 0.5) / (df + 0.5))
            norm = k1 * (1.0 - b + b * self.doc_len[docs] / self.avg_len)
            part = (weight * idf) * tf * (k1 + 1.0) / (tf + norm)
            if scores is None:
                scores = np.zeros(self.num_docs, np.float64)
            scores[docs] += part
        if scores is None:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        hit = np.flatnonzero(scores)
        return hit, scores[hit]

    def term_id(self, term: str) -> int:
        for part in self._parts:
            assert part.term_map is not None
            local = part.index.term_id(term)
            if local >= 0 and part.term_map[local] >= 0:
                return int(part.term_map[local])
        return -1

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        locals_ = []
        for part in self._parts:
            assert part.term_of_global is not None
            locals_.append(int(part.term_of_global[term_id]))
        d, tf = self._gather(locals_)
        order = np.argsort(d, kind="stable")
        return d[order], tf[order]

    def doc_terms(self, doc: int) -> np.ndarray:
        assert self._doc_src is not None
        src = int(self._doc_src[doc])
        part = self._parts[0] if src >= 0 else self._parts[1]
        local = src if src >= 0 else -src - 1
        assert part.term_map is not None
        return np.sort(part.term_map[part.index.doc_terms(local)])


class ChunkKeys:
    """Path, ordinal, lines, kind and symbol of each chunk, read from the segments' tables."""

    def __init__(self, tables: list[pa.Table], doc_src: np.ndarray | None = None) -> None:
        self._tables = tables
        self._doc_src = doc_src

    def _locate(self, doc: int) -> tuple[pa.Table, int]:
        if self._doc_src is None:
            return self._tables[0], doc
        src = int(self._doc_src[doc])
        return (self._tables[0], src) if src >= 0 else (self._tables[1], -src - 1)

    def value(self, column: str, doc: int) -> object:
        table, row = self._locate(doc)
        return table.column(column)[row].as_py()

    def rows(self, docs: np.ndarray) -> dict[str, list[object]]:
        """The columns of the chunks ``docs``, in that order."""
        docs = np.asarray(docs, np.int64)
        if self._doc_src is None:
            rows: dict[str, list[object]] = self._tables[0].take(pa.array(docs)).to_pydict()
            return rows
        src = np.asarray(self._doc_src)[docs]
        in_base = src >= 0
        out_base = self._tables[0].take(pa.array(src[in_base])).to_pydict()
        out_delta = self._tables[1].take(pa.array(-src[~in_base] - 1)).to_pydict()
        order = np.concatenate([np.flatnonzero(in_base), np.flatnonzero(~in_base)])
        merged: dict[str, list[object]] = {}
        for name in out_base:
            values = out_base[name] + out_delta[name]
            column: list[object] = [None] * len(values)
            for position, value in zip(order.tolist(), values, strict=True):
                column[position] = value
            merged[name] = column
        return merged


def _locate(sorted_values: pa.Array, queries: pa.Array, where: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For each query: its index in ``sorted_values`` (-1 where absent) and, with ``where``, where it
    would go (else the second array is the first).

    Few queries against many values are looked up by binary search (no hash table of the many);
    many queries by one hash join.
    """
    n = len(queries)
    if n * 32 < len(sorted_values):
        values = SortedStrings(sorted_values)
        positions = np.empty(n, np.int64)
        found = np.full(n, -1, np.int64)
        for i, query in enumerate(queries.to_pylist()):
            at = bisect.bisect_left(values, query)
            positions[i] = at
            if at < len(values) and values[at] == query:
                found[i] = at
        return found, positions
    found = positions_in(queries, sorted_values)
    if not where:
        return found, found
    positions = found.copy()
    missing = np.flatnonzero(found < 0)
    if missing.size:
        values = SortedStrings(sorted_values)
        positions[missing] = [bisect.bisect_left(values, queries[int(i)].as_py()) for i in missing]
    return found, positions


def _scatter(size: int, index: list[np.ndarray], values: list[np.ndarray], dtype: type) -> np.ndarray:
    out: np.ndarray = np.zeros(size, dtype)
    for i, v in zip(index, values, strict=True):
        out[i] = v
    return out


def build_view(base: Segment, delta: Segment, removed: pa.Array) -> dict[str, np.ndarray | pa.Array | Graph]:
    """The arrays of the view of ``base`` less its files ``removed`` and those ``delta`` holds,
    plus ``delta``: maps, global per-document arrays, definitions and the graph."""
    out: dict[str, np.ndarray | pa.Array | Graph] = {}
    # Files: the base's live paths and the delta's, merged in path order.
    dead = pc.is_in(base.file_paths, value_set=pa.concat_arrays([delta.file_paths, removed.cast(pa.string())]))
    live = ~dead.to_numpy(zero_copy_only=False)
    live_idx = np.flatnonzero(live)
    live_paths = base.file_paths.take(pa.array(live_idx)).to_numpy(zero_copy_only=False)
    insert = np.searchsorted(live_paths, delta.file_paths.to_numpy(zero_copy_only=False)).astype(np.int64)
    fd = delta.num_files
    num_files = live_idx.size + fd
    b_file = np.full(base.num_files, -1, np.int64)
    ranks = np.arange(live_idx.size, dtype=np.int64)
    b_file[live_idx] = ranks + np.searchsorted(insert, ranks, side="right")
    d_file = insert + np.arange(fd, dtype=np.int64)
    same_path = positions_in(base.file_paths, delta.file_paths)
    b_path = b_file.copy()
    replaced = np.flatnonzero(same_path >= 0)
    b_path[replaced] = d_file[same_path[replaced]]
    file_src = np.empty(num_files, np.int64)
    file_src[b_file[live_idx]] = live_idx
    file_src[d_file] = -np.arange(fd, dtype=np.int64) - 1
    take = np.where(file_src >= 0, file_src, base.num_files - file_src - 1)
    out["file_paths"] = pa.concat_arrays([base.file_paths, delta.file_paths]).take(pa.array(take))
    out["file_role"] = np.concatenate([base.file_role, delta.file_role])[take]
    out["file_doc_len"] = _scatter(num_files, [b_file[live_idx], d_file],
                                   [base.files.doc_len[live_idx], delta.files.doc_len], np.float32)
    out["skeleton_doc_len"] = _scatter(num_files, [b_file[live_idx], d_file],
                                       [base.skeletons.doc_len[live_idx], delta.skeletons.doc_len], np.float32)

    # Chunks: each file's chunks are consecutive, in ordinal order.
    counts = np.zeros(num_files, np.int64)
    counts[b_file[live_idx]] = base.file_chunk_count()[live_idx]
    counts[d_file] = delta.file_chunk_count()
    first = np.zeros(num_files + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    num_docs = int(first[-1])

    def doc_map(seg: Segment, file_map: np.ndarray) -> np.ndarray:
        cf = np.asarray(seg.chunk_file, np.int64)
        gf = file_map[cf] if cf.size else cf
        ok = gf >= 0
        local_first = seg.file_first_chunk()
        docs = np.full(cf.size, -1, np.int64)
        rows = np.flatnonzero(ok)
        docs[rows] = first[gf[rows]] + (rows - local_first[cf[rows]])
        return docs

    b_doc, d_doc = doc_map(base, b_file), doc_map(delta, d_file)
    b_live_docs = np.flatnonzero(b_doc >= 0)
    doc_src = np.empty(num_docs, np.int64)
    doc_src[b_doc[b_live_docs]] = b_live_docs
    doc_src[d_doc] = -np.arange(d_doc.size, dtype=np.int64) - 1
    out["chunk_doc_len"] = _scatter(num_docs, [b_doc[b_live_docs], d_doc],
                                    [base.chunks.doc_len[b_live_docs], delta.chunks.doc_len], np.float32)
    out["chunk_file"] = np.repeat(np.arange(num_files, dtype=np.int32), counts)
    out["file_first_chunk"] = np.where(counts > 0, first[:-1], -1)

    # Terms: the base's terms some live chunk holds and the delta's, merged in sorted order.
    bi, di = base.chunks, delta.chunks
    vb, vd = len(bi.vocab), len(di.vocab)
    dead_docs = np.flatnonzero(b_doc < 0)
    fwd = np.asarray(bi.fwd_offsets)
    dead_terms = np.asarray(bi.fwd_terms)[segment_positions(fwd[dead_docs], fwd[dead_docs + 1] - fwd[dead_docs])]
    live_df = np.diff(np.asarray(bi.term_offsets)) - np.bincount(dead_terms, minlength=vb)
    b_of_d, positions_all = _locate(bi.vocab, di.vocab)
    live_term = live_df > 0
    shared = b_of_d[b_of_d >= 0]
    live_term[shared] = True
    new_terms = np.flatnonzero(b_of_d < 0)
    positions = positions_all[new_terms]
    live_before = np.zeros(vb + 1, np.int64)
    np.cumsum(live_term, out=live_before[1:])
    b_term = np.where(live_term, live_before[:-1] + np.searchsorted(positions, np.arange(vb), side="right"), -1)
    d_term = np.full(vd, -1, np.int64)
    has_base = np.flatnonzero(b_of_d >= 0)
    d_term[has_base] = b_term[b_of_d[has_base]]
    d_term[new_terms] = live_before[positions] + np.arange(new_terms.size, dtype=np.int64)
    num_terms = int(live_before[-1]) + new_terms.size
    term_b = np.full(num_terms, -1, np.int64)
    term_b[b_term[live_term]] = np.flatnonzero(live_term)
    term_d = np.full(num_terms, -1, np.int64)
    term_d[d_term] = np.arange(vd, dtype=np.int64)

    maps = _Maps(base=base, delta=delta, b_doc=b_doc, d_doc=d_doc, b_file=b_file, d_file=d_file, b_path=b_path,
                 b_term=b_term, d_term=d_term, num_files=num_files, num_terms=num_terms, num_docs=num_docs)
    out["def_offsets"], out["def_docs"] = _definitions(maps)
    added = pc.filter(delta.file_paths, pc.invert(pc.is_in(delta.file_paths, value_set=base.file_paths)))
    raw = _raw_edges(maps, [*added.to_pylist(), *removed.to_pylist()])
    out["graph"] = graph_of(raw, num_files, num_terms)
    if delta.num_files == 0 and not len(removed):
        # a base's own view: what later views map instead of sorting again
        out["raw_src"], out["raw_dst"], out["raw_kind"] = raw.src, raw.dst, raw.kind
    out |= {"b_doc": b_doc, "d_doc": d_doc, "b_file": b_file, "d_file": d_file, "b_term": b_term,
            "d_term": d_term, "term_b": term_b, "term_d": term_d, "doc_src": doc_src, "file_src": file_src}
    return out


@dataclass(slots=True)
class _Maps:
    """A view's segments and the maps of their local ids to global ones (-1: not in the view)."""

    base: Segment
    delta: Segment
    b_doc: np.ndarray
    d_doc: np.ndarray
    b_file: np.ndarray
    d_file: np.ndarray
    b_path: np.ndarray  # base file -> the global file of its path (its delta version when replaced)
    b_term: np.ndarray
    d_term: np.ndarray
    num_files: int
    num_terms: int
    num_docs: int

    def loose_terms(self, names: pa.Array, in_base: bool) -> np.ndarray:
        """Global terms of names loose in one segment: only the other's vocabulary can hold them."""
        other, other_map = (self.delta, self.d_term) if in_base else (self.base, self.b_term)
        local = _locate(other.chunks.vocab, names, where=False)[0]
        out = np.full(local.size, -1, np.int64)
        hit = np.flatnonzero(local >= 0)
        out[hit] = other_map[local[hit]]
        return out


def _known(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of ``a`` and ``b`` (concatenated) where both are known (not -1)."""
    x, y = np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)
    keep = (x >= 0) & (y >= 0)
    return x[keep], y[keep]


def _merge_sorted(big: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Two sorted arrays as one sorted array, in time linear in ``big`` (``small`` is sorted here)."""
    small = np.sort(small)
    if small.size == 0:
        return big
    return np.insert(big, np.searchsorted(big, small), small)


def _definitions(m: _Maps) -> tuple[np.ndarray, np.ndarray]:
    """The definition index (name term -> chunk docs, ascending) over the view's ids."""
    base, delta = m.base, m.delta
    n = max(m.num_docs, 1)
    docs, terms = _known(
        [m.b_doc[base.loose_def_docs], m.d_doc[delta.def_docs], m.d_doc[delta.loose_def_docs]],
        [m.loose_terms(base.loose_def_names, True), m.d_term[delta.def_terms],
         m.loose_terms(delta.loose_def_names, False)],
    )
    extra = terms * n + docs
    if base.own_def_offsets is not None:
        # The base's own index is sorted by (term, doc) and the maps keep order: no sort.
        vb = np.asarray(base.own_def_offsets).size - 1
        bt = m.b_term[np.repeat(np.arange(vb, dtype=np.int64), np.diff(np.asarray(base.own_def_offsets)))]
        bd = m.b_doc[np.asarray(base.own_def_docs, np.int64)]
        keep = (bt >= 0) & (bd >= 0)
        keys = _merge_sorted(bt[keep] * n + bd[keep], extra)
    else:
        docs, terms = _known([m.b_doc[base.def_docs]], [m.b_term[base.def_terms]])
        keys = np.sort(np.concatenate([terms * n + docs, extra]))
    offsets = np.zeros(m.num_terms + 1, np.int64)
    np.cumsum(np.bincount(keys // n, minlength=m.num_terms), out=offsets[1:])
    return offsets, (keys % n).astype(np.int32)


def _edge_keys(src: np.ndarray, dst: np.ndarray, kind: int, nodes: int) -> np.ndarray:
    """Edges packed as ``(src * nodes + dst) * 4 + kind``: sorting them sorts by (src, dst)."""
    keep = src != dst
    keys: np.ndarray = (src[keep] * nodes + dst[keep]) * 4 + kind
    return keys


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate([[True], values[1:] != values[:-1]])]
    return values


def _raw_edges(m: _Maps, moved_paths: list[str]) -> Edges:
    """Every edge of the view's graph before names are filtered by how many files define them.

    A base's own raw edges are mapped to the view's ids (the maps keep their order, so they
    stay sorted) and the few others are merged in; only when a path was added or removed are
    the base's imports resolved again.
    """
    base, delta = m.base, m.delta
    f = m.num_files
    nodes = f + m.num_terms

    def names(terms: np.ndarray) -> np.ndarray:
        return np.where(terms >= 0, terms + f, -1)

    def segment_edges(in_base: bool, loose_only: bool) -> list[np.ndarray]:
        """A segment's reference and definition edges (only those of its loose names)."""
        seg = base if in_base else delta
        file_map, term_map = (m.b_file, m.b_term) if in_base else (m.d_file, m.d_term)
        ref_src, ref_dst = [file_map[seg.loose_ref_file]], [names(m.loose_terms(seg.loose_ref_names, in_base))]
        def_src, def_dst = [names(m.loose_terms(seg.loose_sym_names, in_base))], [file_map[seg.loose_sym_file]]
        if not loose_only:
            ref_src.append(file_map[seg.ref_file])
            ref_dst.append(names(term_map[seg.ref_terms]))
            def_src.append(names(term_map[seg.sym_terms]))
            def_dst.append(file_map[seg.sym_file])
        refs = _edge_keys(*_known(ref_src, ref_dst), REF, nodes)
        defs = _unique_sorted(_edge_keys(*_known(def_src, def_dst), DEF, nodes))  # a name once per file
        return [refs, defs]

    moved = {key for path in moved_paths for key in module_keys(path)}
    own = base.own_raw_edges
    imp_src, imp_dst = _import_edges(m, moved, with_base=own is None or bool(moved))
    extra = [*segment_edges(False, False), _edge_keys(imp_src, imp_dst, IMPORT, nodes)]
    if own is None:
        return Edges.unpack(np.sort(np.concatenate([*segment_edges(True, False), *extra])), nodes)
    big = _mapped_own(m, own, drop_imports=bool(moved))  # the base's imports are then among ``extra``
    small = Edges.unpack(np.sort(np.concatenate([*extra, *segment_edges(True, True)])), nodes)
    if small.src.size == 0:
        return big
    at = np.searchsorted(big.src.astype(np.int64) * nodes + big.dst,
                         small.src.astype(np.int64) * nodes + small.dst)
    return Edges(src=np.insert(big.src, at, small.src), dst=np.insert(big.dst, at, small.dst),
                 kind=np.insert(big.kind, at, small.kind))


def _mapped_own(m: _Maps, own: Edges, drop_imports: bool) -> Edges:
    """A base's own raw edges (base ids) in the view's ids (still sorted: the maps keep order),
    dropping those of deleted files or terms."""
    fb = m.base.num_files
    f = m.num_files
    kind = np.asarray(own.kind)
    src = np.asarray(own.src)
    dst = np.asarray(own.dst)
    if drop_imports:
        kept = kind != IMPORT
        src, dst, kind = src[kept], dst[kept], kind[kept]

    def name(nodes_b: np.ndarray) -> np.ndarray:
        t = m.b_term[nodes_b - fb]
        return np.where(t >= 0, t + f, -1)

    is_def = kind == DEF
    gsrc = m.b_file[np.where(is_def, 0, src)]
    gsrc[is_def] = name(src[is_def])
    is_ref, is_imp = kind == REF, kind == IMPORT
    gdst = m.b_file[np.where(is_ref, 0, dst)]
    gdst[is_ref] = name(dst[is_ref])
    gdst[is_imp] = m.b_path[dst[is_imp]]
    keep = (gsrc >= 0) & (gdst >= 0)
    return Edges(src=gsrc[keep].astype(np.int32), dst=gdst[keep].astype(np.int32), kind=kind[keep])


def graph_of(raw: Edges, num_files: int, num_names: int) -> Graph:
    """The graph from its sorted raw edges: a name carries edges only when 1 to ``MAX_DEFINITIONS``
    files define it; each node's out-edges weigh 1 / its out-degree."""
    nodes = num_files + num_names
    src, dst, kind = raw.src, raw.dst, raw.kind
    is_def = kind == DEF
    name_files = np.bincount(src[is_def] - num_files, minlength=num_names)
    useful = (name_files >= 1) & (name_files <= structure.MAX_DEFINITIONS)
    keep = np.ones(src.size, bool)
    keep[is_def] = useful[src[is_def] - num_files]
    is_ref = kind == REF
    keep[is_ref] = useful[dst[is_ref] - num_files]
    src, dst = src[keep], dst[keep]
    out_degree = np.bincount(src, minlength=nodes)
    offsets = np.zeros(nodes + 1, np.int64)
    np.cumsum(out_degree, out=offsets[1:])
    return Graph(
        num_files=num_files,
        offsets=offsets,
        targets=dst.astype(np.int32),
        weights=(1.0 / np.maximum(out_degree[src], 1)).astype(np.float32),
        name_files=np.where(useful, name_files, 0).astype(np.int32),
    )


def _import_edges(m: _Maps, moved: set[str], with_base: bool) -> tuple[np.ndarray, np.ndarray]:
    """File -> file edges of the delta's imports and, ``with_base``, of the base's, in the view's ids.

    The base's own resolution of an import string holds unless a path that was added or
    removed provides one of the string's keys; those strings, and all of the delta's, are
    resolved again over both segments' module-key tables.
    """
    base, delta = m.base, m.delta
    b_path, d_file, b_file = m.b_path, m.d_file, m.b_file

    def files_of(key: str) -> list[int]:
        found = b_path[base.module_lookup(key)]
        both = np.concatenate([found[found >= 0], d_file[delta.module_lookup(key)]])
        return [int(f) for f in np.unique(both)]

    d_targets = [resolve_import(s, files_of) for s in delta.imp_strings.to_pylist()]
    d_src_list: list[int] = []
    d_dst_list: list[int] = []
    for f, s in zip(np.asarray(delta.imp_file).tolist(), np.asarray(delta.imp_string).tolist(), strict=True):
        found = d_targets[s]
        d_src_list.extend([int(d_file[f])] * len(found))
        d_dst_list.extend(found)
    d_src, d_dst = np.asarray(d_src_list, np.int64), np.asarray(d_dst_list, np.int64)
    if not with_base:
        return d_src, d_dst
    offsets = np.asarray(base.imp_offsets)
    targets = b_path[np.asarray(base.imp_targets)] if offsets[-1] else np.empty(0, np.int64)
    string_of = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))
    valid = targets >= 0
    counts = np.bincount(string_of[valid], minlength=offsets.size - 1)
    targets = targets[valid]
    if moved:
        lists = np.split(targets, np.cumsum(counts)[:-1]) if counts.size else []
        for i, s in enumerate(base.imp_strings.to_pylist()):
            if any(key in moved for key in import_keys(s)):
                lists[i] = np.asarray(resolve_import(s, files_of), np.int64)
        counts = np.asarray([len(x) for x in lists], np.int64)
        targets = np.concatenate(lists) if lists else np.empty(0, np.int64)
    starts = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    src = b_file[np.asarray(base.imp_file, np.int64)]
    sid = np.asarray(base.imp_string, np.int64)
    keep = src >= 0
    src, sid = src[keep], sid[keep]
    n = counts[sid] if sid.size else np.empty(0, np.int64)
    b_src = np.repeat(src, n)
    b_dst = targets[segment_positions(starts[sid], n)] if sid.size else np.empty(0, np.int64)
    return np.concatenate([b_src, d_src]), np.concatenate([b_dst, d_dst])


def save_view(arrays: dict[str, np.ndarray | pa.Array | Graph], folder: Path) -> None:
    for name, value in arrays.items():
        if isinstance(value, Graph):
            np.save(folder / "graph_num_files.npy", np.array([value.num_files], np.int64))
            for part in GRAPH_ARRAYS:
                np.save(folder / f"graph_{part}.npy", getattr(value, part))
        elif isinstance(value, pa.Array):
            write_strings(folder / f"{name}.arrow", value)
        else:
            if value.dtype == np.int64 and name in VIEW_ARRAYS and (value.size == 0 or int(value.max()) < 2**31):
                value = value.astype(np.int32)  # ids: half the bytes to write and to map
            np.save(folder / f"{name}.npy", value)
