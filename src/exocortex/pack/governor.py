"""The context governor: fit ranked hits into a hard token budget, degrading gracefully.

Hits are walked in rank order (most relevant first). Each takes the best form
that still fits what is left of the budget:

1. its chunk in full (kind ``chunk``), with the header chunks of its enclosing
   classes when they are not in yet; a file all of whose chunks end up in the
   pack is reported as one ``full`` item;
2. else its file's skeleton (once per file; kind ``skeleton``);
3. else the signature of its symbol (kind ``signature``);
4. else only its path, in the tree that heads the context (kind ``path``).

Pinned files (``pinned``) go in before any hit, each whole when it fits, else
its skeleton, else its path.

A hit never loses room to a less relevant one: earlier hits are decided
first and are never revisited, except by the final check below, which only
removes the *least* relevant decisions.

Planning adds up stored per-chunk counts plus a small allowance per piece for
the wrappers (headers, fences, tree lines) and, for a piece that starts a run
of its own, for the run's line range in the block's label and the ``…`` line
before it (see :mod:`.render`). The final text is
then counted exactly; if BPE merges across piece boundaries make it larger
than the budget, the least relevant decisions are undone until it fits: the
longest prefix of the decisions that fits is kept (:func:`.fit.fit_prefix`, the
step variant packs end with too). The budget is never exceeded. With ``redact``,
secrets are replaced in each block (:mod:`.redact`) before it is counted, so the
count is of the text as it goes out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from exocortex.chunking.text import split_lines
from exocortex.config import TOKENIZERS
from exocortex.errors import BudgetTooSmallError, ConfigError, InputPathError, NoMatchesError
from exocortex.pack.corpus import ChunkText, PackCorpus
from exocortex.pack.fit import fit_prefix
from exocortex.pack.render import (
    FilePlan,
    PackItem,
    Rendered,
    Renderer,
    Signature,
    count_memo,
    render_block,
    render_head,
    render_tail,
)
from exocortex.search.hits import SearchHit

FORMATS = ("markdown", "xml", "json")

_PIECE_ALLOWANCE = 1
"""Tokens allowed per piece, while planning, for the blank lines that join it to its neighbours."""
_MIN_USEFUL_TOKENS = 3
"""Planning stops when fewer tokens than this are left."""
_MAX_MISSES = 512
"""Planning stops after this many consecutive hits for which nothing fit."""
_FIRST_LOAD = 128
"""Hits whose files are loaded before planning starts; each later load doubles."""
_SIGNATURE_SLACK_CHARS = 80
"""A source line may carry this many characters beyond a signature and still stand for it."""
_SIGNATURE_MAX_LINES = 64
"""A signature written over several source lines is looked for over at most this many."""


def _run_cost(start: int, end: int) -> int:
    """Tokens allowed for a run's label (``151-178,``) and the ``…`` line before it: a token per
    three digits (both encodings split numbers so) and two for the dash, the comma and the gap line,
    which often merge with their neighbours. (On 24 packs of this repository, 4k to 128k, markdown
    and XML, this left fewer tokens unused than the allowances before line labels, with no re-render.)"""
    return (len(str(start)) + 2) // 3 + (len(str(end)) + 2) // 3 + 2


class PackEntry(Protocol):
    """What every item of a pack offers: its JSON form."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Pack:
    """A budgeted context: the rendered text, what it holds, and the index it came from."""

    query: str
    budget: int
    tokenizer: str
    tokens: int
    """The exact count of ``text`` with ``tokenizer``; never more than ``budget``."""
    text: str
    """The rendered context: markdown, or XML-style for ``format="xml"``; markdown for ``json``."""
    items: tuple[PackItem, ...] | tuple[PackEntry, ...]
    """Code items (``PackItem``: paths and line ranges) or, for a variant store, items that carry
    a variant key instead of lines (``genomics.context.VariantItem``)."""
    index: dict[str, Any]
    """root, files, chunks, age_s of the index snapshot used."""
    format: str = "markdown"
    redactions: tuple[dict[str, Any], ...] = ()
    """``{"path", "line", "type"}`` of each secret ``text`` holds a ``[REDACTED:<type>]`` marker for
    (``line``: the source line where it starts); see :mod:`exocortex.pack.redact`."""
    redacted: bool = False
    """Whether the text was scanned for secrets (``redact=True``, the default of ``Index.pack``)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``exocortex pack --format json``."""
        return {
            "query": self.query,
            "budget": self.budget,
            "tokenizer": self.tokenizer,
            "tokens": self.tokens,
            "text": self.text,
            "items": [item.to_dict() for item in self.items],
            "redacted": {"enabled": self.redacted, "count": len(self.redactions),
                         "where": [dict(r) for r in self.redactions]},
            "index": dict(self.index),
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False)


