"""Lexical BM25 over space-joined code tokens, in NumPy, cached on disk.

A :class:`LexicalIndex` is built once per store commit from a ``terms`` column
(chunks) or ``skeleton_terms`` column (files) and saved as ``.npy`` arrays plus
an Arrow file of the sorted vocabulary; later searches memory-map them, so a
search touches only the postings of its query terms.

Arrays (``N`` documents, ``V`` terms):

- ``term_offsets`` (V+1) / ``post_docs`` / ``post_tf``: postings, term-major, docs ascending;
- ``doc_len`` (N): tokens per document, for BM25's length normalization;
- ``fwd_offsets`` (N+1) / ``fwd_terms``: each document's distinct term ids in order of
  first occurrence (the forward index, used to find what a matched definition references).
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

BUILD_BLOCK_DOCS = 131_072
"""Documents tokenized at once while building: bounds the build's peak memory."""
BUILD_THREADS = 4
"""Blocks tokenized in parallel (at most the number of CPUs)."""

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
        return find_sorted(self.vocab, term)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.term_offsets[term_id]), int(self.term_offsets[term_id + 1])
        return self.post_docs[start:end], self.post_tf[start:end]

    def doc_freq(self, term_id: int) -> int:
        return int(self.term_offsets[term_id + 1] - self.term_offsets[term_id])

    def idf(self, term_id: int) -> float:
        df = self.doc_freq(term_id)
        return math.log(1.0 + (self.num_docs - df + 0.5) / (df + 0.5))

    def doc_terms(self, doc: int) -> np.ndarray:
        """The distinct term ids of ``doc``, ascending."""
        return np.sort(self.fwd_terms[int(self.fwd_offsets[doc]) : int(self.fwd_offsets[doc + 1])])

    def score(
        self, weighted_terms: dict[str, float], k1: float = 1.2, b: float = 0.75
    ) -> tuple[np.ndarray, np.ndarray]:
        """BM25 (``k1``, ``b``) of every document matching any term: (doc ids, scores), docs ascending."""
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
            norm = k1 * (1.0 - b + b * self.doc_len[docs] / self.avg_len)
            part = (weight * self.idf(tid)) * tf * (k1 + 1.0) / (tf + norm)
            if scores is None:
                scores = np.zeros(self.num_docs, np.float64)
            scores[docs] += part  # docs are distinct within one posting list
        if scores is None:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        hit = np.flatnonzero(scores)
        return hit, scores[hit]


class SortedStrings:
    """A sorted Arrow string array as a sequence of Python strings, for :mod:`bisect`."""

    def __init__(self, values: pa.Array) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, i: int) -> str:
        value: str = self._values[i].as_py()
        return value


def find_sorted(values: pa.Array, value: str) -> int:
    """The index of ``value`` in the sorted string array ``values``, or -1 (binary search)."""
    seq = SortedStrings(values)
    at = bisect.bisect_left(seq, value)
    return at if at < len(seq) and seq[at] == value else -1


