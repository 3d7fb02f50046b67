"""Rendering a planned pack as markdown or XML-style text, and its items.

Both formats render the same files, in the same order, with the same content:

- a head holding a short tree of every included path (the outline),
- one block per file that has content, files ordered by their best rank,
  the file's pieces ordered by line: chunks (verbatim), skeleton lines
  (verbatim) and their elision markers, signatures,
- ``…`` on a line of its own where non-blank source lines are left out
  between or around pieces.

Markdown::

    ## Files
    ```text
    app/
      models.py
    ```

    ### app/models.py
    ```python
    <verbatim lines>
    …
    <verbatim lines>
    ```

XML (well-formed: attribute values are escaped and the content is in CDATA
sections, so a parser gives back the source lines as they are; a ``]]>`` in the
source is split across two sections, and the few control characters XML 1.0
cannot carry at all become U+FFFD)::

    <context>
    <tree><![CDATA[
    app/
      models.py
    ]]></tree>
    <file path="app/models.py" language="python"><![CDATA[
    <verbatim lines>
    ]]></file>
    </context>

Every block starts at the beginning of a line with a non-whitespace character,
a pre-token boundary of both encodings, so the token count of the whole text
is exactly the sum of the counts of the head, the blocks and the tail.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import xxhash

from exocortex.chunking.text import split_lines
from exocortex.escape import printable
from exocortex.pack.corpus import ChunkText, FileOutline
from exocortex.tokens import count_tokens

GAP = "…\n"
"""Stands for non-blank source lines left out."""

FORMATS = ("markdown", "xml")


@dataclass
class Signature:
    symbol: str
    text: str
    """The line to render, ending with a newline."""
    row: int | None
    """The 1-based source line ``text`` reproduces verbatim, or None when it is not verbatim."""
    position: int
    """Where it sorts among the file's pieces (its symbol's first line)."""
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
    """1-based inclusive ranges of source lines that appear verbatim in the pack's text."""
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


@dataclass
class _Piece:
    start: float
    end: int
    text: str
    verbatim: bool
    is_marker: bool = False
    chunk: bool = False


def _skeleton_rows(outline: FileOutline, row_text: dict[int, str]) -> list[tuple[int | None, int, str]] | None:
    """Split a skeleton into (row or None for a marker, anchor row, line); None if it cannot be aligned."""
    kept = [r for start, end in outline.skeleton_lines for r in range(start, end + 1)]
    out: list[tuple[int | None, int, str]] = []
    j = 0
    anchor = 0
    for line in split_lines(outline.skeleton):
        if j < len(kept):
            row = kept[j]
            orig = row_text.get(row)
            if (orig is not None and (line == orig or line == orig + "\n")) or (orig is None and not line.strip()):
                out.append((row, row, line))
                anchor = row
                j += 1
                continue
        out.append((None, anchor, line))
    return out if j == len(kept) else None


def _row_text(chunks: list[ChunkText]) -> dict[int, str]:
    rows: dict[int, str] = {}
    for chunk in chunks:
        for offset, line in enumerate(split_lines(chunk.text)):
            rows[chunk.start_line + offset] = line
    return rows


def render_file_body(plan: FilePlan, tokenizer: str) -> tuple[str, list[PackItem]]:
    """The file's content (ending with a newline, or empty) and its items."""
    path = plan.path
    chunks = sorted((c for c, _ in plan.chunks.values()), key=lambda c: c.start_line)
    if plan.is_full:
        body = _join_pieces(plan, [_Piece(c.start_line, c.end_line, c.text, True, chunk=True) for c in chunks])
        lines = merge_ranges([(c.start_line, c.end_line) for c in chunks])
        score = max(s for _, s in plan.chunks.values())
        return body, [PackItem(path, "full", lines, "", score, sum(c.tokens for c in chunks))]

    pieces: list[_Piece] = [_Piece(c.start_line, c.end_line, c.text, True, chunk=True) for c in chunks]
    items: list[PackItem] = []
    covered = sorted((c.start_line, c.end_line) for c in chunks)
    starts = [s for s, _ in covered]

    def is_covered(row: int) -> bool:
        i = bisect.bisect_right(starts, row) - 1
        return i >= 0 and covered[i][1] >= row

    if plan.skeleton is not None:
        outline, score = plan.skeleton
        if not chunks:
            text, lines = outline.skeleton, outline.skeleton_lines
            if text:
                first = lines[0][0] if lines else 1
                pieces.append(_Piece(first, lines[-1][1] if lines else first, text, True))
                items.append(PackItem(path, "skeleton", lines, "", score, outline.skeleton_tokens))
        else:
            rows = _skeleton_rows(outline, _row_text(plan.all_chunks))
            if rows is not None:
                kept_rows: list[int] = []
                parts: list[str] = []
                for row, anchor, line in rows:
                    if is_covered(anchor):
                        continue
                    if row is None:
                        pieces.append(_Piece(anchor + 0.5, anchor, line, False, is_marker=True))
                    else:
                        pieces.append(_Piece(row, row, line if line.endswith("\n") else line + "\n", True))
                        kept_rows.append(row)
                    parts.append(line)
                if kept_rows:
                    items.append(PackItem(path, "skeleton", _ranges_of_rows(kept_rows), "", score,
                                              count_tokens("".join(parts), tokenizer)))

    for sig in plan.signatures:
        if sig.row is not None and is_covered(sig.row):
            continue
        pieces.append(_Piece(sig.position, sig.row or sig.position, sig.text, sig.row is not None))
        items.append(PackItem(path, "signature", ((sig.row, sig.row),) if sig.row is not None else (),
                                  sig.symbol, sig.score, sig.tokens))

    for chunk, score in sorted(plan.chunks.values(), key=lambda cs: cs[0].start_line):
        items.append(PackItem(path, "chunk", ((chunk.start_line, chunk.end_line),), chunk.symbol,
                                  score, chunk.tokens))
    if not pieces:
        score = plan.path_score if plan.path_score is not None else 0.0
        return "", [PackItem(path, "path", (), "", score, count_tokens(path, tokenizer))]
    pieces.sort(key=lambda p: (p.start, 0 if p.verbatim else 1))
    items.sort(key=lambda it: (0 if it.kind == "skeleton" else 1, it.lines[0][0] if it.lines else 0))
    return _join_pieces(plan, pieces), items


