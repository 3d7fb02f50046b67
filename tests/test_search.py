"""Retrieval on small hand-built repositories: each signal moves the right file up."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from exocortex import Index
from exocortex.search import SearchHit, search
from exocortex.store.lance import StoreReader


def make_repo(root: Path, files: dict[str, str], **settings: Any) -> Index:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    index = Index.open(root, **settings)
    index.update()
    return index


def run(index: Index, query: str, k: int = 20, **weights: float) -> list[SearchHit]:
    # The expansion to whole files and the semantic signal are off unless a test asks for them: the
    # other tests look at one signal each (test_semantic.py tests the semantic one).
    config = index.config.replace(**{"weight_expand": 0.0, "weight_semantic": 0.0, "weight_semantic_file": 0.0,
                                     **weights})
    return search(StoreReader(index.store), query, k, config)


def files_in_order(hits: list[SearchHit]) -> list[str]:
    return list(dict.fromkeys(h.path for h in hits))


def rank_of(hits: list[SearchHit], path: str, symbol: str | None = None) -> int:
    for i, h in enumerate(hits):
        if h.path == path and (symbol is None or h.symbol == symbol):
            return i
    return 10**6


def test_camel_case_parts_find_an_identifier_from_plain_words(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "accounts.py": """
            def getUserName(uid):
                return lookup(uid)
            """,
        "weather.py": """
            def forecast(city):
                return "sunny in " + city
            """,
    })
    hits = run(index, "user name")
    assert hits and hits[0].path == "accounts.py" and hits[0].symbol == "getUserName"
    assert hits[0].signals["bm25"] > 0
    assert "weather.py" not in files_in_order(hits)


def test_dotted_path_in_the_query_finds_the_module(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "billing/invoice.py": """
            def total(lines):
                return sum(line.amount for line in lines)
            """,
        "reports/summary.py": """
            def summarize(invoices):
                # invoice invoice invoice: each billing invoice is listed
                return [invoice.number for invoice in invoices]
            """,
    })
    hits = run(index, "billing.invoice")
    assert hits[0].path == "billing/invoice.py"


def test_exact_identifier_puts_its_definition_first(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "callers.py": """
            def a():
                parse_config(); parse_config(); parse_config()

            def b():
                return parse_config() or parse_config()
            """,
        "config.py": """
            def parse_config(text):
                return dict(line.split("=") for line in text.splitlines())
            """,
    })
    hits = run(index, "parse_config")
    assert (hits[0].path, hits[0].symbol) == ("config.py", "parse_config")


def test_skeleton_match_lifts_the_file_whose_outline_matches(tmp_path: Path) -> None:
    files = {
        # One chunk mentions the words; the file's other definitions are about them too.
        "cache/lru.py": """
            def evict_entry(cache):
                return cache.popitem()

            def cache_size(cache):
                return len(cache)

            def evict_all(cache):
                cache.clear()
            """,
        # A single stronger chunk, in a file about something else.
        "misc/notes.py": """
            def remember(cache, entry):
                # evict entry from cache
                return (cache, entry)

            def unrelated_one():
                return 1

            def unrelated_two():
                return 2
            """,
    }
    index = make_repo(tmp_path, files)
    off = run(index, "evict cache entry", weight_skeleton=0.0, weight_pagerank=0.0, weight_neighbor=0.0)
    on = run(index, "evict cache entry", weight_pagerank=0.0, weight_neighbor=0.0, weight_skeleton=2.0)
    # Without the skeleton, the other file's single chunk beats lru.py's second one; with it, not.
    assert rank_of(off, "cache/lru.py", "evict_all") > rank_of(off, "misc/notes.py")
    assert rank_of(on, "cache/lru.py", "evict_all") < rank_of(on, "misc/notes.py")
    assert on[0].signals["skeleton"] > 0


PAGERANK_REPO = {
    # Five files match the query and all use Canvas, defined in engine.py,
    # which does not mention the query's words at all.
    **{
        f"shapes/s{i}.py": f"""
            from engine import Canvas

            def draw_shape_{i}(points):
                canvas = Canvas()
                return canvas.polygon(points)  # draw shape
            """
        for i in range(5)
    },
    "engine.py": """
        class Canvas:
            def polygon(self, points):
                return list(points)
        """,
    # Mentions the query once, used by nothing.
    "lonely.py": """
        def helper():
            return "shape"
        """,
}


def test_pagerank_lifts_a_file_that_many_matched_files_reference(tmp_path: Path) -> None:
    index = make_repo(tmp_path, PAGERANK_REPO)
    off = run(index, "draw shape", weight_pagerank=0.0, weight_neighbor=0.0, weight_file=0.0)
    on = run(index, "draw shape", weight_neighbor=0.0, weight_pagerank=1.0, weight_file=0.0)
    assert "engine.py" not in files_in_order(off)
    assert rank_of(on, "engine.py") < rank_of(on, "lonely.py")
    engine = next(h for h in on if h.path == "engine.py")
    assert engine.signals["pagerank"] > 0 and "bm25" not in engine.signals


def test_neighbors_bring_the_class_of_a_matched_method_and_its_callee(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "shop/cart.py": """
            from shop.tax import compute_vat

            class Cart:
                def __init__(self):
                    self.items = []

                def add_item(self, item):
                    self.items.append(item)
                    return compute_vat(item)
            """,
        "shop/tax.py": """
            def compute_vat(price):
                return price * 0.2
            """,
        "other.py": """
            def unrelated():
                return 0
            """,
    })
    off = run(index, "add item", weight_neighbor=0.0, weight_pagerank=0.0, weight_skeleton=0.0)
    on = run(index, "add item", weight_pagerank=0.0, weight_skeleton=0.0)
    assert on[0].symbol == "Cart.add_item"
    assert rank_of(off, "shop/cart.py", "Cart") > rank_of(on, "shop/cart.py", "Cart")
    assert rank_of(off, "shop/tax.py", "compute_vat") > rank_of(on, "shop/tax.py", "compute_vat")
    callee = on[rank_of(on, "shop/tax.py", "compute_vat")]
    assert callee.signals["neighbor"] > 0


def test_results_are_ordered_bounded_and_serializable(tmp_path: Path) -> None:
    index = make_repo(tmp_path, PAGERANK_REPO)
    hits = run(index, "draw shape canvas", k=3)
    assert 0 < len(hits) <= 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        assert h.lines[0] <= h.lines[1]
        assert set(h.signals) <= {"bm25", "skeleton", "file", "pagerank", "neighbor", "named"}
    json.dumps([{"path": h.path, "lines": list(h.lines), "score": h.score, "signals": h.signals} for h in hits])


def test_empty_or_unmatched_queries_give_no_hits(tmp_path: Path) -> None:
    index = make_repo(tmp_path, PAGERANK_REPO)
    assert run(index, "") == []
    assert run(index, "   ") == []
    assert run(index, "the of and") == []
    assert run(index, "xylophonequartz") == []
    assert run(index, "shape", k=0) == []


def test_search_sees_the_latest_commit(tmp_path: Path) -> None:
    index = make_repo(tmp_path, PAGERANK_REPO)
    assert run(index, "zebracorn") == []
    (tmp_path / "late.py").write_text("def zebracorn():\n    return 1\n")
    index.update()
    hits = run(index, "zebracorn")
    assert hits and hits[0].path == "late.py"
    # one cache folder per committed version; the old one is gone
    folders = [p.name for p in (index.store / "search").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 2 and "segments" in folders, folders


def test_whole_file_bm25_lifts_a_file_whose_chunks_share_the_query_between_them(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        # Each function mentions one query word; the file as a whole mentions all three.
        "storage/quota.py": """
            def first():
                return "disk"

            def second():
                return "usage"

            def third():
                return "limit"
            """,
        # One function mentions two of the words.
        "report.py": """
            def summary():
                return "disk usage summary"
            """,
    })
    quiet = {"weight_pagerank": 0.0, "weight_neighbor": 0.0, "weight_skeleton": 0.0, "prior_tests": 1.0}
    off = run(index, "disk usage limit", weight_file=0.0, **quiet)
    on = run(index, "disk usage limit", weight_file=2.0, **quiet)
    assert off[0].path == "report.py"
    assert on[0].path == "storage/quota.py" and on[0].signals["file"] > 0


def test_tests_and_docs_count_for_less_unless_the_query_is_about_them(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "shop/cart.py": """
            def add_item(cart, item):
                cart.append(item)
            """,
        "tests/test_cart.py": """
            def test_add_item_to_cart():
                cart = []
                add_item(cart, "item")  # add item to cart
                assert cart == ["item"]  # the item is in the cart
            """,
        "docs/cart.md": """
            # Cart

            Use add_item to add an item to the cart: the cart then holds the item.
            """,
    })
    lexical = {"weight_skeleton": 0.0, "weight_file": 0.0, "weight_pagerank": 0.0, "weight_neighbor": 0.0}
    neutral = run(index, "add item to cart", prior_tests=1.0, prior_docs=1.0, **lexical)
    assert files_in_order(neutral)[0] == "tests/test_cart.py"  # the test says it most often
    held_back = run(index, "add item to cart", prior_tests=0.2, prior_docs=0.2, **lexical)
    assert files_in_order(held_back) == ["shop/cart.py", "tests/test_cart.py", "docs/cart.md"]
    # Asked about tests, the test file is not held back.
    asked = run(index, "which test covers add item to cart", prior_tests=0.2, prior_docs=0.2, **lexical)
    assert files_in_order(asked)[0] == "tests/test_cart.py"


def test_the_best_files_bring_all_their_chunks(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "coder.py": """
            class Encoder:
                def transform(self, labels):
                    return [self.index[x] for x in labels]  # transform labels

                def inverse(self, codes):
                    return [self.values[c] for c in codes]
            """,
        "other.py": """
            def transform_labels_again(labels):
                return labels  # labels transform
            """,
    })
    quiet = {"weight_pagerank": 0.0, "weight_neighbor": 0.0}
    off = run(index, "transform labels", weight_expand=0.0, **quiet)
    on = run(index, "transform labels", weight_expand=1.0, expand_files=2, **quiet)
    assert rank_of(off, "coder.py", "Encoder.inverse") == 10**6  # no query word in it
    inverse = on[rank_of(on, "coder.py", "Encoder.inverse")]
    assert set(inverse.signals) == {"expand"}  # brought in by its file alone
    assert rank_of(on, "other.py") < 10**6  # the other file is still there


def test_a_file_named_in_a_traceback_comes_first_with_the_frames_function(tmp_path: Path) -> None:
    index = make_repo(tmp_path, {
        "pkg/io/reader.py": """
            def header(stream):
                return stream.readline()

            def load(stream):
                return [line.split(",") for line in stream]
            """,
        "pkg/table.py": """
            def parse_rows(rows):
                # rows of the table fail to parse: split on the separator
                return [row.split(";") for row in rows]
            """,
    })
    query = ('Parsing rows of my table fails:\n'
             '  File "/home/me/venv/site-packages/pkg/io/reader.py", line 7, in load\n'
             'ValueError: rows fail to parse')
    quiet = {"weight_pagerank": 0.0, "weight_neighbor": 0.0, "weight_skeleton": 0.0, "weight_file": 0.0}
    off = run(index, query, weight_named=0.0, **quiet)
    on = run(index, query, weight_named=2.0, **quiet)
    assert rank_of(off, "pkg/io/reader.py", "header") > rank_of(off, "pkg/table.py")  # only its path matches
    assert (on[0].path, on[0].symbol) == ("pkg/io/reader.py", "load") and on[0].signals["named"] > 0
    # the named file's other chunks come before the file that only shares words
    assert rank_of(on, "pkg/io/reader.py", "header") < rank_of(on, "pkg/table.py")