def top(docs: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best (doc, score) pairs, best first; ties by doc id."""
    if docs.size > n:
        keep = np.argpartition(-scores, n - 1)[:n]
        docs, scores = docs[keep], scores[keep]
    order = np.lexsort((docs, -scores))
    return docs[order], scores[order]


@dataclass(slots=True)
class _Block:
    doc_len: np.ndarray  # tokens per document of the block
    dictionary: pa.Array  # the block's distinct terms
    docs: np.ndarray  # distinct (doc, term) pairs, doc-major: block-local doc
    terms: np.ndarray  # ... and the term's index in ``dictionary``
    tf: np.ndarray  # ... and its count in the doc


def _tokenize_block(part: pa.Array) -> _Block:
    """Split a block of documents into tokens and count each distinct (doc, term) pair."""
    n = len(part)
    lists = pc.split_pattern(part, " ")
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(lists)
    del lists
    doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    nonempty = pc.not_equal(pc.binary_length(flat), 0)
    if not pc.all(nonempty).as_py():
        flat = flat.filter(nonempty)
        doc_of = doc_of[nonempty.to_numpy(zero_copy_only=False)]
    doc_len = np.bincount(doc_of, minlength=n).astype(np.float32)
    encoded = pc.dictionary_encode(flat)
    del flat
    local_v = max(len(encoded.dictionary), 1)
    key_type = np.uint32 if n * local_v < 2**32 else np.int64  # a narrower key sorts faster
    keys: np.ndarray = doc_of.astype(key_type)
    keys *= local_v
    del doc_of
    keys += encoded.indices.to_numpy(zero_copy_only=False).astype(key_type)
    keys, tf = np.unique(keys, return_counts=True)
    return _Block(
        doc_len=doc_len,
        dictionary=encoded.dictionary,
        docs=(keys // local_v).astype(np.int32),
        terms=(keys % local_v).astype(np.int32),
        tf=tf.astype(np.int32),
    )


def build(
    terms: pa.ChunkedArray | pa.Array, order: np.ndarray | None = None, block_docs: int = BUILD_BLOCK_DOCS
) -> LexicalIndex:
    """Build the index of documents whose tokens are the space-joined strings ``terms``.

    Documents are tokenized and deduplicated in blocks of ``block_docs``, so the
    peak memory is that of one block's tokens plus the distinct (doc, term)
    pairs, never that of every token of the corpus at once. Document ``i`` is
    ``terms[order[i]]`` when ``order`` (a permutation) is given.
    """
    if isinstance(terms, pa.ChunkedArray):
        terms = terms.combine_chunks() if terms.num_chunks else pa.array([], pa.large_string())
    terms = pc.fill_null(terms, "")
    step = max(block_docs, 1)

    def block(start: int) -> _Block:
        return _tokenize_block(terms.slice(start, step))

    return _index_blocks(block, len(terms), step, terms.type, order)


def build_counted(
    term_lists: pa.ChunkedArray,
    term_counts: pa.ChunkedArray,
    order: np.ndarray | None = None,
    block_docs: int = BUILD_BLOCK_DOCS,
) -> LexicalIndex:
    """Build the index of documents given as their distinct terms and each term's count.

    The store keeps chunks this way (counted at index time), so building needs no
    tokenizing and no deduplication: only a dictionary encoding and a sort.
    Document ``i`` is row ``order[i]`` when ``order`` (a permutation) is given.
    """
    n = len(term_lists)
    step = max(block_docs, 1)

    def block(start: int) -> _Block:
        return counted_block(term_lists.slice(start, step), term_counts.slice(start, step))

    value_type = term_lists.type.value_type if n else pa.string()
    return _index_blocks(block, n, step, value_type, order)


def counted_block(lists: pa.ChunkedArray | pa.Array, counts: pa.ChunkedArray | pa.Array) -> _Block:
    """One block of documents given as distinct terms and counts (see :func:`build_counted`)."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks() if lists.num_chunks != 1 else lists.chunk(0)
    if isinstance(counts, pa.ChunkedArray):
        counts = counts.combine_chunks() if counts.num_chunks != 1 else counts.chunk(0)
    m = len(lists)
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    docs = np.repeat(np.arange(m, dtype=np.int32), lengths)
    tf = pc.list_flatten(counts).to_numpy(zero_copy_only=False).astype(np.int32)
    encoded = pc.dictionary_encode(pc.list_flatten(lists))
    return _Block(
        doc_len=np.bincount(docs, weights=tf, minlength=m).astype(np.float32),
        dictionary=encoded.dictionary,
        docs=docs,
        terms=encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32),
        tf=tf,
    )


def merge_blocks(blocks: list[_Block], vocab_type: pa.DataType, order: np.ndarray | None = None) -> LexicalIndex:
    """The index of the documents of ``blocks`` (in that order; document ``i`` is ``order[i]``)."""
    return _merged(blocks, vocab_type, order)


