"""Search after incremental updates ranks as a from-scratch build does (issue 15, item 1).

The search data (lexical postings and their BM25 statistics over chunks, skeletons and
whole files; the definition index; the structure graph of files and names) may be kept
up to date per changed file instead of rebuilt per store commit. Whatever the layout,
every answer must equal that of a store built from scratch for the same tree. Here a
small repository is indexed, edited step by step (bodies, brand-new identifiers and
their callers, files added, deleted, moved, emptied, made binary or too large, a name
defined in more files than the structure graph accepts) and after each step every query
of a fixed set is answered by the updated index and by a fresh index of the same tree:
the hits must be the same chunks in the same order with the same scores, or both answers
must be the same ``NoMatchesError``; a pack's text must be the same too.

The semantic signal is off here (see ``open_index``).

Equality is exact for each hit's fused score: it is a sum of ``weight / (fusion_k + rank)``
added in signal order, so the same per-signal ranks give the same bits, and anything less
than the same ranks is what this test is meant to catch. The per-signal values a hit
carries (raw BM25 scores, PageRank mass) are compared within 1e-9 relative: PageRank's
mass is a float sum whose order follows the graph's node numbering (files by path, then
names by vocabulary id), which an incremental layout may number differently without
changing any rank. Where such last-bit differences do flip an order (a tie), the order
check fails, as it should.

The search data of a commit may be a base segment plus one delta of the files changed
since (``search_delta_min_files`` / ``search_delta_max_share`` say when a new base is built
instead): the randomized test runs with the default (every change here goes to a delta)
and with ``search_delta_min_files=1`` (a change of more than a tenth of the files builds a
new base), so steps go through both.
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exocortex.search
import exocortex.search.retrieve
import exocortex.search.structure as structure
from exocortex import Index
from exocortex.errors import NoMatchesError

MAX_FILE_BYTES = 4000
"""Both indexes skip files larger than this (the base files are well under it)."""
SMALL_DEFINITION_LIMIT = 2
"""``MAX_DEFINITIONS`` in the randomized test: a few edits cross it (base names are defined in at most 2 files)."""
K = 20
PACK_BUDGET = 1500
SIGNAL_RTOL = 1e-9

# --- the repository ---------------------------------------------------------------------------

# path, function, class, methods, words of its docstrings, a word no other file uses
MODULES: list[tuple[str, str, str, tuple[str, str], str, str]] = [
    ("pkg/config.py", "load_settings", "Settings", ("get", "merge"), "parse settings from the config file", "quixotic"),
    ("pkg/util.py", "slugify", "Tokenizer", ("split", "join"), "split text into tokens and slugs", "zymurgy"),
    ("pkg/models.py", "make_user", "User", ("slug", "greet"), "the user model and its slug", "plethora"),
    ("pkg/storage.py", "open_store", "Repository", ("save", "load"), "save and load users in the store", "obsidian"),
    ("pkg/service.py", "handle_request", "Service", ("start", "stop"), "handle a request for the user store", "nebula"),
    ("lib/cache.py", "cache_get", "LruCache", ("get", "evict"), "an lru cache that keeps tokens in budget", "halcyon"),
    ("lib/render.py", "render_page", "Renderer", ("render", "flush"), "render a page of the cache", "sonder"),
    ("lib/parser.py", "parse_query", "Parser", ("parse", "peek"), "parse a query into tokens", "lacuna"),
    ("lib/graph.py", "rank_nodes", "Graph", ("add_edge", "neighbors"), "rank the nodes of the graph", "vellum"),
    ("app/main.py", "main", "App", ("run", "configure"), "run the app with its settings", "eldritch"),
    ("app/cli.py", "run_cli", "Command", ("invoke", "parse"), "the command line parses a query", "gossamer"),
]


def module_name(path: str) -> str:
    """The dotted module a Python file is imported as (``pkg/util.py`` -> ``pkg.util``)."""
    stem = path[: -len(".py")]
    return stem[: -len("/__init__")].replace("/", ".") if stem.endswith("/__init__") else stem.replace("/", ".")


def module_text(i: int) -> str:
    path, fn, cls, (m1, m2), words, rare = MODULES[i]
    prev_path, prev_fn = MODULES[i - 1][0], MODULES[i - 1][1]
    other_path, other_fn = MODULES[i - 3][0], MODULES[i - 3][1]
    return (
        f'"""{words.capitalize()}."""\n'
        f"from {module_name(prev_path)} import {prev_fn}\n"
        f"import {module_name(other_path)}\n"
        "\n\n"
        f"def {fn}(value):\n"
        f'    """{words.capitalize()}: call {prev_fn} first."""\n'
        f"    # {rare}: the value goes through {prev_fn} and {other_fn}\n"
        f"    result = {prev_fn}(value)\n"
        f"    return {module_name(other_path)}.{other_fn}(result)\n"
        "\n\n"
        f"class {cls}:\n"
        f'    """A {cls.lower()} that keeps a budget: {words}."""\n'
        "\n"
        f"    def {m1}(self, item):\n"
        f"        return {fn}(item)\n"
        "\n"
        f"    def {m2}(self):\n"
        f'        """{m2.capitalize()} the {cls.lower()}."""\n'
        f"        return self.{m1}(None)\n"
    )


def base_tree() -> dict[str, str | bytes]:
    tree: dict[str, str | bytes] = {MODULES[i][0]: module_text(i) for i in range(len(MODULES))}
    for package in ("pkg", "lib", "app"):
        tree[f"{package}/__init__.py"] = f'"""The {package} package."""\n'
    tree["tests/test_models.py"] = (
        "from pkg.models import make_user, User\n\n\n"
        "def test_make_user_gives_a_slug():\n"
        '    user = make_user("Ada Lovelace")\n'
        '    assert user.slug() == "ada-lovelace"\n'
    )
    tree["tests/test_cache.py"] = (
        "import lib.cache\n\n\n"
        "def test_cache_evicts_within_budget():\n"
        "    cache = lib.cache.LruCache()\n"
        "    cache.evict()\n"
        "    assert lib.cache.cache_get(1) is not None\n"
    )
    tree["README.md"] = (
        "# Project\n\nParse settings, render pages and rank the graph of users.\n\n"
        "## Cache\n\nThe lru cache keeps tokens within a budget.\n"
    )
    tree["docs/guide.md"] = (
        "# Guide\n\n## Storage\n\nThe repository saves users to the store.\n\n"
        "## Queries\n\nThe parser splits a query into tokens; see serendipity.\n"
    )
    tree["notes.txt"] = "Loose notes: the graph ranks nodes; perspicacious readers skip this.\n"
    return tree


QUERIES = (
    "parse settings",  # plain words
    "how does the service handle a request and save the user to the store",  # a sentence
    "load_settings",  # identifiers
    "Repository.save",
    "LruCache evict",
    "pkg.util",  # a dotted module path
    "util.py",  # a file name
    "lib/render.py render_page",  # a path and a name
    "quixotic",  # words one file holds (gone when it is deleted or emptied)
    "serendipity",
    "perspicacious",
    "get",  # a name defined in SMALL_DEFINITION_LIMIT files: over the limit after one more
    "xylophone",  # no file ever holds it
)
PACK_QUERIES = ("parse settings", "render the page with the cache")


def letters(n: int) -> str:
    """``n`` spelled with letters (12 -> ``bc``): a new identifier needs a new term, and digits are split off."""
    return "".join("abcdefghij"[int(d)] for d in str(n))


# --- edits ------------------------------------------------------------------------------------

OPS = ("body", "new_function", "delete", "add_file", "move", "popular", "empty", "binary", "too_large",
       "markdown", "touch")


@dataclass
class Repo:
    """The tree on disk and a copy of it in memory; the queries grow with the names the edits add."""

    root: Path
    tree: dict[str, str | bytes] = field(default_factory=dict)
    queries: list[str] = field(default_factory=lambda: list(QUERIES))
    counter: int = 0
    log: list[str] = field(default_factory=list)

    def write(self, path: str, content: str | bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        self.tree[path] = content
        self._bump_mtime(target)

    def remove(self, path: str) -> None:
        (self.root / path).unlink()
        del self.tree[path]

    def _bump_mtime(self, target: Path) -> None:
        # Each write gets a later mtime, so a change of the same size is never taken for no change.
        self.counter += 1
        stamp = 1_700_000_000_000_000_000 + self.counter * 1_000_000_000
        os.utime(target, ns=(stamp, stamp))

    def paths(self, python: bool = False, text: bool = False) -> list[str]:
        return sorted(
            p for p, c in self.tree.items()
            if (not python or p.endswith(".py")) and (not text or isinstance(c, str))
        )

    def ask(self, query: str) -> None:
        if query not in self.queries:
            self.queries.append(query)


def pick(choices: list[str], which: int | str) -> str | None:
    """``which`` itself when it is one of ``choices`` (the explicit sequences), else the ``which``-th, cyclically."""
    if isinstance(which, str):
        return which if which in choices else None
    return choices[which % len(choices)] if choices else None


def apply_edit(repo: Repo, op: str, a: int | str, b: int | str) -> None:
    repo.counter += 1
    n = repo.counter
    if op == "body":  # change a function body
        path = pick([p for p in repo.paths(python=True, text=True) if "    return " in str(repo.tree[p])], a)
        if path is not None:
            text = str(repo.tree[path]).replace("    return ", f"    total = {n} + len(value)\n    return ", 1)
            repo.write(path, text)
    elif op == "new_function":  # a brand-new identifier, defined in one file and called from another
        target = pick(repo.paths(python=True, text=True), a)
        if target is None:
            return
        name = f"wibble{letters(n)}"
        repo.write(target, str(repo.tree[target]) + (
            f"\n\ndef {name}(value):\n    \"\"\"Wibble the value of the {name} budget.\"\"\"\n    return value\n"))
        callers = [p for p in repo.paths(python=True, text=True) if p != target]
        caller = pick(callers, b)
        if caller is not None:
            repo.write(caller, str(repo.tree[caller]) + (
                f"\n\nfrom {module_name(target)} import {name}\n\n\n"
                f"def call_{name}():\n    return {name}(2)\n"))
        repo.ask(name)
        repo.ask(f"who calls {name}")
    elif op == "delete":
        path = pick(repo.paths(), a)
        if path is not None:
            repo.remove(path)
    elif op == "add_file":  # a new module; half of them reuse a known module name (imports of it may change)
        folder = ("pkg", "lib", "app", f"vendor{letters(n)}")[int(b) % 4] if isinstance(b, int) else str(b)
        stems = [Path(p).stem for p in repo.paths(python=True) if not p.endswith("__init__.py")]
        stem = a if isinstance(a, str) else (
            (pick(stems, a) if a % 2 == 0 else None) or f"extra_{letters(n)}")
        path = f"{folder}/{stem}.py"
        if path in repo.tree:
            path = f"{folder}/extra_{letters(n)}.py"
        used = pick([p for p in repo.paths(python=True, text=True) if not p.endswith("__init__.py")], b)
        head = f"from {module_name(used)} import *\nimport {module_name(used)}\n\n\n" if used else ""
        repo.write(path, head + (
            f'def gadget_{letters(n)}(item):\n    """Render the gadget token into the cache."""\n'
            f"    return parse_query(item)\n"))
        repo.ask(f"gadget_{letters(n)}")
    elif op == "move":  # rename or move a file: its path terms change, and the module an import resolves to
        path = pick(repo.paths(), a)
        if path is None:
            return
        folder = ("pkg", "lib", "app", "moved")[int(b) % 4] if isinstance(b, int) else str(b)
        dest = f"{folder}/{Path(path).name}"
        if dest in repo.tree or dest == path:
            dest = f"{folder}/{Path(path).stem}_{letters(n)}{Path(path).suffix}"
        content = repo.tree[path]
        repo.remove(path)
        repo.write(dest, content)
        repo.ask(dest)
    elif op == "popular":  # define an existing name in several more files (past the graph's limit)
        names = ["get", "render", "load_settings", "slugify", "parse"]
        name = names[int(b) % len(names)] if isinstance(b, int) else str(b)
        files = repo.paths(python=True, text=True)
        start = int(a) if isinstance(a, int) else 0
        count = 1 + (int(b) // len(names)) % 3 if isinstance(b, int) else SMALL_DEFINITION_LIMIT
        for path in [files[(start + j) % len(files)] for j in range(min(count, len(files)))]:
            repo.write(path, str(repo.tree[path]) + f"\n\ndef {name}(*args):\n    return args\n")
    elif op == "empty":
        path = pick(repo.paths(), a)
        if path is not None:
            repo.write(path, "")
    elif op == "binary":
        path = pick(repo.paths(), a)
        if path is not None:
            repo.write(path, b"\x00\x01\x02binary " + str(repo.tree[path])[:200].encode())
    elif op == "too_large":
        path = pick(repo.paths(text=True), a)
        if path is not None:
            filler = f"# padding line {n} that pushes the file past the size limit\n"
            repo.write(path, str(repo.tree[path]) + filler * (MAX_FILE_BYTES // len(filler) + 1))
    elif op == "markdown":  # a new section, with a new word, in a markdown file (a new one if none is left)
        path = pick([p for p in repo.paths(text=True) if p.endswith(".md")], a) or f"docs/more_{letters(n)}.md"
        word = f"flumox{letters(n)}"
        section = f"\n## Section {word}\n\nThe {word} cache ranks pages.\n"
        repo.write(path, str(repo.tree.get(path, "# More\n")) + section)
        repo.ask(word)
    elif op == "touch":  # a new mtime, the same bytes
        path = pick(repo.paths(), a)
        if path is not None:
            repo._bump_mtime(repo.root / path)
    else:
        raise AssertionError(op)
    repo.log.append(f"{op}({a!r}, {b!r})")


# --- comparing answers ------------------------------------------------------------------------


def answer(index: Index, query: str) -> tuple[str, Any]:
    """``("hits", [(path, ordinal, lines, symbol, kind, score, signals)])`` or ``("none", message)``."""
    try:
        hits = index.search(query, k=K)
    except NoMatchesError as exc:
        return "none", str(exc)
    return "hits", [(h.path, h.ordinal, h.lines, h.symbol, h.kind, h.score, h.signals) for h in hits]


def same_signals(left: dict[str, float], right: dict[str, float]) -> bool:
    return left.keys() == right.keys() and all(
        math.isclose(left[s], right[s], rel_tol=SIGNAL_RTOL, abs_tol=0.0) for s in left)


def assert_same_answers(updated: Index, fresh: Index, repo: Repo) -> dict[str, tuple[str, Any]]:
    where = f"after {repo.log}"
    answers: dict[str, tuple[str, Any]] = {}
    for query in repo.queries:
        got, want = answer(updated, query), answer(fresh, query)
        assert got[0] == want[0], f"{query!r} {where}: updated index gave {got}, fresh index {want}"
        if got[0] == "none":
            assert got == want, f"{query!r} {where}"
        else:
            # The chunks, their order and their fused scores: exactly (see the module docstring).
            got_keys = [hit[:6] for hit in got[1]]
            want_keys = [hit[:6] for hit in want[1]]
            assert got_keys == want_keys, f"{query!r} {where}:\nupdated {got_keys}\nfresh   {want_keys}"
            for g, w in zip(got[1], want[1], strict=True):
                assert same_signals(g[6], w[6]), f"{query!r} {where}: {g[:2]} signals {g[6]} != {w[6]}"
        answers[query] = got
    for query in PACK_QUERIES:
        got_text = pack_text(updated, query)
        assert got_text == pack_text(fresh, query), f"pack {query!r} {where}"
    return answers


def pack_text(index: Index, query: str) -> str | None:
    try:
        return index.pack(query, PACK_BUDGET).text
    except NoMatchesError:
        return None


def open_index(root: Path, store: Path, **settings: Any) -> Index:
    """The index of ``root`` in ``store``, without the semantic signal: a delta's chunk vectors weigh
    its terms with its base's IDF (so an edit embeds only the changed files), which a fresh build's
    full statistics do not equal; ``test_semantic.py`` checks that signal's own incremental rules."""
    settings = {"weight_semantic": 0.0, "weight_semantic_file": 0.0, **settings}
    return Index.open(root, store=store, workers=1, max_file_bytes=MAX_FILE_BYTES, **settings)


