"""Lexical BM25 over space-joined code tokens, in NumPy, cached on disk.

A :class:`LexicalIndex` is built once per store commit from a ``terms`` column
(chunks) or ``skeleton_terms`` column (files) and saved as ``.npy`` arrays plus
an Arrow file of the sorted vocabulary; later searches memory-map them, so a
search touches only the postings of its query terms.

Arrays (``N`` documents, ``V`` terms):

- ``term_offsets`` (V+1) / ``post_docs`` / ``post_tf``: postings, term-major, docs ascending;
- ``doc_len`` (N): tokens per document, for BM25's length normalization;
- ``fwd_offsets`` (N+1) / ``fwd_terms``: each document's distinct term ids (the forward
  index, used to find what a matched definition references).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

BM25_K1 = 1.2
BM25_B = 0.75

_ARRAYS = ("term_offsets", "post_docs", "post_tf", "doc_len", "fwd_offsets", "fwd_terms")


@dataclass(slots=True)
class LexicalIndex:
    vocab: pa.Array  # sorted, distinct terms
    term_offsets: np.ndarray
    post_docs: np.ndarray
    post_tf: np.ndarray
    doc_len: np.ndarray
    fwd_offsets: np.ndarray
    fwd_terms: np.ndarray
    avg_len: float

    @property
    def num_docs(self) -> int:
        return int(self.doc_len.shape[0])

    def term_id(self, term: str) -> int:
        """The id of ``term`` in the vocabulary, or -1 (binary search on the sorted vocabulary)."""
        vocab = self.vocab
        lo, hi = 0, len(vocab)
        while lo < hi:
            mid = (lo + hi) // 2
            value = vocab[mid].as_py()
            if value < term:
                lo = mid + 1
            elif value > term:
                hi = mid
            else:
                return mid
        return -1

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.term_offsets[term_id]), int(self.term_offsets[term_id + 1])
        return self.post_docs[start:end], self.post_tf[start:end]

    def doc_freq(self, term_id: int) -> int:
        return int(self.term_offsets[term_id + 1] - self.term_offsets[term_id])

    def idf(self, term_id: int) -> float:
        df = self.doc_freq(term_id)
        return math.log(1.0 + (self.num_docs - df + 0.5) / (df + 0.5))

    def doc_terms(self, doc: int) -> np.ndarray:
        return self.fwd_terms[int(self.fwd_offsets[doc]) : int(self.fwd_offsets[doc + 1])]

    def score(self, weighted_terms: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every document matching any term: (doc ids, scores), unsorted."""
        if self.num_docs == 0:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        scores: np.ndarray | None = None
        for term, weight in weighted_terms.items():
            tid = self.term_id(term)
            if tid < 0:
                continue
            docs, tf = self.postings(tid)
            if docs.size == 0:
                continue
            norm = BM25_K1 * (1.0 - BM25_B + BM25_B * self.doc_len[docs] / self.avg_len)
            part = (weight * self.idf(tid)) * tf * (BM25_K1 + 1.0) / (tf + norm)
            if scores is None:
                scores = np.zeros(self.num_docs, np.float64)
            scores[docs] += part  # docs are distinct within one posting list
        if scores is None:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        hit = np.flatnonzero(scores)
        return hit, scores[hit]


def top(docs: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best (doc, score) pairs, best first; ties by doc id."""
    if docs.size > n:
        keep = np.argpartition(-scores, n - 1)[:n]
        docs, scores = docs[keep], scores[keep]
    order = np.lexsort((docs, -scores))
    return docs[order], scores[order]


def build(terms: pa.ChunkedArray | pa.Array) -> LexicalIndex:
    """Build the index of documents whose tokens are the space-joined strings ``terms``."""
    if isinstance(terms, pa.ChunkedArray):
        terms = terms.combine_chunks() if terms.num_chunks else pa.array([], pa.large_string())
    terms = pc.fill_null(terms, "")
    n = len(terms)
    lists = pc.split_pattern(terms, " ")
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)
    doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    nonempty = pc.not_equal(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    if not nonempty.all():
        flat = flat.filter(pa.array(nonempty))
        doc_of = doc_of[nonempty]
    doc_len = np.bincount(doc_of, minlength=n).astype(np.float32)
    encoded = pc.dictionary_encode(flat)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    raw_vocab = encoded.dictionary
    order = pc.sort_indices(raw_vocab).to_numpy()
    rank = np.empty(len(raw_vocab), np.int64)
    rank[order] = np.arange(len(raw_vocab))
    vocab = raw_vocab.take(pa.array(order))
    v = len(vocab)
    term_of = rank[encoded.indices.to_numpy(zero_copy_only=False)] if v else np.empty(0, np.int64)
    # Distinct (doc, term) pairs with their counts, doc-major: the forward index.
    keys, tf = np.unique(doc_of * max(v, 1) + term_of, return_counts=True)
    pair_doc = keys // max(v, 1)
    pair_term = keys % max(v, 1)
    fwd_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pair_doc, minlength=n), out=fwd_offsets[1:])
    # Term-major postings: a stable sort by term keeps docs ascending.
    by_term = np.argsort(pair_term, kind="stable")
    term_offsets = np.zeros(v + 1, np.int64)
    np.cumsum(np.bincount(pair_term, minlength=v), out=term_offsets[1:])
    total = float(doc_len.sum())
    return LexicalIndex(
        vocab=vocab,
        term_offsets=term_offsets,
        post_docs=pair_doc[by_term].astype(np.int32),
        post_tf=tf[by_term].astype(np.float32),
        doc_len=doc_len,
        fwd_offsets=fwd_offsets,
        fwd_terms=pair_term.astype(np.int32),
        avg_len=total / n if n and total else 1.0,
    )


def save(index: LexicalIndex, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in _ARRAYS:
        np.save(folder / f"{name}.npy", getattr(index, name))
    with ipc.new_file(str(folder / "vocab.arrow"), pa.schema([("term", index.vocab.type)])) as out:
        out.write_table(pa.table({"term": index.vocab}))


def load(folder: Path) -> LexicalIndex:
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    vocab = ipc.open_file(pa.memory_map(str(folder / "vocab.arrow"))).read_all().column("term")
    vocab = vocab.combine_chunks() if vocab.num_chunks != 1 else vocab.chunk(0)
    n = arrays["doc_len"].shape[0]
    total = float(np.asarray(arrays["doc_len"]).sum())
    return LexicalIndex(vocab=vocab, avg_len=total / n if n and total else 1.0, **arrays)
