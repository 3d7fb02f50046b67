"""Rendering a planned pack as markdown or XML-style text, and its items.

Both formats render the same files, in the same order, with the same content:

- a head holding a short tree of every included path (the outline),
- one block per file that has content, files ordered by their best rank,
- in a block, the file's *runs*: consecutive source lines as they are (chunks,
  skeleton lines, signatures, joined when only blank lines lie between them,
  which are kept), in line order, with a ``…`` line between two runs,
- the block's label: the line range of each of its runs, in order, as
  ``START-END`` (``N`` for a single line), separated by commas. Line ``i`` of a
  run is source line ``START + i``, so an agent can edit the file without
  reading it again. A whole file is one run, ``1-LAST`` (from its first to its
  last non-blank line). Skeleton elision markers are not shown: the ranges say
  what is left out.

Markdown (the label follows the path and a colon in the heading)::

    ## Files
    ```text
    app/
      models.py
    ```

    ### app/models.py:5-12,20-31
    ```python
    <source lines 5-12>
    …
    <source lines 20-31>
    ```

XML (well-formed: attribute values are escaped and the content is in CDATA
sections, so a parser gives back the source lines as they are; a ``]]>`` in the
source is split across two sections, and the few control characters XML 1.0
cannot carry at all become U+FFFD); the label is the ``lines`` attribute::

    <context>
    <tree><![CDATA[
    app/
      models.py
    ]]></tree>
    <file path="app/models.py" language="python" lines="5-12,20-31"><![CDATA[
    <source lines 5-12>
    …
    <source lines 20-31>
    ]]></file>
    </context>

Every block starts at the beginning of a line with a non-whitespace character,
a pre-token boundary of both encodings, so the token count of the whole text
is exactly the sum of the counts of the head, the blocks and the tail.
"""

from __future__ import annotations

import bisect
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import xxhash

from exocortex.chunking.text import split_lines
from exocortex.escape import printable
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.policies import LRU
from exocortex.pack.corpus import ChunkText, FileOutline
from exocortex.tokens import count_tokens

GAP = "…\n"
"""Stands between two runs of a block: the source lines between them are left out."""

FORMATS = ("markdown", "xml")


@dataclass
class Signature:
    symbol: str
    text: str
    """The source lines ``row``..``end_row`` as they are (a signature may span several lines)."""
    row: int
    """The 1-based first source line of ``text``."""
    end_row: int
    score: float
    tokens: int


@dataclass
class FilePlan:
    """What a pack includes of one file; built by the governor."""

    path: str
    language: str | None
    all_chunks: list[ChunkText]
    chunks: dict[int, tuple[ChunkText, float]] = field(default_factory=dict)
    """ordinal -> (chunk, score of the hit that brought it)."""
    skeleton: tuple[FileOutline, float] | None = None
    signatures: list[Signature] = field(default_factory=list)
    path_score: float | None = None
    """Score of the best hit that named the file (every included file has one)."""

    @property
    def is_full(self) -> bool:
        return bool(self.all_chunks) and len(self.chunks) == len(self.all_chunks)


@dataclass(frozen=True, slots=True)
class PackItem:
    """One thing a pack holds: a chunk, a whole file, a skeleton, a signature or a path."""

    path: str
    """Relative to the indexed root, with '/' separators."""
    kind: str
    """``full``, ``chunk``, ``skeleton``, ``signature`` or ``path``."""
    lines: tuple[tuple[int, int], ...]
    """1-based inclusive ranges of source lines that appear verbatim in the pack's text (but for a
    secret value redacted in them: see ``Pack.redactions``)."""
    symbol: str
    score: float
    """Score of the best hit that brought it in."""
    tokens: int
    """Tokens of the item's own content (without headers and fences)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "lines": [[s, e] for s, e in self.lines],
            "symbol": self.symbol,
            "score": self.score,
            "tokens": self.tokens,
        }


def merge_ranges(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted ranges with touching or overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)


def _ranges_of_rows(rows: list[int]) -> tuple[tuple[int, int], ...]:
    return merge_ranges([(r, r) for r in rows])


# --- one file ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive source lines ``start``..``end`` of one file, as they are (ending with a line break).

    Line ``i`` (0-based) of ``text`` is source line ``start + i``: blank lines between the pieces
    a run joins are kept (a blank line that no chunk holds is shown as an empty line).
    """

    start: int
    end: int
    text: str


@dataclass
class _Piece:
    start: int
    end: int
    text: str