@contextmanager
def definition_limit(limit: int) -> Iterator[None]:
    """``MAX_DEFINITIONS`` set to ``limit`` wherever the search code holds it (it is read when the
    graph is built and when neighbours are found; modules that imported the name hold their own binding)."""
    for info in pkgutil.iter_modules(exocortex.search.__path__):
        # Loaded first: a module imported while the limit is patched would keep the patched value.
        importlib.import_module(f"exocortex.search.{info.name}")
    with pytest.MonkeyPatch.context() as mp:
        holders = [
            module for name, module in list(sys.modules.items())
            if (name == "exocortex" or name.startswith("exocortex.")) and module is not None
            and isinstance(getattr(module, "MAX_DEFINITIONS", None), int)
        ]
        assert structure in holders and exocortex.search.retrieve in holders
        for module in holders:
            mp.setattr(module, "MAX_DEFINITIONS", limit)
        yield


class Session:
    """An index updated edit by edit, checked against a fresh index of the same tree after each step."""

    def __init__(self, base: Path, **settings: Any) -> None:
        self.base = base
        self.settings = settings  # the same for both indexes
        self.repo = Repo(base / "repo")
        for path, content in base_tree().items():
            self.repo.write(path, content)
        self.index = open_index(self.repo.root, base / "updated", **settings)
        self.index.update()
        self.steps = 0

    def check(self, update: bool = True) -> dict[str, tuple[str, Any]]:
        """Bring the index up to date (``update``, or the refresh every answer makes first) and compare it
        with a store built from scratch in a folder of its own."""
        if update:
            self.index.update()
        self.steps += 1
        fresh = open_index(self.repo.root, self.base / f"fresh{self.steps}", **self.settings)
        fresh.update()
        return assert_same_answers(self.index, fresh, self.repo)


