"""Structural chunking of source code with tree-sitter.

One parse per file, then three cheap steps:

1. **Walk the outline.** Only the direct children of the file and of class-like
   bodies are visited (function bodies never are), each classified by the
   language's table in :mod:`exocortex.chunking.languages` as a definition, an
   import, a comment, a plain statement or a transparent frame (``if
   TYPE_CHECKING:``, ``try:``, ``#ifdef``, ``extern "C" {``) whose children are
   walked as if they stood outside it.  Comment, decorator and attribute lines
   directly above a definition (no blank line between) join it.
2. **Chunks.** A leaf definition (function, method, struct without methods...) is
   one chunk. A class-like definition with nested definitions is cut into a header
   chunk (its lines up to the first nested definition, kind and symbol of the
   class), one chunk per nested definition ("Class.method"), and chunks of the
   class for class-level lines between or after them.  A run of lines that only
   closes brackets (``}``, ``};``) after the last method joins that method's chunk
   instead of standing alone.  Code outside any definition forms "module"
   chunks (symbol "").  Anything longer than ``max_chunk_lines`` is split into
   parts with the same kind and symbol, preferably at a shallow statement
   boundary or a blank line.
3. **Skeleton.** Imports, short statements, definition headers (decorators and
   doc comments included), the start of each Python docstring, class-level
   short statements (fields) and the nested definitions' headers are kept
   verbatim; each elided body becomes one marker line indented like the body;
   the closing-brace line of a body is kept.

References and imports come from one tree-sitter query per language, run in C.

Parsing goes through a read callback so that it can be cancelled after a time
limit (a grammar's error recovery can loop on rare garbage). Trees parsed that
way must not be read with ``Node.text`` or text predicates (``#eq?``): py-tree-sitter
crashes. All text is sliced from the source bytes by byte offsets instead.
"""

from __future__ import annotations

import re
import threading
import time

from tree_sitter import Node, QueryCursor, Tree

from exocortex.chunking.languages import (
    COMMENT,
    FRAME,
    IMPORT,
    SPECS,
    STMT,
    Def,
    LanguageSpec,
    clean_import,
    first_named,
    required_module,
)
from exocortex.chunking.text import (
    Definition,
    FileAnalysis,
    Span,
    is_blank,
    ranges_of,
    spans_to_chunks,
    split_span,
)

__all__ = ["CODE_LANGUAGES", "ParseTimeoutError", "analyze_code", "parse_tree"]

CODE_LANGUAGES = frozenset(SPECS)

DEF = 4
"""Unit tag for a definition (the other tags come from ``languages``)."""

SKELETON_STMT_MAX_LINES = 3
"""A statement outside any function at most this long is kept whole in the skeleton."""
SKELETON_DOC_MAX_LINES = 5
"""A docstring is kept up to its first blank line, at most this many lines."""
SKELETON_MAX_LINE_CHARS = 400
"""Longer lines (minified code, data) never go into a skeleton."""
MAX_FRAME_DEPTH = 64
"""Frames and class-like bodies nested deeper than this are not walked further."""
PARSE_TIMEOUT_BASE_S = 1.0
PARSE_TIMEOUT_BYTES_PER_S = 250_000
"""A parse is cancelled after PARSE_TIMEOUT_BASE_S + size / PARSE_TIMEOUT_BYTES_PER_S seconds
(normal parses run at several MB/s)."""
_READ_CHUNK_BYTES = 1 << 20


class _ReadBuffer(threading.local):
    """One reusable buffer per thread that the parser reads the source through.

    tree-sitter 0.26's Python binding never releases what a read callback returns (measured: every
    byte of every file parsed stayed in memory, about 150 MB of each index worker's peak on 50,000 files, and
    without end in a long-running server). The callback therefore copies each piece of the source
    into this one buffer and returns a view of it: what leaks is a small view object per call, not
    the source. The C API only reads a returned piece until the next call, so reusing it is safe.
    """

    def __init__(self) -> None:
        self.data = bytearray(_READ_CHUNK_BYTES)
        self.view = memoryview(self.data)


_read_buffer = _ReadBuffer()

_CLOSER = re.compile(r"\s*[)\]}][)\]};,\s]*(?://.*|/\*.*\*/)?\s*")


def _is_closer(line: str) -> bool:
    return _CLOSER.fullmatch(line) is not None


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _one_line(raw: str) -> str:
    """Join a multi-line header into one line."""
    parts = [p.strip() for p in raw.strip().splitlines()]
    out = parts[0] if parts else ""
    for part in parts[1:]:
        if not part:
            continue
        if out.endswith(("(", "[", "<")) or part.startswith((")", "]", ">", ",")):
            out += part
        else:
            out += " " + part
    return out


