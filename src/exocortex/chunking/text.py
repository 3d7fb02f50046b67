"""Chunk records, line handling, line windows and markdown sections.

This module holds the vocabulary shared by every chunker (``Chunk``,
``Definition``, ``FileAnalysis``) and the chunkers that need no grammar:
line windows for plain text and heading sections for markdown.

Lines are split after ``"\\n"`` only (a ``"\\r\\n"`` line keeps its ``"\\r"``),
exactly as tree-sitter counts rows, so line numbers agree across chunkers.
A line is *blank* when ``line.strip() == ""``; blank lines may be left out
of chunks, every other line is in exactly one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Chunk",
    "Definition",
    "FileAnalysis",
    "analyze_markdown",
    "analyze_plain",
    "split_lines",
]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole source lines that is retrieved and packed as one unit."""

    start_line: int
    """1-based, inclusive."""
    end_line: int
    """1-based, inclusive."""
    kind: str
    """function, method, class, interface, struct, enum, trait, impl, type, module,
    section (markdown) or window (plain text)."""
    symbol: str
    """Qualified name ("Foo.bar"); "" for top-level module code and windows;
    the heading text for markdown sections."""
    text: str
    """Exactly the source lines start_line..end_line with their line endings."""


@dataclass(frozen=True, slots=True)
class Definition:
    """One definition with its full extent (a class spans all its methods)."""

    name: str
    kind: str
    start_line: int
    end_line: int
    signature: str
    """The header as written, without the body; line breaks inside it are joined."""


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """Everything the index keeps about one file's structure."""

    language: str | None
    structural: bool
    chunks: tuple[Chunk, ...]
    skeleton: str
    skeleton_lines: tuple[tuple[int, int], ...]
    definitions: tuple[Definition, ...]
    references: tuple[str, ...]
    imports: tuple[str, ...]


# A chunk while it is being built: 0-based inclusive rows, kind, symbol.
Span = tuple[int, int, str, str]


def split_lines(text: str) -> list[str]:
    """Split after each ``"\\n"``, keeping the endings; no empty last line."""
    parts = text.split("\n")
    last = parts.pop()
    lines = [p + "\n" for p in parts]
    if last:
        lines.append(last)
    return lines