# --- planning ---------------------------------------------------------------------


@dataclass
class _Op:
    kind: str  # "file", "chunk", "skeleton", "signature"
    path: str
    cost: int
    chunk: ChunkText | None = None
    score: float = 0.0
    signature: Signature | None = None


class _Planner:
    def __init__(self, corpus: PackCorpus, renderer: Renderer, budget: int, whole_files: int = 0,
                 whole_file_share: float = 0.0) -> None:
        self.corpus = corpus
        self.renderer = renderer
        self.budget = budget
        self.whole_files = whole_files
        self.whole_file_max = int(whole_file_share * budget)
        self.files_seen: set[str] = set()  # the first ``whole_files`` files reached
        fmt = renderer.fmt
        self.base = renderer.count(render_head([], fmt)) + renderer.count(render_tail(fmt))
        """The planned cost of the pack without any decision: its empty head and its tail."""
        self.used = self.base
        self.log: list[list[_Op]] = []
        self.files: set[str] = set()
        self.with_content: set[str] = set()
        self.chunks: set[tuple[str, int]] = set()
        self.chunk_ordinals: dict[str, set[int]] = {}  # the same chunks by path, for a file's runs
        self.skeletons: set[str] = set()
        self.signatures: set[tuple[str, str]] = set()
        self.dirs: set[str] = set()

    def _file_cost(self, path: str) -> int:
        if path in self.files:
            return 0
        count = self.renderer.count
        parts = path.split("/")
        cost = count(parts[-1]) + 1
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in self.dirs:
                cost += count(parts[depth - 1]) + 2
        return cost

    def _block_cost(self, path: str) -> int:
        if path in self.with_content:
            return 0
        outline = self.corpus.outline(path)
        language = outline.language if outline else None
        return self.renderer.count(render_block(path, language, "", self.renderer.fmt, ((1, 1),))) + _PIECE_ALLOWANCE

    def _chunk_ops(self, path: str, chunks: list[ChunkText], score: float) -> list[_Op]:
        """Ops for ``chunks`` (in line order): a chunk that starts a new run also pays for its range label."""
        present = set(self.chunk_ordinals.get(path, ()))
        ops = []
        for c in chunks:
            joins = c.ordinal - 1 in present or c.ordinal + 1 in present
            cost = c.tokens + _PIECE_ALLOWANCE + (0 if joins else _run_cost(c.start_line, c.end_line))
            ops.append(_Op("chunk", path, cost, chunk=c, score=score))
            present.add(c.ordinal)
        return ops

    def _opening(self, path: str, content: bool, score: float) -> list[_Op]:
        ops = []
        if path not in self.files:
            ops.append(_Op("file", path, self._file_cost(path), score=score))
        if content and path not in self.with_content:
            ops.append(_Op("file", path, self._block_cost(path), score=score))
        return ops

    def _commit(self, ops: list[_Op]) -> None:
        for op in ops:
            if op.kind == "file":
                if op.path not in self.files:
                    self.files.add(op.path)
                    parts = op.path.split("/")
                    self.dirs.update("/".join(parts[:d]) for d in range(1, len(parts)))
            else:
                self.with_content.add(op.path)
                if op.kind == "chunk" and op.chunk is not None:
                    self.chunks.add((op.path, op.chunk.ordinal))
                    self.chunk_ordinals.setdefault(op.path, set()).add(op.chunk.ordinal)
                elif op.kind == "skeleton":
                    self.skeletons.add(op.path)
                elif op.kind == "signature" and op.signature is not None:
                    self.signatures.add((op.path, op.signature.symbol))
        self.used += sum(op.cost for op in ops)
        self.log.append(ops)

    def _fits(self, ops: list[_Op]) -> bool:
        return self.used + sum(op.cost for op in ops) <= self.budget

    def place(self, hit: SearchHit, chunk: ChunkText) -> bool:
        """Add the best form of ``hit`` that fits; False when nothing new could be added."""
        path = chunk.path
        if len(self.files_seen) < self.whole_files and path not in self.files_seen:
            self.files_seen.add(path)
            if self._place_whole(path, hit.score):
                return True
        if (path, chunk.ordinal) in self.chunks:
            return True
        # 1. the chunk in full, with its enclosing class headers
        wanted = [h for h in self.corpus.class_headers(chunk) if (path, h.ordinal) not in self.chunks]
        wanted.append(chunk)
        ops = self._opening(path, True, hit.score)
        ops += self._chunk_ops(path, wanted, hit.score)
        if self._fits(ops):
            self._commit(ops)
            return True
        # 2. the file's skeleton
        if path in self.skeletons:
            return True  # already represented
        if self._place_skeleton(path, hit.score):
            return True
        # 3. the signature of its symbol
        if chunk.symbol and (path, chunk.symbol) not in self.signatures:
            signature = self._signature(chunk, hit.score)
            if signature is not None:
                ops = self._opening(path, True, hit.score)
                cost = signature.tokens + _PIECE_ALLOWANCE + _run_cost(signature.row, signature.end_row)
                ops.append(_Op("signature", path, cost, score=hit.score, signature=signature))
                if self._fits(ops):
                    self._commit(ops)
                    return True
        # 4. its path in the outline
        if path in self.files:
            return True
        ops = self._opening(path, False, hit.score)
        if self._fits(ops):
            self._commit(ops)
            return True
        return False

    def _place_skeleton(self, path: str, score: float) -> bool:
        outline = self.corpus.outline(path)
        if outline is None or not outline.skeleton:
            return False
        ops = self._opening(path, True, score)
        cost = outline.skeleton_tokens + _PIECE_ALLOWANCE + sum(_run_cost(a, b) for a, b in outline.skeleton_lines)
        ops.append(_Op("skeleton", path, cost, score=score))
        if not self._fits(ops):
            return False
        self._commit(ops)
        return True

    def place_pinned(self, path: str, score: float) -> bool:
        """A pinned file: whole when it fits, else its skeleton, else its path; False when not even that fits."""
        self.files_seen.add(path)
        chunks = [c for c in self.corpus.chunks_of(path) if (path, c.ordinal) not in self.chunks]
        if chunks:
            ops = self._opening(path, True, score) + self._chunk_ops(path, chunks, score)
            if self._fits(ops):
                self._commit(ops)
                return True
        if path not in self.skeletons and self._place_skeleton(path, score):
            return True
        if path in self.files:
            return True
        ops = self._opening(path, False, score)
        if self._fits(ops):
            self._commit(ops)
            return True
        return False

    def _place_whole(self, path: str, score: float) -> bool:
        """Every chunk of one of the best files, when the file costs at most ``whole_file_max``.

        The lines a task needs often sit beside the ones the query matched (the next
        method, the line before an insertion); a large budget can afford the whole file.
        """
        chunks = [c for c in self.corpus.chunks_of(path) if (path, c.ordinal) not in self.chunks]
        ops = self._opening(path, True, score)
        ops += self._chunk_ops(path, chunks, score)
        if not chunks or sum(op.cost for op in ops) > self.whole_file_max or not self._fits(ops):
            return False
        self._commit(ops)
        return True

    def _signature(self, chunk: ChunkText, score: float) -> Signature | None:
        """The source lines of ``chunk``'s signature as they are (one line, or the lines it spans), or None."""
        signature = self.corpus.signature(chunk.path, chunk.symbol)
        if not signature:
            return None
        want = signature.strip()
        count = self.renderer.count
        lines = split_lines(chunk.text)
        for exact in (True, False):
            for offset, line in enumerate(lines):
                bare = line.strip()
                if bare == want or (not exact and bare.startswith(want)
                                    and len(bare) <= len(want) + _SIGNATURE_SLACK_CHARS):
                    text = line if line.endswith("\n") else line + "\n"
                    row = chunk.start_line + offset
                    return Signature(chunk.symbol, text, row, row, score, count(text))
        # A signature written over several lines: the lines whose text, without white space, spells it.
        compact = "".join(want.split())
        for offset, line in enumerate(lines):
            acc = "".join(line.split())
            if not acc or not compact.startswith(acc):
                continue
            last = offset
            while len(acc) < len(compact) and last + 1 < min(len(lines), offset + _SIGNATURE_MAX_LINES):
                last += 1
                acc += "".join(lines[last].split())
                if not compact.startswith(acc):
                    break
            if acc == compact:
                text = "".join(lines[offset : last + 1])
                text = text if text.endswith("\n") else text + "\n"
                row = chunk.start_line + offset
                return Signature(chunk.symbol, text, row, row + last - offset, score, count(text))
        return None