# --- the tests --------------------------------------------------------------------------------

EDIT = st.tuples(st.sampled_from(OPS), st.integers(0, 999), st.integers(0, 999))


@settings(max_examples=12, deadline=None)
@given(
    steps=st.lists(st.tuples(st.lists(EDIT, min_size=1, max_size=3), st.booleans()), min_size=1, max_size=4),
    delta_min_files=st.sampled_from([1, 1000]),
)
def test_random_edits_rank_as_a_fresh_build(tmp_path_factory: pytest.TempPathFactory,
                                            steps: list[tuple[list[tuple[str, int, int]], bool]],
                                            delta_min_files: int) -> None:
    with definition_limit(SMALL_DEFINITION_LIMIT):
        session = Session(tmp_path_factory.mktemp("incremental"), search_delta_min_files=delta_min_files)
        session.check(update=False)
        for edits, update in steps:
            for op, a, b in edits:
                apply_edit(session.repo, op, a, b)
            session.check(update=update)


def test_every_kind_of_edit_in_turn_ranks_as_a_fresh_build(tmp_path: Path) -> None:
    with definition_limit(SMALL_DEFINITION_LIMIT):
        session = Session(tmp_path)
        repo = session.repo
        before = session.check()
        script: list[list[tuple[str, int | str, int | str]]] = [
            [("body", "pkg/service.py", 0), ("new_function", "lib/graph.py", "app/cli.py")],
            [("delete", "pkg/config.py", 0)],  # quixotic and load_settings leave the vocabulary
            [("move", "pkg/util.py", "lib")],  # `from pkg.util import slugify` now resolves to lib/util.py
            [("add_file", "extra", "vendor"), ("add_file", "cache", "pkg")],  # a second module named cache
            [("popular", 0, "get")],  # get: in lib/cache.py and 2 more files, over the limit: its edges go
            [("delete", "lib/cache.py", 0)],  # ... and back to the limit
            [("empty", "notes.txt", 0), ("binary", "lib/render.py", 0)],
            [("too_large", "app/main.py", 0), ("markdown", "docs/guide.md", 0), ("touch", "README.md", 0)],
            [("delete", "docs/guide.md", 0), ("markdown", "README.md", 0)],  # serendipity goes
        ]
        for number, edits in enumerate(script):
            for op, a, b in edits:
                apply_edit(repo, op, a, b)
            after = session.check(update=number % 2 == 0)
            # Each step changes some answer: the comparison is of rankings that move.
            assert after != before, repo.log
            before = after
        assert before["quixotic"][0] == "none" and before["serendipity"][0] == "none"
        assert before["xylophone"][0] == "none" and before["parse settings"][0] == "hits"
        found = {hit[0] for kind, hits in before.values() if kind == "hits" for hit in hits}
        assert "lib/util.py" in found and "pkg/util.py" not in found  # moved
        assert not found & {"lib/render.py", "app/main.py", "pkg/config.py"}  # binary, too large, deleted


def test_a_name_defined_in_more_files_than_the_real_limit_ranks_as_a_fresh_build(tmp_path: Path) -> None:
    # The real MAX_DEFINITIONS: `render` is a method of lib/render.py; define it in limit + 1 files.
    limit = structure.MAX_DEFINITIONS
    session = Session(tmp_path)
    repo = session.repo
    repo.ask("Renderer.render")
    repo.ask("render the page")
    session.check()
    for i in range(limit):
        repo.write(f"plugins/p{i:02d}.py", f"def render(page):\n    \"\"\"Plugin {i} renders a page.\"\"\"\n"
                                           f"    return page\n")
    repo.log.append(f"{limit} files define render")
    session.check()  # limit + 1 files: the name carries no edges
    repo.remove("plugins/p00.py")
    repo.log.append("one fewer: back to the limit")
    session.check(update=False)
    repo.write("plugins/p00.py", "def render(page):\n    return page\n")
    repo.log.append("over it again")
    session.check()