def _join_pieces(plan: FilePlan, pieces: list[_Piece]) -> str:
    """Concatenate pieces in line order with gap markers where non-blank lines are left out."""
    spans = [(c.start_line, c.end_line) for c in plan.all_chunks]
    ends = [e for _, e in spans]

    def has_text(first: int, last: int) -> bool:
        if first > last:
            return False
        i = bisect.bisect_left(ends, first)
        return i < len(spans) and spans[i][0] <= last

    out: list[str] = []
    prev_end = 0
    prev_marker = False
    prev_chunk = False
    for piece in pieces:
        if piece.is_marker:
            if not prev_marker:
                out.append(piece.text)
            prev_marker = True
            prev_chunk = False
            continue
        start = int(piece.start)
        if start > prev_end + 1:
            if has_text(prev_end + 1, start - 1):
                if not prev_marker:
                    out.append(GAP)
            elif prev_chunk and piece.chunk and prev_end:
                out.append("\n")
        text = piece.text
        out.append(text if text.endswith("\n") else text + "\n")
        prev_end = max(prev_end, piece.end)
        prev_marker = False
        prev_chunk = piece.chunk
    if spans and has_text(prev_end + 1, spans[-1][1]) and not prev_marker:
        out.append(GAP)
    return "".join(out)


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


def render_block(path: str, language: str | None, body: str, fmt: str) -> str:
    if fmt == "xml":
        lang = f' language="{_attr(language)}"' if language else ""
        return f'<file path="{_attr(path)}"{lang}>{_cdata(body)}</file>\n'
    fence = _fence(body)
    return f"### {shown_path(path)}\n{fence}{_FENCE_LANGUAGES.get(language or '', '')}\n{body}{fence}\n\n"


@dataclass
class Rendered:
    text: str
    tokens: int
    items: list[PackItem]


class CountMemo:
    """Exact token counts of texts counted before, by tokenizer and a 128-bit hash of the text.

    Packs of one index render the same blocks again (a file included whole is the
    same text in every large pack), and counting is the largest cost of a large
    pack. Counts are exact whatever is remembered: a miss counts the text. At most
    ``max_entries`` are kept (about 150 bytes each); the oldest go first.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def count(self, text: str, tokenizer: str) -> int:
        if self.max_entries <= 0 or len(text) < _MEMO_MIN_CHARS:
            return count_tokens(text, tokenizer)
        key = (tokenizer, xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass")))
        cached = self._counts.get(key)
        if cached is None:
            cached = count_tokens(text, tokenizer)
            with self._lock:
                while len(self._counts) >= self.max_entries:
                    del self._counts[next(iter(self._counts))]
                self._counts[key] = cached
        return cached


_MEMO_MIN_CHARS = 64
"""Shorter texts are counted again: hashing them costs about as much."""

_memo = CountMemo(0)


def count_memo(max_entries: int) -> CountMemo:
    """The process's memo of block counts, resized to ``max_entries``."""
    global _memo
    if _memo.max_entries != max_entries:
        _memo = CountMemo(max_entries)
    return _memo


class Renderer:
    """Renders plans and counts them exactly, remembering the counts of blocks it has seen."""

    def __init__(self, tokenizer: str, fmt: str, memo: CountMemo | None = None) -> None:
        self.tokenizer = tokenizer
        self.fmt = fmt
        self._memo = memo
        self._counts: dict[str, int] = {}

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
        for plan in plans:
            body, file_items = render_file_body(plan, self.tokenizer)
            items.extend(file_items)
            if body:
                block = render_block(plan.path, plan.language, body, self.fmt)
                parts.append(block)
                tokens += self.count(block)
        tail = render_tail(self.fmt)
        if tail:
            parts.append(tail)
            tokens += self.count(tail)
        return Rendered("".join(parts), tokens, items)
