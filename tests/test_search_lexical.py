"""The lexical index built from counted terms (the store's layout) equals the one built from text."""

from __future__ import annotations

import collections
import random

import numpy as np
import pyarrow as pa
import pytest

from exocortex.search import lexical
from exocortex.search.tokenize import chunk_term_counts, chunk_terms

_WORDS = ["getUserName", "parse_tree", "KMeans", "init", "x", "αβγ", "HTTPServer", "a1", "fit"]


def _chunks(n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    symbols = ["", "Parser.parse", "fit", "Getting started with things"]  # a heading has spaces
    return [
        (
            f"pkg{i % 5}/mod_{i % 11}.py",
            rng.choice(symbols),
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 40))),
        )
        for i in range(n)
    ]


def test_counted_terms_are_the_split_terms() -> None:
    for path, symbol, text in [*_chunks(200), ("a b/c.md", "Intro to it", "x  y `a b`"), ("e.py", "", "")]:
        want = collections.Counter(t for t in chunk_terms(path, symbol, text).split(" ") if t)
        names, counts = chunk_term_counts(path, symbol, text)
        assert len(names) == len(set(names))
        assert dict(zip(names, counts, strict=True)) == dict(want)


def _assert_same(a: lexical.LexicalIndex, b: lexical.LexicalIndex) -> None:
    assert a.vocab.to_pylist() == b.vocab.to_pylist()
    for name in ("term_offsets", "post_docs", "post_tf", "doc_len", "fwd_offsets"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(np.array_equal(a.doc_terms(d), b.doc_terms(d)) for d in range(a.num_docs))
    assert all(np.all(np.diff(a.doc_terms(d)) > 0) for d in range(a.num_docs))
    assert a.avg_len == b.avg_len


def test_build_counted_equals_build_from_text_in_any_blocking_and_order() -> None:
    docs = _chunks(700)
    text = pa.array([chunk_terms(*d) for d in docs], pa.large_string())
    counted = [chunk_term_counts(*d) for d in docs]
    names = pa.chunked_array(
        [
            pa.array([c[0] for c in counted[:300]], pa.list_(pa.string())),
            pa.array([c[0] for c in counted[300:]], pa.list_(pa.string())),
        ]
    )
    counts = pa.chunked_array(
        [
            pa.array([c[1] for c in counted[:300]], pa.list_(pa.int32())),
            pa.array([c[1] for c in counted[300:]], pa.list_(pa.int32())),
        ]
    )
    reference = lexical.build(text, block_docs=1_000_000)
    order = np.random.default_rng(3).permutation(len(docs))
    shuffled = lexical.build(text.take(pa.array(order)), block_docs=1_000_000)
    for block_docs in (1, 64, 5000):
        _assert_same(reference, lexical.build(text, block_docs=block_docs))
        _assert_same(reference, lexical.build_counted(names, counts, block_docs=block_docs))
        _assert_same(shuffled, lexical.build_counted(names, counts, order, block_docs=block_docs))
        _assert_same(shuffled, lexical.build(text, order, block_docs=block_docs))


def test_build_counted_of_nothing_is_empty() -> None:
    empty = lexical.build_counted(
        pa.chunked_array([], pa.list_(pa.string())), pa.chunked_array([], pa.list_(pa.int32()))
    )
    assert empty.num_docs == 0 and len(empty.vocab) == 0
    assert empty.score({"x": 1.0})[0].size == 0


def test_postings_are_term_major_with_docs_ascending_on_either_sort_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    n, v = 300, 40
    pairs = sorted({(int(d), int(t)) for d, t in zip(rng.integers(0, n, 3000), rng.integers(0, v, 3000), strict=True)})
    docs = np.array([d for d, _ in pairs], np.int32)
    terms = np.array([t for _, t in pairs], np.int32)
    tf = rng.integers(1, 70_000, len(pairs)).astype(np.float32)  # counts past 2**16 too
    want = sorted(zip(terms.tolist(), docs.tolist(), tf.tolist(), strict=True))
    for key_bits, chunk in ((63, 1 << 22), (63, 7), (8, 1 << 22)):  # packed keys (whole, in slices); argsort
        monkeypatch.setattr(lexical, "_KEY_CHUNK", chunk)
        handed = [docs.copy(), tf.copy()]
        post_docs, post_tf = lexical._term_major(terms, handed, n, key_bits=key_bits)
        assert handed == []  # taken: the caller's pairs can be freed
        assert post_docs.tolist() == [d for _, d, _ in want]
        assert post_tf.tolist() == [f for _, _, f in want]


@pytest.mark.parametrize("chunk", [1 << 22, 5])  # the postings whole, and in slices of a few terms
def test_aggregate_equals_the_index_of_the_groups_texts(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    docs = _chunks(300)
    text = [chunk_terms(*d) for d in docs]
    group = np.sort(np.random.default_rng(5).integers(-1, 40, len(docs)))  # -1: left out
    num_groups = 40
    joined = [" ".join(t for t, g in zip(text, group, strict=True) if g == i) for i in range(num_groups)]
    want = lexical.build(pa.array(joined, pa.large_string()))
    monkeypatch.setattr(lexical, "_KEY_CHUNK", chunk)
    got = lexical.aggregate(lexical.build(pa.array(text, pa.large_string())), group, num_groups)
    assert got.num_docs == want.num_docs and np.array_equal(got.doc_len, want.doc_len)
    for term in want.vocab.to_pylist():
        w_docs, w_tf = want.postings(want.term_id(term))
        g_docs, g_tf = got.postings(got.term_id(term))
        assert g_docs.tolist() == w_docs.tolist() and g_tf.tolist() == w_tf.tolist(), term
    assert dict(zip(*got.score({"fit": 1.0, "kmeans": 2.0}), strict=True)) == pytest.approx(
        dict(zip(*want.score({"fit": 1.0, "kmeans": 2.0}), strict=True))
    )


def test_file_roles_from_paths() -> None:
    from exocortex.search.roles import DOCS, SOURCE, TEST, file_role, role_priors

    assert [file_role(p) for p in ("django/db/models/query.py", "sklearn/cluster/_kmeans.py")] == [SOURCE, SOURCE]
    assert [
        file_role(p)
        for p in ("tests/x.py", "pkg/tests/data.json", "pkg/test_a.py", "a/b_test.go", "web/x.spec.ts", "conftest.py")
    ] == [TEST] * 6
    assert [file_role(p) for p in ("docs/conf.py", "README.md", "examples/plot.py", "notes.rst")] == [DOCS] * 4
    assert role_priors("fix the failing test", 0.5, 0.7).tolist() == [1.0, 1.0, 0.7]
    assert role_priors("the docs are wrong", 0.5, 0.7).tolist() == [1.0, 0.5, 1.0]