def segment_positions(starts: np.ndarray, lengths: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + lengths[i] - 1`` of every segment ``i``, concatenated
    (as ``dtype``: int32 halves the memory of a long result whose positions fit)."""
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(lengths, np.int64)
    # position j of the output belongs to segment i: starts[i] + (j - first output position of i)
    positions = np.repeat((starts - (np.cumsum(lengths) - lengths)).astype(dtype), lengths)
    positions += np.arange(positions.size, dtype=dtype)
    return positions


def _index_blocks(
    block: Callable[[int], _Block], n: int, step: int, vocab_type: pa.DataType, order: np.ndarray | None
) -> LexicalIndex:
    """Run ``block`` over the rows in blocks of ``step`` and merge the blocks into one index.

    With ``order``, document ``i`` is row ``order[i]``: the rows are read in
    storage order (slices, no gather of their strings) and the merged pairs are
    renumbered, which costs a gather of integers only.
    """
    workers = max(1, min(BUILD_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:  # Arrow and NumPy release the GIL here
        blocks = list(pool.map(block, range(0, n, step)))
    return _merged(blocks, vocab_type, order)


def _merged(blocks: list[_Block], vocab_type: pa.DataType, order: np.ndarray | None) -> LexicalIndex:
    """Merge tokenized blocks (consecutive documents) into one index; see :func:`_index_blocks`."""
    sizes = [b.doc_len.size for b in blocks]
    n = int(sum(sizes))
    doc_len = np.concatenate([b.doc_len for b in blocks]) if blocks else np.zeros(0, np.float32)
    dictionaries = [b.dictionary for b in blocks]
    dict_sizes = [len(b.dictionary) for b in blocks]
    block_pairs = [(b.docs, b.terms, b.tf) for b in blocks]
    blocks.clear()  # the caller's list too: each block's arrays go as soon as they are merged
    # One sorted vocabulary over the blocks' dictionaries.
    if dictionaries:
        merged = pc.dictionary_encode(pa.chunked_array(dictionaries).combine_chunks())
        raw_vocab = merged.dictionary
        sorted_ids = pc.sort_indices(raw_vocab).to_numpy()
        rank = np.empty(len(raw_vocab), np.int32)
        rank[sorted_ids] = np.arange(len(raw_vocab), dtype=np.int32)
        vocab = raw_vocab.take(pa.array(sorted_ids))
        global_of_local = rank[merged.indices.to_numpy(zero_copy_only=False)]
        del merged, raw_vocab, rank, dictionaries
    else:
        vocab = pa.array([], vocab_type)
        global_of_local = np.empty(0, np.int32)
    v = len(vocab)
    total_pairs = sum(p[0].size for p in block_pairs)
    pair_doc = np.empty(total_pairs, np.int32)
    pair_term = np.empty(total_pairs, np.int32)
    pair_tf = np.empty(total_pairs, np.float32)
    at, local_base, start = 0, 0, 0
    for i, local_v in enumerate(dict_sizes):
        docs, local_terms, tf = block_pairs[i]
        block_pairs[i] = None  # type: ignore[call-overload]  # freed as it is copied
        gterm = global_of_local[local_base + local_terms] if local_terms.size else local_terms
        end = at + docs.size
        pair_doc[at:end] = docs + start
        pair_term[at:end] = gterm
        pair_tf[at:end] = tf
        at = end
        start += sizes[i]
        local_base += local_v
        del docs, local_terms, tf
    del block_pairs
    fwd_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pair_doc, minlength=n), out=fwd_offsets[1:])
    if order is not None and n:
        # Pairs are grouped by row; put the groups in the order of ``order``.
        del pair_doc  # made again below, in the new order
        order = np.asarray(order, np.int64)
        moved = segment_positions(
            fwd_offsets[order], np.diff(fwd_offsets)[order], np.int32 if total_pairs < 2**31 else np.int64
        )
        pair_term = pair_term[moved]
        pair_tf = pair_tf[moved]
        del moved
        doc_len = doc_len[order]
        lengths = np.diff(fwd_offsets)[order]
        pair_doc = np.repeat(np.arange(n, dtype=np.int32), lengths)
        np.cumsum(lengths, out=fwd_offsets[1:])
    term_offsets = np.zeros(v + 1, np.int64)
    np.cumsum(np.bincount(pair_term, minlength=v), out=term_offsets[1:])
    handed = [pair_doc, pair_tf]
    del pair_doc, pair_tf  # _term_major frees them once its keys are made
    post_docs, post_tf = _term_major(pair_term, handed, n)
    total = float(doc_len.sum(dtype=np.float64))  # exact: lengths are whole numbers
    return LexicalIndex(
        vocab=vocab,
        term_offsets=term_offsets,
        post_docs=post_docs,
        post_tf=post_tf,
        doc_len=doc_len,
        fwd_offsets=fwd_offsets,
        fwd_terms=pair_term,
        avg_len=total / n if n and total else 1.0,
    )


_KEY_CHUNK = 1 << 22
"""Pairs turned into sort keys (and back) at a time: bounds the temporaries of the packing."""


def _term_major(
    terms: np.ndarray, docs_and_tf: list[np.ndarray], n: int, key_bits: int = 63
) -> tuple[np.ndarray, np.ndarray]:
    """The (doc, tf) pairs ordered by term, then doc: the postings of every term, docs ascending.

    Pairs are distinct, so one sort of the packed key ``(term * n + doc) * T + tf``
    orders them; that is several times faster than a stable argsort by term and
    needs no permutation array. Keys are packed and unpacked a slice at a time, and the
    docs and counts (taken out of ``docs_and_tf``) are freed once packed. Where the key
    would not fit in ``key_bits``, an argsort of ``term * n + doc`` does the same job.
    """
    docs, tf = docs_and_tf
    docs_and_tf.clear()
    size = terms.size
    if size == 0:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    nn = max(n, 1)
    tf_bits = max(1, int(tf.max()).bit_length())
    if ((int(terms.max()) + 1) * nn).bit_length() + tf_bits > key_bits:
        key = terms.astype(np.int64) * nn + docs
        by_key = np.argsort(key)
        return (key[by_key] % nn).astype(np.int32), tf[by_key].astype(np.float32)
    key = np.empty(size, np.int64)
    for start in range(0, size, _KEY_CHUNK):
        end = start + _KEY_CHUNK
        part = terms[start:end].astype(np.int64)
        part *= nn
        part += docs[start:end]
        part <<= tf_bits
        part |= tf[start:end].astype(np.int64)
        key[start:end] = part
    del docs, tf, part
    key.sort()
    post_docs = np.empty(size, np.int32)
    post_tf = np.empty(size, np.float32)
    mask = (1 << tf_bits) - 1
    for start in range(0, size, _KEY_CHUNK):
        part = key[start : start + _KEY_CHUNK]
        post_tf[start : start + part.size] = part & mask
        post_docs[start : start + part.size] = (part >> tf_bits) % nn
    return post_docs, post_tf


def aggregate(index: LexicalIndex, group: np.ndarray, num_groups: int) -> LexicalIndex:
    """The index of groups of documents (files of chunks): a group's term counts are its documents' sums.

    ``group`` gives each document's group and must not decrease with the doc id
    (chunks sorted by path, files sorted by path), so each term's postings stay
    sorted by group and merging them needs no sort. Documents of group -1 are
    left out. The result has no forward index.
    """
    v = len(index.vocab)
    groups = max(num_groups, 1)
    group64 = np.asarray(group, np.int64)
    keys: list[np.ndarray] = []
    tfs: list[np.ndarray] = []
    # A slice of the postings at a time, cut at term boundaries, so the temporaries (a few arrays of
    # the slice's size) stay small beside the index itself.
    cuts = np.searchsorted(index.term_offsets, np.arange(0, int(index.term_offsets[-1]), _KEY_CHUNK), side="right") - 1
    bounds = [*dict.fromkeys(int(c) for c in cuts), v]
    for t0, t1 in itertools.pairwise(bounds):
        lo, hi = int(index.term_offsets[t0]), int(index.term_offsets[t1])
        key = np.repeat(np.arange(t0, t1, dtype=np.int64), np.diff(index.term_offsets[t0 : t1 + 1]))
        key *= groups
        post_group = group64[index.post_docs[lo:hi]]
        keep = post_group >= 0
        key += post_group
        key = key[keep]
        tf = np.asarray(index.post_tf[lo:hi])[keep]
        del post_group, keep
        if key.size:
            starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
            tfs.append(np.add.reduceat(tf, starts).astype(np.float32))
            keys.append(key[starts])
    key = np.concatenate(keys) if keys else np.empty(0, np.int64)
    tf = np.concatenate(tfs) if tfs else np.empty(0, np.float32)
    del keys, tfs
    terms = key // groups
    term_offsets = np.zeros(v + 1, np.int64)
    np.cumsum(np.bincount(terms, minlength=v), out=term_offsets[1:])
    del terms
    valid = np.asarray(group) >= 0
    doc_len = np.bincount(
        np.asarray(group)[valid], weights=np.asarray(index.doc_len)[valid], minlength=num_groups
    ).astype(np.float32)
    total = float(doc_len.sum(dtype=np.float64))
    return LexicalIndex(
        vocab=index.vocab,
        term_offsets=term_offsets,
        post_docs=(key % groups).astype(np.int32),
        post_tf=tf,
        doc_len=doc_len,
        fwd_offsets=np.zeros(num_groups + 1, np.int64),
        fwd_terms=np.empty(0, np.int32),
        avg_len=total / num_groups if num_groups and total else 1.0,
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
    total = float(np.asarray(arrays["doc_len"]).sum(dtype=np.float64))
    return LexicalIndex(vocab=vocab, avg_len=total / n if n and total else 1.0, **arrays)
