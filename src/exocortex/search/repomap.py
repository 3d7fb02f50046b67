"""The query-less views of an index: a ranked outline that fits a token budget, and tokens per directory.

:func:`repo_map` is Aider's repository map on the index's own data. Files are ranked by
PageRank over the graph of files and the names they define and reference (``files.references``,
``symbols``): a file passes rank to the names it uses, a name to the files that define it.
Names are weighted as Aider weighs them (a long snake_case or camelCase name counts ten times,
a ``_private`` one or one defined in more than five files a tenth) and, because a reference
column cannot tell ``x.get()`` from ``get()``, a name that only methods define counts a tenth
too. The search graph (:mod:`.structure`) walks a few unweighted steps from a query's matches;
from every file at once those common method names carried the rank to whichever file defined
most of them, so the map runs its own weighted walk to convergence. ``focus`` paths take most
of the walk's restarts, and they come first.

Each file shows its path and then its definitions (line range and signature, from the
``symbols`` table); a definition's weight is the rank its name passes to it (private names,
methods and unused names less). Every path line and every definition line is one item with a
priority (the file's relative rank, times the definition's weight for a definition); items go
in by priority while they fit, so the top files bring their definitions and the long tail its
paths. Each line starts with a character other than whitespace (a path, a line number), a
pre-token boundary of both encodings, so the sum of the lines' counts is the count of the
text; the text is counted once more at the end and trimmed if a path starting with a space
broke that rule. The budget is never exceeded.

:func:`directory_tokens` aggregates the ``files`` table per directory, for ``status --tree``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import BudgetTooSmallError, NoMatchesError, UsageError
from exocortex.escape import printable
from exocortex.search.filters import PathFilter
from exocortex.search.roles import file_roles
from exocortex.search.structure import MAX_DEFINITIONS
from exocortex.store.schema import TOKEN_COLUMNS
from exocortex.tokens import TokenCounter

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.store.lance import StoreReader

SIGNATURE_CHARS = 120
"""A definition's signature is shown on one line, cut to this many characters."""
MAX_NESTING = 4
"""Indentation levels shown for nested definitions (``Class.method`` is one level)."""
FOCUS_SHARE = 0.8
"""With ``focus``, the share of the walk's restarts that land on the focused files (the rest: on every file)."""
_PATH_WEIGHT = 1.0
_DEF_WEIGHT = 0.9  # a definition ranks below its own file's path, so a path always comes first
_NESTED_WEIGHT = 0.7  # a method counts for less than a top-level definition
_PRIVATE_WEIGHT = 0.3  # ``_private`` and ``__dunder__`` definitions
_UNUSED = 0.35  # the weight of a definition no file references, against 1 for the most referenced one
_FLOOR = 1e-3  # files nothing references still rank by position (breadth before detail)