class _Unit:
    """One classified child of a file or class-like body."""

    __slots__ = ("tag", "start", "end", "kind", "name", "hdr_end", "doc", "children")

    def __init__(self, tag: int, start: int, end: int) -> None:
        self.tag = tag
        self.start = start  # 0-based first row (attached comments included for definitions)
        self.end = end  # 0-based last row
        self.kind = ""
        self.name = ""
        self.hdr_end = end  # last row of a definition's header
        self.doc: tuple[int, int] | None = None  # Python docstring rows
        self.children: list[_Unit] | None = None  # members of a class-like definition


class _FileChunker:
    def __init__(self, spec: LanguageSpec, src: bytes, lines: list[str], max_chunk_lines: int):
        self.spec = spec
        self.src = src
        self.lines = lines
        self.last_row = len(lines) - 1
        self.max_lines = max(1, max_chunk_lines)
        self.prev_end = -1
        self.definitions: list[Definition] = []

    # --- 1. outline ----------------------------------------------------------

    def _rows(self, node: Node) -> tuple[int, int]:
        """0-based first and last row of a node (a node ending at column 0 ends on the row before)."""
        start = node.start_point[0]
        end, column = node.end_point
        if column == 0 and end > start:
            end -= 1
        last = self.last_row
        return (start if start < last else last), (end if end < last else last)

    def walk(
        self,
        nodes: list[Node],
        parent_kind: str | None,
        parent_name: str,
        prefix: str,
        out: list[_Unit],
        depth: int,
    ) -> None:
        spec = self.spec
        comment_types = spec.comment_types
        classify = spec.classify
        rows = self._rows
        docstrings = spec.python_docstrings
        first_statement = True
        for node in nodes:
            t = node.type
            if t in comment_types:
                start, end = rows(node)
                out.append(_Unit(COMMENT, start, end))
                continue
            got = classify(node, t, parent_kind, parent_name, self.src)
            if got.__class__ is Def:
                if got.name:
                    self._add_def(got, prefix, out, depth)
                    first_statement = False
                    continue
                got = STMT
            start, end = rows(node)
            if got.__class__ is tuple:
                if depth < MAX_FRAME_DEPTH:
                    out.append(_Unit(FRAME, start, end))
                    if start > self.prev_end:
                        self.prev_end = start
                    self.walk(got[1], parent_kind, parent_name, prefix, out, depth + 1)
                    if end > self.prev_end:
                        self.prev_end = end
                    first_statement = False
                    continue
                got = STMT
            unit = _Unit(got, start, end)  # type: ignore[arg-type]
            if docstrings and first_statement and t == "expression_statement":
                child = first_named(node)
                if child is not None and child.type in ("string", "concatenated_string"):
                    unit.doc = (start, end)
            first_statement = False
            out.append(unit)
            if end > self.prev_end:
                self.prev_end = end

    def _attach(self, row: int) -> int:
        """First row of the comments/decorators directly above ``row``."""
        lines = self.lines
        lb = self.prev_end + 1
        prefixes = self.spec.attach_prefixes
        block = self.spec.block_comments
        r = row - 1
        while r >= lb:
            s = lines[r].strip()
            if not s:
                break
            if block and s.endswith("*/"):
                k = r
                while k >= lb and "/*" not in lines[k]:
                    k -= 1
                if k < lb:
                    break
                r = k - 1
                continue
            if s.startswith(prefixes):
                r -= 1
                continue
            break
        return r + 1

    def _add_def(self, d: Def, prefix: str, out: list[_Unit], depth: int) -> None:
        node_start, end = self._rows(d.extent)
        start = self._attach(node_start)
        qual = f"{prefix}.{d.name}" if prefix else d.name
        unit = _Unit(DEF, start, end)
        unit.kind = d.kind
        unit.name = qual
        inner = d.inner
        body = d.body
        inner_start = inner.start_byte
        if body is None:
            sig_raw = self.src[inner_start : inner.end_byte]
            if len(sig_raw) > 400 or sig_raw.count(b"\n") > 2:
                sig_raw = sig_raw.split(b"\n", 1)[0]
        else:
            open_byte = d.body_start if d.body_start >= 0 else body.start_byte
            sig_raw = self.src[inner_start:open_byte]
            inner_row = inner.start_point[0] if inner is not d.extent else node_start
            if self.spec.brace:
                # the body opens on the header's last row
                hdr_end = inner_row + sig_raw.count(b"\n")
                sig_raw = sig_raw.rstrip()
            else:
                # Python: the block starts at its first statement; the header ends at
                # the colon, comments after it belong to the body
                sig_raw = sig_raw.rstrip()
                while b"\n" in sig_raw:
                    head, _, tail = sig_raw.rpartition(b"\n")
                    if not tail.lstrip().startswith(b"#"):
                        break
                    sig_raw = head.rstrip()
                hdr_end = inner_row + sig_raw.count(b"\n")
                first = first_named(body)
                if first is not None and first.type == "expression_statement":
                    child = first_named(first)
                    if child is not None and child.type in ("string", "concatenated_string"):
                        unit.doc = self._rows(first)
            unit.hdr_end = hdr_end if hdr_end < end else end
        signature = sig_raw.decode("utf-8", "replace")
        signature = _one_line(signature) if "\n" in signature else signature.strip()
        self.definitions.append(Definition(qual, d.kind, start + 1, end + 1, signature))
        if d.members is not None and depth < MAX_FRAME_DEPTH:
            children: list[_Unit] = []
            self.prev_end = unit.hdr_end
            self.walk(d.members.named_children, d.kind, d.name, qual, children, depth + 1)
            unit.children = children
        if end > self.prev_end:
            self.prev_end = end
        out.append(unit)

    # --- 2. chunks --------------------------------------------------------------

    def emit(self, units: list[_Unit], start: int, end: int, kind: str, symbol: str, spans: list[Span]) -> None:
        cursor = start
        lines = self.lines
        size = self.max_lines
        emitted = False
        for u in units:
            if u.tag != DEF:
                continue
            s = max(u.start, cursor)
            e = min(u.end, end)
            if e < s:
                continue
            if s > cursor:
                split_span(lines, (cursor, s - 1, kind, symbol), size, spans)
            children = u.children
            if children and any(c.tag == DEF for c in children):
                self.emit(children, s, e, u.kind, u.name, spans)
            else:
                split_span(lines, (s, e, u.kind, u.name), size, spans)
            cursor = e + 1
            emitted = True
        if cursor > end:
            return
        a, b = cursor, end
        while a <= b and is_blank(lines[a]):
            a += 1
        while b >= a and is_blank(lines[b]):
            b -= 1
        if a > b:
            return
        if emitted and spans:
            ls, _, lkind, lsym = spans[-1]
            if b - ls < size and all(_is_closer(lines[r]) or is_blank(lines[r]) for r in range(a, b + 1)):
                spans[-1] = (ls, b, lkind, lsym)
                return
        split_span(lines, (a, b, kind, symbol), size, spans)

    # --- 3. skeleton ------------------------------------------------------------

    def skeleton(self, units: list[_Unit]) -> tuple[str, tuple[tuple[int, int], ...]]:
        self.kept: set[int] = set()
        self.markers: list[tuple[int, str]] = []
        self._skel_units(units)
        lines = self.lines
        self.kept = {r for r in self.kept if len(lines[r]) <= SKELETON_MAX_LINE_CHARS}
        items: list[tuple[int, int, str]] = [(r, 0, lines[r]) for r in self.kept]
        items.extend((r, 1, text) for r, text in self.markers)
        items.sort()
        parts: list[str] = []
        last_was_marker = False
        for _, is_marker, text in items:
            if is_marker:
                if last_was_marker:
                    continue
                last_was_marker = True
            else:
                last_was_marker = False
            if parts and not parts[-1].endswith("\n"):
                parts[-1] += "\n"
            parts.append(text)
        return "".join(parts), ranges_of(sorted(self.kept))

    def _keep(self, a: int, b: int) -> None:
        self.kept.update(range(a, b + 1))

    def _marker(self, after: int, first: int, last: int) -> bool:
        """Add a marker after row ``after`` for rows first..last if any is not blank."""
        lines = self.lines
        for r in range(first, last + 1):
            if not is_blank(lines[r]):
                self.markers.append((after, _leading_ws(lines[r]).replace("\r", "") + self.spec.marker + "\n"))
                return True
        return False

    def _skel_doc(self, s: int, e: int) -> int:
        """Keep a docstring's first paragraph; return the last row kept."""
        lines = self.lines
        if e - s + 1 <= SKELETON_DOC_MAX_LINES:
            self._keep(s, e)
            return e
        last = s
        while last + 1 <= min(e, s + SKELETON_DOC_MAX_LINES - 1) and not is_blank(lines[last + 1]):
            last += 1
        self._keep(s, last)
        return last

    def _skel_units(self, units: list[_Unit]) -> None:
        lines = self.lines
        for i, u in enumerate(units):
            tag = u.tag
            if tag == DEF:
                self._skel_def(u)
            elif tag == IMPORT:
                self._keep(u.start, u.end)
            elif tag == STMT:
                if u.doc is not None:
                    last = self._skel_doc(u.start, u.end)
                    if last < u.end:
                        self._marker(last, last + 1, u.end)
                elif u.end - u.start < SKELETON_STMT_MAX_LINES:
                    self._keep(u.start, u.end)
                else:
                    self._keep(u.start, u.start)
                    closer = _is_closer(lines[u.end])
                    self._marker(u.start, u.start + 1, u.end - 1 if closer else u.end)
                    if closer:
                        self.kept.add(u.end)
            elif tag == FRAME:
                row = u.start
                for v in units[i + 1 :]:
                    if v.start > u.end:
                        break
                    for r in range(row, v.start):
                        if not is_blank(lines[r]):
                            self.kept.add(r)
                    row = max(row, v.end + 1)
                for r in range(row, u.end + 1):
                    if not is_blank(lines[r]):
                        self.kept.add(r)

    def _skel_def(self, u: _Unit) -> None:
        lines = self.lines
        self._keep(u.start, u.hdr_end)
        last = u.hdr_end
        if u.doc is not None and u.doc[0] > last:
            last = self._skel_doc(*u.doc)
        closer = -1
        # a class-like body's last line is kept whatever it holds (`} point_t;`),
        # a function body's when it starts by closing a bracket
        if (
            self.spec.brace
            and u.end > last
            and (u.children is not None or lines[u.end].lstrip()[:1] in ("}", ")", "]"))
        ):
            closer = u.end
        if u.children is not None:
            self._skel_units([c for c in u.children if c.start > u.hdr_end or c.tag == DEF])
        else:
            self._marker(last, last + 1, closer - 1 if closer >= 0 else u.end)
        if closer >= 0:
            self.kept.add(closer)