class _SourceRows:
    """The source lines a file's chunks hold, looked up by line number (texts read on first use)."""

    def __init__(self, chunks: list[ChunkText]) -> None:
        self._chunks = sorted(chunks, key=lambda c: c.start_line)
        self._starts = [c.start_line for c in self._chunks]
        self._lines: dict[int, list[str]] = {}

    def _chunk_at(self, row: int) -> int | None:
        i = bisect.bisect_right(self._starts, row) - 1
        return i if i >= 0 and self._chunks[i].end_line >= row else None

    def text(self, row: int) -> str | None:
        """Source line ``row`` with its line break, or None when no chunk holds it (a blank line)."""
        i = self._chunk_at(row)
        if i is None:
            return None
        lines = self._lines.get(i)
        if lines is None:
            lines = self._lines[i] = split_lines(self._chunks[i].text)
        offset = row - self._chunks[i].start_line
        return lines[offset] if offset < len(lines) else None

    def blank_between(self, first: int, last: int) -> bool:
        """Whether source lines ``first``..``last`` are all blank (true when the range is empty)."""
        if first > last:
            return True
        i = bisect.bisect_right(self._starts, last) - 1
        while i >= 0 and self._chunks[i].end_line >= first:
            chunk = self._chunks[i]
            for row in range(max(first, chunk.start_line), min(last, chunk.end_line) + 1):
                line = self.text(row)
                if line is not None and line.strip():
                    return False
            i -= 1
        return True

    def row_text(self) -> dict[int, str]:
        rows: dict[int, str] = {}
        for chunk in self._chunks:
            for offset, line in enumerate(split_lines(chunk.text)):
                rows[chunk.start_line + offset] = line
        return rows


def _skeleton_rows(outline: FileOutline, row_text: dict[int, str]) -> list[tuple[int, str]] | None:
    """The skeleton's verbatim lines as (row, line), its elision markers left out; None if it cannot be aligned."""
    kept = [r for start, end in outline.skeleton_lines for r in range(start, end + 1)]
    out: list[tuple[int, str]] = []
    j = 0
    for line in split_lines(outline.skeleton):
        if j < len(kept):
            row = kept[j]
            orig = row_text.get(row)
            if (orig is not None and (line == orig or line == orig + "\n")) or (orig is None and not line.strip()):
                out.append((row, orig if orig is not None else line))
                j += 1
    return out if j == len(kept) else None


def render_file_body(plan: FilePlan, tokenizer: str) -> tuple[list[Run], list[PackItem]]:
    """The file's runs of source lines (in line order; none for a path alone) and its items."""
    path = plan.path
    chunks = sorted((c for c, _ in plan.chunks.values()), key=lambda c: c.start_line)
    rows = _SourceRows(plan.all_chunks)
    if plan.is_full:
        runs = _join_runs([_Piece(c.start_line, c.end_line, c.text) for c in chunks], rows)
        lines = merge_ranges([(c.start_line, c.end_line) for c in chunks])
        score = max(s for _, s in plan.chunks.values())
        return runs, [PackItem(path, "full", lines, "", score, sum(c.tokens for c in chunks))]

    pieces: list[_Piece] = [_Piece(c.start_line, c.end_line, c.text) for c in chunks]
    items: list[PackItem] = []
    covered = sorted((c.start_line, c.end_line) for c in chunks)
    starts = [s for s, _ in covered]

    def is_covered(row: int) -> bool:
        i = bisect.bisect_right(starts, row) - 1
        return i >= 0 and covered[i][1] >= row

    skeleton_rows: set[int] = set()
    if plan.skeleton is not None:
        outline, score = plan.skeleton
        aligned = _skeleton_rows(outline, rows.row_text()) if outline.skeleton else None
        if aligned:
            kept = [(row, line) for row, line in aligned if not is_covered(row)]
            for row, line in kept:
                pieces.append(_Piece(row, row, line))
                skeleton_rows.add(row)
            if kept:
                items.append(PackItem(path, "skeleton", _ranges_of_rows([row for row, _ in kept]), "", score,
                                      count_tokens("".join(line for _, line in kept), tokenizer)))

    for sig in plan.signatures:
        sig_rows = range(sig.row, sig.end_row + 1)
        if any(is_covered(r) or r in skeleton_rows for r in sig_rows):
            continue
        pieces.append(_Piece(sig.row, sig.end_row, sig.text))
        items.append(PackItem(path, "signature", ((sig.row, sig.end_row),), sig.symbol, sig.score, sig.tokens))

    for chunk, score in sorted(plan.chunks.values(), key=lambda cs: cs[0].start_line):
        items.append(PackItem(path, "chunk", ((chunk.start_line, chunk.end_line),), chunk.symbol,
                              score, chunk.tokens))
    if not pieces:
        score = plan.path_score if plan.path_score is not None else 0.0
        return [], [PackItem(path, "path", (), "", score, count_tokens(path, tokenizer))]
    items.sort(key=lambda it: (0 if it.kind == "skeleton" else 1, it.lines[0][0] if it.lines else 0))
    return _join_runs(pieces, rows), items