@dataclass(frozen=True)
class RepoMap:
    """A ranked outline of the repository: ``text`` holds at most ``budget`` tokens of ``tokenizer``."""

    text: str
    tokens: int
    budget: int
    tokenizer: str
    files: list[dict[str, Any]]
    """The files shown, best first: ``{"path", "rank", "symbols", "definitions"}``. ``rank`` is the
    file's PageRank relative to the top file's, times its role's prior (tests, docs), plus 2 for a
    focused file; ``symbols`` the qualified names shown, in line order; ``definitions`` how many
    the file holds (more than ``symbols`` when the budget left some out)."""
    total_files: int
    """How many indexed files the map ranked (those ``include`` matched)."""
    index: dict[str, Any] = field(default_factory=dict)
    """How current the index behind the map was (``Index.freshness``), when known."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Definition:
    start: int
    end: int
    name: str
    line: str
    weight: float


def repo_map(
    reader: StoreReader,
    budget: int,
    tokenizer: str,
    config: Config,
    *,
    include: Sequence[str] | str | None = None,
    focus: Sequence[str] | str | None = None,
) -> RepoMap:
    """The ranked outline of ``reader``'s index within ``budget`` tokens (see the module's doc).

    Raises ``NoMatchesError`` when no indexed file matches ``include`` (or ``focus``), and
    ``BudgetTooSmallError`` when not even one path line fits.
    """
    counter = TokenCounter(tokenizer)
    files = reader.read("files", ["path", "skip_reason", "references"])
    files = files.filter(pc.is_null(files.column("skip_reason"))).sort_by("path")
    paths: list[str] = files.column("path").to_pylist()
    if not paths:
        raise NoMatchesError("the index holds no files: index a directory with files in it")
    shown = _matching(paths, include, "include")
    focused = _matching(paths, focus, "focus") if focus else np.zeros(0, np.int64)
    symbols = reader.read("symbols", ["path", "name", "start_line", "end_line", "signature"])
    graph = _ReferenceGraph(paths, files.column("references"), symbols.column("path"), symbols.column("name"))
    file_rank, name_rank = graph.pagerank(focused, config.pagerank_damping)
    roles = file_roles(paths)
    scores = _normalized(file_rank) * np.array([1.0, config.prior_tests, config.prior_docs])[roles]
    if focused.size:
        scores[focused] += 2.0  # the focused files themselves first
    depth = np.fromiter((p.count("/") for p in paths), np.int64, len(paths))
    order = shown[np.lexsort((depth[shown], roles[shown], -scores[shown]))]
    order = order[: budget // 2 + 1]  # a path line costs at least 2 tokens: no more files can appear
    top = float(scores[order[0]])
    ranked = [paths[i] for i in order.tolist()]
    ranks = [float(scores[i]) for i in order.tolist()]
    weights = [max(math.sqrt(r / top) if top > 0 else 0.0, _FLOOR / (1 + pos)) for pos, r in enumerate(ranks)]
    definitions = _definitions(symbols, ranked, graph.definition_weights(name_rank))
    chosen = _fit(ranked, weights, definitions, budget, counter)
    if not chosen:
        raise BudgetTooSmallError(
            f"a budget of {budget:,} tokens cannot hold even one line of the map (the top file's "
            f"path takes {counter.count(_path_line(ranked[0])):,}): raise the budget")
    text, shown_files = _render(ranked, ranks, definitions, chosen)
    tokens = counter.count(text)
    while tokens > budget:  # only when the lines' counts fell short of the whole's (a line of blanks)
        _drop_last(chosen)
        if not chosen:
            raise BudgetTooSmallError(f"a budget of {budget:,} tokens cannot hold even one line of the map")
        text, shown_files = _render(ranked, ranks, definitions, chosen)
        tokens = counter.count(text)
    return RepoMap(text=text, tokens=tokens, budget=budget, tokenizer=tokenizer, files=shown_files,
                   total_files=int(shown.size))


def _matching(paths: list[str], patterns: Sequence[str] | str | None, what: str) -> np.ndarray:
    """Indices of the paths ``patterns`` match (all of them without patterns); none is ``NoMatchesError``."""
    matcher = PathFilter.of(include=patterns)
    if matcher is None:
        return np.arange(len(paths), dtype=np.int64)
    found = np.flatnonzero(matcher.file_mask(paths)).astype(np.int64)
    if found.size == 0:
        shown = patterns if isinstance(patterns, str) else list(patterns or ())
        raise NoMatchesError(f"no indexed file matches the {what} patterns {shown!r}")
    return found


def _normalized(mass: np.ndarray) -> np.ndarray:
    values = np.asarray(mass, np.float64).copy()
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else values


class _ReferenceGraph:
    """Files and the names they define and reference, weighted as Aider weighs them, for a global PageRank.

    Nodes are the files, then the names (the last component of a definition's name, case kept).
    A file points at each name it references and does not define itself, with weight
    ``_name_weight`` (long snake or camel names count more; private names and names defined in
    many files less); a name points at each file defining it, equally. Names defined in more than
    ``MAX_DEFINITIONS`` files carry no edges, as in the search graph.
    """

    def __init__(self, paths: list[str], references: pa.ChunkedArray, sym_paths: pa.ChunkedArray,
                 sym_names: pa.ChunkedArray) -> None:
        f = len(paths)
        path_index = pa.array(paths, pa.string())
        last = pc.replace_substring_regex(sym_names, r"^.*\.", "")
        vocab = pc.unique(last.combine_chunks() if isinstance(last, pa.ChunkedArray) else last)
        sym_file = _positions(sym_paths, path_index)
        sym_name = _positions(last, vocab)
        ok = (sym_file >= 0) & (sym_name >= 0)
        v = len(vocab)
        nested = np.asarray(pc.match_substring(sym_names, ".").to_numpy(zero_copy_only=False), bool)
        members_only = np.ones(v, bool)  # names only methods carry: an attribute use may mean any of them
        members_only[sym_name[ok & ~nested]] = False
        defs = np.unique(sym_name[ok] * max(f, 1) + sym_file[ok])  # distinct (name, file) pairs
        def_name, def_file = defs // max(f, 1), defs % max(f, 1)
        ndefs = np.bincount(def_name, minlength=v)
        useful = (ndefs >= 1) & (ndefs <= MAX_DEFINITIONS)
        keep = useful[def_name]
        def_name, def_file = def_name[keep], def_file[keep]

        refs = references.combine_chunks() if isinstance(references, pa.ChunkedArray) else references
        ref_file = pc.list_parent_indices(refs).to_numpy(zero_copy_only=False).astype(np.int64)
        ref_name = _positions(pc.list_flatten(refs), vocab)
        valid = ref_name >= 0
        ref_file, ref_name = ref_file[valid], ref_name[valid]
        valid = useful[ref_name]
        pairs = np.unique(ref_name[valid] * max(f, 1) + ref_file[valid])
        pairs = pairs[~np.isin(pairs, defs)]  # a file's use of its own definition says nothing
        ref_name, ref_file = pairs // max(f, 1), pairs % max(f, 1)

        names = vocab.to_pylist()
        multiplier = np.fromiter((_name_weight(n, int(c)) for n, c in zip(names, ndefs.tolist(), strict=True)),
                                 np.float64, v)
        multiplier[members_only] *= 0.1
        out_weight = multiplier[ref_name]
        per_file = np.bincount(ref_file, weights=out_weight, minlength=f)
        self.num_files = f
        self.vocab = vocab
        self.ndefs = ndefs
        self.src = np.concatenate([ref_file, f + def_name])
        self.dst = np.concatenate([f + ref_name, def_file])
        self.weight = np.concatenate([out_weight / np.maximum(per_file[ref_file], 1e-12),
                                      1.0 / np.maximum(ndefs[def_name], 1)])
        self.has_out = np.zeros(f + v, bool)
        self.has_out[self.src] = True

    def pagerank(self, focused: np.ndarray, damping: float, iterations: int = 50,
                 tolerance: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """Stationary (file rank, name rank); teleports land on every file, mostly on ``focused`` ones."""
        f = self.num_files
        n = f + len(self.vocab)
        teleport = np.zeros(n)
        teleport[:f] = 1.0 / max(f, 1)
        if focused.size:
            teleport[:f] *= 1 - FOCUS_SHARE
            teleport[focused] += FOCUS_SHARE / focused.size
        rank = teleport.copy()
        for _ in range(iterations):
            spread = np.bincount(self.dst, weights=rank[self.src] * self.weight, minlength=n)
            lost = float(rank[~self.has_out].sum())  # files that reference nothing: their walk restarts
            new = damping * (spread + lost * teleport) + (1 - damping) * teleport
            done = float(np.abs(new - rank).sum()) < tolerance
            rank = new
            if done:
                break
        return rank[:f], rank[f:]

    def definition_weights(self, name_rank: np.ndarray) -> dict[str, float]:
        """Each name's share of the rank it passes to one of its definitions, scaled to 1 at the most."""
        share = np.where(self.ndefs > 0, name_rank / np.maximum(self.ndefs, 1), 0.0)
        top = float(share.max()) if share.size else 0.0
        if top <= 0:
            return {}
        scaled = share / top
        hit = np.flatnonzero(scaled > 0)
        names = self.vocab.take(pa.array(hit)).to_pylist()
        return dict(zip(names, scaled[hit].tolist(), strict=True))


def _positions(values: pa.Array | pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
    """Index of each value in ``value_set`` (-1 where absent)."""
    found = pc.index_in(values, value_set=value_set)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int64)


_CAMEL = re.compile(r"[a-z][A-Z]")


def _name_weight(name: str, definitions: int) -> float:
    """Aider's weighting of a referenced name: long descriptive names up, private and common ones down."""
    weight = 1.0
    if len(name) >= 8 and ("_" in name.strip("_") or _CAMEL.search(name)):
        weight *= 10.0
    if name.startswith("_"):
        weight *= 0.1
    if definitions > 5:
        weight *= 0.1
    return weight


def _definitions(
    symbols: pa.Table, paths: list[str], importance: dict[str, float],
) -> dict[str, list[_Definition]]:
    """The definitions of ``paths`` in line order, each with its line of the map and its weight."""
    if not paths:
        return {}
    symbols = symbols.filter(pc.is_in(symbols.column("path"), value_set=pa.array(paths, pa.string())))
    symbols = symbols.sort_by([("path", "ascending"), ("start_line", "ascending"), ("end_line", "descending")])
    out: dict[str, list[_Definition]] = {}
    columns = [symbols.column(c).to_pylist() for c in ("path", "name", "start_line", "end_line", "signature")]
    for path, name, start, end, signature in zip(*columns, strict=True):
        nesting = min(name.count("."), MAX_NESTING)
        short = name.rsplit(".", 1)[-1]
        use = math.sqrt(importance.get(short, 0.0))
        weight = _DEF_WEIGHT * (_NESTED_WEIGHT if nesting else 1.0) * (_UNUSED + (1 - _UNUSED) * use)
        if short.startswith("_"):
            weight *= _PRIVATE_WEIGHT
        where = f"{start}" if end == start else f"{start}-{end}"
        line = f"{where}: {'  ' * nesting}{_one_line(signature or name)}"
        out.setdefault(path, []).append(_Definition(start, end, name, line, weight))
    return out


def _one_line(signature: str) -> str:
    first = next((line.strip() for line in signature.splitlines() if line.strip()), "")
    first = " ".join(first.split())
    if len(first) > SIGNATURE_CHARS:
        first = first[: SIGNATURE_CHARS - 1] + "…"
    return printable(first)


def _path_line(path: str) -> str:
    return printable(path) + "\n"


# An item of the map: (file position, definition index or -1 for the path line).
_Item = tuple[int, int]


def _fit(
    paths: list[str], weights: list[float], definitions: dict[str, list[_Definition]], budget: int,
    counter: TokenCounter,
) -> dict[int, list[int]]:
    """The items that fit, by priority: {file position: [definition indices]} (a key: its path is in)."""
    items: list[tuple[float, int, int, int, _Item]] = []
    for pos, path in enumerate(paths):
        items.append((-_PATH_WEIGHT * weights[pos], pos, 0, 0, (pos, -1)))
        for j, d in enumerate(definitions.get(path, ())):
            items.append((-d.weight * weights[pos], pos, 1, d.start, (pos, j)))
    items.sort()
    chosen: dict[int, list[int]] = {}
    left = budget
    for *_, (pos, j) in items:
        if left <= 0:
            break
        if j >= 0 and pos not in chosen:
            continue  # a definition is shown under its file's path only
        line = _path_line(paths[pos]) if j < 0 else definitions[paths[pos]][j].line + "\n"
        cost = counter.count(line)
        if cost <= left:
            left -= cost
            if j < 0:
                chosen[pos] = []
            else:
                chosen[pos].append(j)
    return chosen


def _drop_last(chosen: dict[int, list[int]]) -> None:
    """Take out the least important item: the last definition of the last file, else that file."""
    pos = max(chosen)
    if chosen[pos]:
        chosen[pos].pop()
    else:
        del chosen[pos]


def _render(
    paths: list[str], scores: list[float], definitions: dict[str, list[_Definition]], chosen: dict[int, list[int]],
) -> tuple[str, list[dict[str, Any]]]:
    lines: list[str] = []
    files: list[dict[str, Any]] = []
    for pos in sorted(chosen):
        path = paths[pos]
        defs = definitions.get(path, [])
        picked = sorted(chosen[pos])
        lines.append(_path_line(path))
        lines.extend(defs[j].line + "\n" for j in picked)
        files.append({"path": path, "rank": round(scores[pos], 6), "symbols": [defs[j].name for j in picked],
                      "definitions": len(defs)})
    return "".join(lines), files


def directory_tokens(reader: StoreReader, tokenizer: str, depth: int | None = None) -> list[dict[str, Any]]:
    """Files, tokens and bytes of every directory (its whole subtree), in tree order.

    Rows are ``{"directory", "depth", "files", "tokens", "bytes"}``; the root is ``"."`` at depth 0
    and each directory follows its parent, siblings by name. ``depth`` keeps rows down to that
    depth (0: the root alone).
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise UsageError(f"depth must be a whole number of at least 0, got {depth!r}")
    column = TOKEN_COLUMNS[tokenizer]
    files = reader.read("files", ["path", "size", "skip_reason", column])
    files = files.filter(pc.is_null(files.column("skip_reason")))
    totals: dict[str, list[int]] = {}
    for path, size, tokens in zip(*(files.column(c).to_pylist() for c in ("path", "size", column)), strict=True):
        parts = path.split("/")[:-1]
        for level in range(len(parts) + 1 if depth is None else min(len(parts), depth) + 1):
            row = totals.setdefault("/".join(parts[:level]) or ".", [0, 0, 0])
            row[0] += 1
            row[1] += tokens or 0
            row[2] += size
    keys = sorted(totals, key=lambda d: () if d == "." else tuple(d.split("/")))
    return [{"directory": d, "depth": 0 if d == "." else d.count("/") + 1, "files": totals[d][0],
             "tokens": totals[d][1], "bytes": totals[d][2]} for d in keys]