def _references(spec: LanguageSpec, src: bytes, captures: dict[str, list[Node]]) -> tuple[str, ...]:
    raw = {src[n.start_byte : n.end_byte] for n in captures.get("ref", ())}
    keywords = spec.keywords
    names = {r.decode("utf-8", "replace").strip() for r in raw if r}
    return tuple(sorted(n for n in names if n and n not in keywords))


def _imports(spec: LanguageSpec, src: bytes, captures: dict[str, list[Node]]) -> tuple[str, ...]:
    found = [(n.start_byte, clean_import(spec.name, n, src)) for n in captures.get("import", ())]
    found.extend((n.start_byte, required_module(n, src)) for n in captures.get("require", ()))
    found.sort()
    return tuple(dict.fromkeys(name for _, name in found if name))


class ParseTimeoutError(RuntimeError):
    """The grammar did not finish parsing in time (some grammars loop on rare garbage)."""


def parse_tree(language: str, src: bytes) -> Tree:
    """Parse ``src`` with the language's cached parser, giving up after a time limit.

    Error recovery in some grammars can loop (and grow memory) on rare inputs;
    tree-sitter-typescript's TSX grammar does on a 33-byte string. The parse is
    cancelled once it runs ``PARSE_TIMEOUT_BASE_S`` plus one second per
    ``PARSE_TIMEOUT_BYTES_PER_S`` bytes, far beyond a normal parse.
    """
    parser = SPECS[language].parser()
    view = memoryview(src)
    buffer = _read_buffer
    size = len(src)
    deadline = time.monotonic() + PARSE_TIMEOUT_BASE_S + size / PARSE_TIMEOUT_BYTES_PER_S
    monotonic = time.monotonic

    def read(offset: int, _point: object) -> memoryview:
        n = max(0, min(_READ_CHUNK_BYTES, size - offset))
        buffer.data[:n] = view[offset : offset + n]
        return buffer.view[:n]

    def too_long(_offset: int, _has_error: bool) -> bool:
        return monotonic() > deadline

    try:
        return parser.parse(read, progress_callback=too_long)
    except ValueError as exc:
        parser.reset()
        raise ParseTimeoutError(f"{language} parse cancelled after the time limit") from exc


def analyze_code(language: str, text: str, lines: list[str], *, max_chunk_lines: int) -> FileAnalysis:
    """Parse ``text`` (already split into ``lines``) and build its analysis."""
    spec = SPECS[language]
    src = text.encode("utf-8", "surrogatepass")
    tree = parse_tree(language, src)
    root = tree.root_node
    chunker = _FileChunker(spec, src, lines, max_chunk_lines)
    units: list[_Unit] = []
    if lines:
        chunker.walk(root.named_children, None, "", "", units, 0)
    spans: list[Span] = []
    if lines:
        chunker.emit(units, 0, len(lines) - 1, "module", "", spans)
    skeleton, skeleton_lines = chunker.skeleton(units)
    captures = QueryCursor(spec.query()).captures(root)
    return FileAnalysis(
        language=language,
        structural=True,
        chunks=spans_to_chunks(lines, spans),
        skeleton=skeleton,
        skeleton_lines=skeleton_lines,
        definitions=tuple(chunker.definitions),
        references=_references(spec, src, captures),
        imports=_imports(spec, src, captures),
    )