def is_blank(line: str) -> bool:
    return not line.strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _cut_row(lines: list[str], first: int, last: int, size: int) -> int:
    """Pick the last row of a part that starts at ``first`` (part ends <= ``last``).

    The cut is searched in the second half of the part: prefer a cut after which
    the next line is indented least (a statement boundary at the shallowest
    level), then a cut right after a blank line, then the latest cut.
    """
    hi = min(first + size - 1, last - 1)
    lo = max(first, first + size // 2 - 1)
    if lo > hi:
        lo = hi
    best_row = hi
    best_key: tuple[int, int] | None = None
    for row in range(hi, lo - 1, -1):
        nxt = lines[row + 1]
        if is_blank(nxt):
            continue  # a part never starts with a blank line; the search moves on
        key = (_indent(nxt), 0 if is_blank(lines[row]) else 1)
        if best_key is None or key < best_key:
            best_key = key
            best_row = row
            if key == (0, 0):
                break
    return best_row


def split_span(lines: list[str], span: Span, size: int, out: list[Span]) -> None:
    """Append ``span`` to ``out`` trimmed of blank edges, split into parts of at most
    ``size`` lines (same kind and symbol) when longer."""
    start, end, kind, symbol = span
    size = max(1, size)
    while start <= end and is_blank(lines[start]):
        start += 1
    while end >= start and is_blank(lines[end]):
        end -= 1
    while start <= end:
        if end - start + 1 <= size:
            out.append((start, end, kind, symbol))
            return
        cut = _cut_row(lines, start, end, size)
        part_end = cut
        while part_end > start and is_blank(lines[part_end]):
            part_end -= 1
        out.append((start, part_end, kind, symbol))
        start = cut + 1
        while start <= end and is_blank(lines[start]):
            start += 1


def spans_to_chunks(lines: list[str], spans: list[Span]) -> tuple[Chunk, ...]:
    return tuple(Chunk(s + 1, e + 1, kind, symbol, "".join(lines[s : e + 1])) for s, e, kind, symbol in spans)


def ranges_of(rows: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted 0-based rows -> 1-based inclusive ranges of consecutive rows."""
    out: list[tuple[int, int]] = []
    for r in rows:
        if out and out[-1][1] == r:  # previous range ends at r (1-based r == 0-based r + 1 - 1)
            out[-1] = (out[-1][0], r + 1)
        else:
            out.append((r + 1, r + 1))
    return tuple(out)


# --- plain text ---------------------------------------------------------------


def window_spans(lines: list[str], size: int) -> list[Span]:
    spans: list[Span] = []
    if lines:
        split_span(lines, (0, len(lines) - 1, "window", ""), size, spans)
    return spans


def analyze_plain(language: str | None, lines: list[str], text_window_lines: int) -> FileAnalysis:
    """Line windows: no grammar, no definitions, empty skeleton."""
    return FileAnalysis(
        language=language,
        structural=False,
        chunks=spans_to_chunks(lines, window_spans(lines, text_window_lines)),
        skeleton="",
        skeleton_lines=(),
        definitions=(),
        references=(),
        imports=(),
    )


# --- markdown -----------------------------------------------------------------

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_CODE_SPAN = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*)*)(?:\(\))?`")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def markdown_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(row, level, text) of each ATX heading outside fenced code blocks."""
    headings: list[tuple[int, int, str]] = []
    fence_char = ""
    fence_len = 0
    for row, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        if fence_char:
            m = _FENCE.fullmatch(line)
            if m and m.group(1)[0] == fence_char and len(m.group(1)) >= fence_len and not m.group(2).strip():
                fence_char = ""
            continue
        m = _FENCE.fullmatch(line)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence_char, fence_len = m.group(1)[0], len(m.group(1))
            continue
        m = _ATX.fullmatch(line)
        if m:
            title = _CLOSING_HASHES.sub("", m.group(2) or "").strip()
            headings.append((row, len(m.group(1)), title))
    return headings


def analyze_markdown(lines: list[str], markdown_max_section_lines: int) -> FileAnalysis:
    """Sections by ATX heading; the text before the first heading is a module chunk."""
    headings = markdown_headings(lines)
    n = len(lines)
    spans: list[Span] = []
    first = headings[0][0] if headings else n
    if first > 0:
        split_span(lines, (0, first - 1, "module", ""), markdown_max_section_lines, spans)
    definitions: list[Definition] = []
    for i, (row, level, title) in enumerate(headings):
        end = headings[i + 1][0] - 1 if i + 1 < len(headings) else n - 1
        split_span(lines, (row, end, "section", title), markdown_max_section_lines, spans)
        full_end = n - 1
        for row2, level2, _ in headings[i + 1 :]:
            if level2 <= level:
                full_end = row2 - 1
                break
        while full_end > row and is_blank(lines[full_end]):
            full_end -= 1
        definitions.append(Definition(title, "section", row + 1, full_end + 1, lines[row].strip()))
    heading_rows = [h[0] for h in headings]
    skeleton = "".join(lines[r] if lines[r].endswith("\n") else lines[r] + "\n" for r in heading_rows)
    refs: set[str] = set()
    for raw in lines:
        if "`" in raw:
            for span in _CODE_SPAN.findall(raw):
                refs.update(_IDENT.findall(span))
    return FileAnalysis(
        language="markdown",
        structural=True,
        chunks=spans_to_chunks(lines, spans),
        skeleton=skeleton,
        skeleton_lines=ranges_of(heading_rows),
        definitions=tuple(definitions),
        references=tuple(sorted(refs)),
        imports=(),
    )