def _build_plans(corpus: PackCorpus, log: list[list[_Op]]) -> list[FilePlan]:
    plans: dict[str, FilePlan] = {}
    for ops in log:
        for op in ops:
            plan = plans.get(op.path)
            if plan is None:
                outline = corpus.outline(op.path)
                plan = FilePlan(op.path, outline.language if outline else None, corpus.chunks_of(op.path),
                                path_score=op.score)
                plans[op.path] = plan
            if op.kind == "chunk" and op.chunk is not None:
                plan.chunks.setdefault(op.chunk.ordinal, (op.chunk, op.score))
            elif op.kind == "skeleton":
                outline = corpus.outline(op.path)
                if outline is not None:
                    plan.skeleton = (outline, op.score)
            elif op.kind == "signature" and op.signature is not None:
                plan.signatures.append(op.signature)
            if plan.path_score is None or op.score > plan.path_score:
                plan.path_score = op.score
    return list(plans.values())


# --- the entry point ------------------------------------------------------------------


def pack_context(
    query: str,
    hits: Sequence[SearchHit],
    reader: Any,
    *,
    budget: int,
    tokenizer: str = "o200k_base",
    fmt: str = "markdown",
    snapshot_max_bytes: int = 0,
    count_memo_entries: int = 0,
    whole_files: int = 0,
    whole_file_share: float = 0.0,
    pinned: Sequence[str] = (),
    redact: bool = False,
) -> Pack:
    """Fit ``hits`` (most relevant first) from the store snapshot ``reader`` into ``budget`` tokens.

    ``fmt`` is ``markdown``, ``xml`` or ``json``; for ``json`` the text is the
    markdown rendering (``Pack.to_dict()`` is the JSON document) and the budget
    applies to that text. A second pack of the same commit in this process holds
    the commit's texts in memory when they take at most ``snapshot_max_bytes``
    (0: never), and exact counts of up to ``count_memo_entries`` rendered
    blocks are remembered for later packs (0: none). ``pinned`` files (root-relative
    paths, see :mod:`.pins`) go in before any hit: each whole when it fits, else its
    skeleton, else its path; they carry the top hit's score. Raises ``NoMatchesError``
    when ``hits`` and ``pinned`` are both empty, ``InputPathError`` for a pinned path the
    index does not hold and ``BudgetTooSmallError`` when not even the path of the top
    hit (or of the first pinned file) fits. With ``redact``, every block is scanned for
    secrets before it is counted (:mod:`.redact`): each becomes ``[REDACTED:<type>]``, and
    ``Pack.redactions`` says where they were.
    """
    if tokenizer not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer '{tokenizer}' (choose from {', '.join(TOKENIZERS)})")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"the token budget must be a positive whole number, not {budget!r}")
    if not hits and not pinned:
        raise NoMatchesError(f"no matches for {_short(query)!r}: try other words, or check the index is up to date")

    corpus = PackCorpus(reader, tokenizer, snapshot_max_bytes)
    memo = count_memo(count_memo_entries) if count_memo_entries > 0 else None
    renderer = Renderer(tokenizer, "xml" if fmt == "xml" else "markdown", memo, redact=redact)
    planner = _Planner(corpus, renderer, budget, whole_files, whole_file_share)

    if pinned:
        corpus.load(pinned)
        missing = [p for p in pinned if not corpus.chunks_of(p) and corpus.outline(p) is None]
        if missing:
            raise InputPathError(
                f"--pin {missing[0]} is not in the index of {reader.meta.root}: pin an indexed file by its path "
                "relative to the root (`exocortex status --verbose` lists the files it skipped)"
            )
        top_score = hits[0].score if hits else 0.0
        for path in pinned:
            if not planner.place_pinned(path, top_score):
                needed = renderer.count(render_head([path], renderer.fmt)) + renderer.count(render_tail(renderer.fmt))
                raise _too_small(budget, needed, "the pinned file " + path)

    loaded = 0
    step = _FIRST_LOAD
    misses = 0
    placed_any = False
    for i, hit in enumerate(hits):
        if i >= loaded:
            corpus.load(h.path for h in hits[loaded : loaded + step])
            loaded += step
            step *= 2
        chunk = corpus.chunk(hit.path, hit.ordinal)
        if chunk is None:
            continue  # the index changed since the search; nothing to show
        if planner.place(hit, chunk):
            placed_any = True
            misses = 0
        else:
            if not placed_any and not pinned:
                break
            misses += 1
            if misses >= _MAX_MISSES:
                break
        if budget - planner.used < _MIN_USEFUL_TOKENS:
            break

    if not planner.log:
        top = next((h.path for h in hits if corpus.chunk(h.path, h.ordinal) is not None), None)
        if top is None:
            raise NoMatchesError(f"no matches for {_short(query)!r} in the current index: re-run the search")
        needed = renderer.count(render_head([top], renderer.fmt)) + renderer.count(render_tail(renderer.fmt))
        raise _too_small(budget, needed)

    # Count the final text exactly: the longest prefix of the decisions (most relevant first) that fits.
    log = planner.log

    def render(k: int) -> tuple[Rendered, int]:
        rendered = renderer.render(_build_plans(corpus, log[:k]))
        return rendered, rendered.tokens

    costs = [sum(op.cost for op in ops) for ops in log]
    rendered = fit_prefix(render, len(log), budget, cost=costs.__getitem__, base=planner.base, least=1,
                          too_small=lambda tokens: _too_small(budget, tokens)).rendered

    summary = reader.meta.last_run.get("summary", {}) if reader.meta.last_run else {}
    index = {
        "root": reader.meta.root,
        "files": int(summary.get("files", 0)),
        "chunks": int(summary.get("chunks", 0)),
        "age_s": round(max(0.0, time.time() - reader.meta.updated_at), 1),
    }
    return Pack(
        query=query,
        budget=budget,
        tokenizer=tokenizer,
        tokens=rendered.tokens,
        text=rendered.text,
        items=tuple(rendered.items),
        index=index,
        format=fmt,
        redactions=tuple(rendered.redactions),
        redacted=redact,
    )


def _too_small(budget: int, needed: int, what: str = "the top result") -> BudgetTooSmallError:
    return BudgetTooSmallError(
        f"a budget of {budget} tokens is too small even for the outline of {what} "
        f"(it needs at least {needed}): raise --budget"
    )


def _short(query: str, limit: int = 80) -> str:
    query = " ".join(query.split())
    return query if len(query) <= limit else query[: limit - 1] + "…"