def _join_runs(pieces: list[_Piece], rows: _SourceRows) -> list[Run]:
    """Pieces in line order joined into runs: pieces with only blank lines between them make one run."""
    runs: list[Run] = []
    parts: list[str] = []
    first = last = 0
    for piece in sorted(pieces, key=lambda p: (p.start, p.end)):
        text = piece.text if piece.text.endswith("\n") else piece.text + "\n"
        if parts and piece.end <= last:
            continue  # already shown
        if parts and piece.start <= last:  # overlaps the run: keep only the lines after it
            text = "".join(split_lines(text)[last + 1 - piece.start :])
        elif parts and rows.blank_between(last + 1, piece.start - 1):
            newline = "\r\n" if parts[-1].endswith("\r\n") else "\n"
            parts.extend(rows.text(r) or newline for r in range(last + 1, piece.start))
        elif parts:
            runs.append(Run(first, last, "".join(parts)))
            parts = []
        if not parts:
            first = piece.start
        parts.append(text)
        last = max(last, piece.end)
    if parts:
        runs.append(Run(first, last, "".join(parts)))
    return runs


def join_body(runs: list[Run]) -> str:
    """The text of a file's block: its runs in line order, a ``…`` line between two runs."""
    return GAP.join(run.text for run in runs)


def range_label(ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
    """``151-178,190,200-210``: the source lines a block shows, in order (one line: its number)."""
    return ",".join(f"{s}-{e}" if e != s else str(s) for s, e in ranges)


# --- the whole text ------------------------------------------------------------------


def _fence(body: str) -> str:
    if "```" not in body:  # the common case, without scanning for every run of backticks
        return "```"
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
    return "`" * max(3, longest + 1)


def _attr(value: str) -> str:
    """``value`` as an XML attribute value that a parser reads back unchanged (but for the control
    characters XML 1.0 cannot carry, which become U+FFFD): tabs and line breaks as character
    references, which attribute-value normalization would otherwise turn into spaces."""
    value = (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
             .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    return _XML_FORBIDDEN.sub("\ufffd", value) if _XML_FORBIDDEN.search(value) else value


def shown_path(path: str) -> str:
    """``path`` for one line of text: control characters shown as escapes (``\\n``, ``\\x1b``).

    Markdown headings and tree lines use it, so one file is always one line; ``PackItem.path``,
    the JSON format and XML attributes keep the exact path.
    """
    return printable(path)


def render_tree(paths: list[str]) -> str:
    """A short indented tree of ``paths`` (directories end with '/')."""
    out: list[str] = []
    printed: list[str] = []
    for path in sorted(paths):
        parts = shown_path(path).split("/")
        for depth, name in enumerate(parts[:-1]):
            if depth < len(printed) and printed[depth] == name:
                continue
            del printed[depth:]
            printed.append(name)
            out.append("  " * depth + name + "/\n")
        del printed[len(parts) - 1 :]
        out.append("  " * (len(parts) - 1) + parts[-1] + "\n")
    return "".join(out)


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cdata(text: str) -> str:
    """``text`` as CDATA content: what an XML parser reads back is ``text`` itself."""
    if "]]>" in text:
        text = text.replace("]]>", "]]]]><![CDATA[>")
    if _XML_FORBIDDEN.search(text):
        text = _XML_FORBIDDEN.sub("\ufffd", text)
    return f"<![CDATA[\n{text}]]>"


def render_head(paths: list[str], fmt: str) -> str:
    tree = render_tree(paths)
    if fmt == "xml":
        return f"<context>\n<tree>{_cdata(tree)}</tree>\n"
    fence = _fence(tree)
    return f"## Files\n{fence}text\n{tree}{fence}\n\n"


def render_tail(fmt: str) -> str:
    return "</context>\n" if fmt == "xml" else ""


_FENCE_LANGUAGES = {"python": "python", "javascript": "javascript", "typescript": "typescript", "tsx": "tsx",
                    "go": "go", "rust": "rust", "java": "java", "c": "c", "cpp": "cpp", "markdown": "markdown"}


def render_block(path: str, language: str | None, body: str, fmt: str,
                 ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...] = ()) -> str:
    """One file's block: ``### path:151-178`` and a fenced body, or ``<file ... lines="151-178">``.

    ``ranges`` are the source lines of the body's runs, in order (a ``…`` line between two runs).
    """
    label = range_label(ranges)
    if fmt == "xml":
        lang = f' language="{_attr(language)}"' if language else ""
        lines = f' lines="{label}"' if label else ""
        return f'<file path="{_attr(path)}"{lang}{lines}>{_cdata(body)}</file>\n'
    fence = _fence(body)
    heading = f"{shown_path(path)}:{label}" if label else shown_path(path)
    return f"### {heading}\n{fence}{_FENCE_LANGUAGES.get(language or '', '')}\n{body}{fence}\n\n"


@dataclass
class Rendered:
    text: str
    tokens: int
    items: list[PackItem]
    redactions: list[dict[str, Any]] = field(default_factory=list)
    """``{"path", "line", "type"}`` of each secret replaced by a marker (source lines)."""


class CountMemo:
    """Exact token counts of texts counted before, by tokenizer and a 128-bit hash of the text.

    Packs of one index render the same blocks again (a file included whole is the
    same text in every large pack), and counting is the largest cost of a large
    pack. Counts are exact whatever is remembered: a miss counts the text. At most
    ``max_entries`` are kept, least recently used first out, in a memory-layer cache
    registered with the governor (``token-counts``), so ``status`` shows it and
    memory pressure can empty it.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._counts: MultiLevelCache[tuple[str, int], int] | None = (
            MultiLevelCache([Level("counts", LRU(max_entries=max_entries))], sizeof=_count_entry_bytes)
            if max_entries > 0 else None
        )

    def count(self, text: str, tokenizer: str) -> int:
        if self._counts is None or len(text) < _MEMO_MIN_CHARS:
            return count_tokens(text, tokenizer)
        key = (tokenizer, xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass")))
        cached = self._counts.get(key)
        if cached is None:
            cached = count_tokens(text, tokenizer)
            self._counts.set(key, cached)
        return cached


def _count_entry_bytes(count: int) -> int:
    """What one remembered count holds: the int and its key (a tuple of the tokenizer's name and a
    128-bit hash), measured on a real key once."""
    return sys.getsizeof(count) + _KEY_BYTES


_KEY_BYTES = sys.getsizeof(("o200k_base", 2**127)) + sys.getsizeof(2**127)

_MEMO_MIN_CHARS = 64
"""Shorter texts are counted again: hashing them costs about as much."""

_memo = CountMemo(0)


def count_memo(max_entries: int) -> CountMemo:
    """The process's memo of block counts, resized to ``max_entries`` (and registered with the governor)."""
    global _memo
    if _memo.max_entries != max_entries:
        _memo = CountMemo(max_entries)
    if _memo._counts is not None:
        from exocortex.memory.engine import engine_memory

        engine = engine_memory()  # one per process, made again when the memory settings change
        if engine.registered.get("token-counts") is not _memo._counts:
            engine.replace_cache("token-counts", _memo._counts)
    return _memo


class Renderer:
    """Renders plans and counts them exactly, remembering the counts of blocks it has seen."""

    def __init__(self, tokenizer: str, fmt: str, memo: CountMemo | None = None, redact: bool = False) -> None:
        self.tokenizer = tokenizer
        self.fmt = fmt
        self._memo = memo
        self._counts: dict[str, int] = {}
        self.redact = redact
        self._redacted: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = {}

    def count(self, text: str) -> int:
        cached = self._counts.get(text)
        if cached is None:
            if self._memo is not None:
                cached = self._memo.count(text, self.tokenizer)
            else:
                cached = count_tokens(text, self.tokenizer)
            self._counts[text] = cached
        return cached

    def render(self, plans: list[FilePlan]) -> Rendered:
        head = render_head([p.path for p in plans], self.fmt)
        parts = [head]
        tokens = self.count(head)
        items: list[PackItem] = []
        redactions: list[dict[str, Any]] = []
        for plan in plans:
            runs, file_items = render_file_body(plan, self.tokenizer)
            items.extend(file_items)
            if runs:
                body = join_body(runs)
                if self.redact:
                    body, found = self._redact(plan.path, body, runs)
                    redactions.extend(found)
                block = render_block(plan.path, plan.language, body, self.fmt, [(run.start, run.end) for run in runs])
                parts.append(block)
                tokens += self.count(block)
        tail = render_tail(self.fmt)
        if tail:
            parts.append(tail)
            tokens += self.count(tail)
        return Rendered("".join(parts), tokens, items, redactions)

    def _redact(self, path: str, body: str, runs: list[Run]) -> tuple[str, list[dict[str, Any]]]:
        """``body`` with its secrets replaced (:mod:`.redact`), and where they were in the source.

        Only what goes into the pack is scanned, once per block text (a re-render scans nothing).
        The redacted body has the same lines, so the block's label still holds.
        """
        cached = self._redacted.get((path, body))
        if cached is None:
            from exocortex.pack.redact import redact_text

            text, findings = redact_text(body, path)
            rows: list[int] = []  # the source line of each line of the body (a gap line: the next run's first)
            for run in runs:
                if rows:
                    rows.append(run.start)
                rows.extend(range(run.start, run.end + 1))
            where = [{"path": path, "line": rows[min(f.line, len(rows)) - 1], "type": f.type} for f in findings]
            cached = self._redacted[(path, body)] = (text, where)
        return cached
