"""Structural chunking: split a file into chunks, definitions, a skeleton and tags.

``analyze(path, text)`` is the one entry point. Code in a language with a
tree-sitter grammar is cut along its definitions (:mod:`.code`), markdown along
its headings, anything else into line windows (:mod:`.text`). It never raises:
if a structural chunker fails (or a grammar hits its parse time limit), the file
falls back to line windows with ``structural=False``.

Rules every analysis keeps:

- Lines are split after ``"\n"`` only (``split_lines``); chunks are ordered, do not
  overlap, and every non-blank line is in exactly one chunk, whose ``text`` is
  exactly its lines. Blank lines at a chunk's edges are left out.
- Names are qualified with "." in every language: ``Queue.Entry.render``,
  ``geo.Shape.area`` (C++ namespace ``geo``), ``Cache.insert`` (Rust
  ``impl Cache``), ``Server.Start`` (Go receiver ``*Server``), ``Foo.bar`` for C++
  ``void Foo::bar()``, ``Repository.Repository`` for a Java constructor.
- Kinds: function, method (a function inside a class, struct, interface, enum,
  trait or impl, or a C++ out-of-class ``Foo::bar``), class (also Java records),
  interface (also Java ``@interface``), struct (also C unions), enum, trait, impl,
  type (aliases, typedefs, Go named types), module (top-level code with symbol "";
  also C++ namespaces, Rust ``mod`` and TypeScript namespaces, with their name),
  section (markdown), window (plain text).
- A class-like definition with nested definitions gives a header chunk (kind and
  symbol of the class), one chunk per nested definition, and chunks of the class
  for class-level lines between or after them; closing-bracket lines after the
  last nested definition join that definition's chunk. Comments, decorators,
  annotations and attributes directly above a definition join its chunk, and its
  ``Definition.start_line``. Functions nested in functions are part of them.
- A chunk longer than its limit is split into parts with the same kind and symbol
  (markdown sections too), preferably at a shallow statement boundary or blank line.
"""

from __future__ import annotations

import contextlib
import os

from exocortex.chunking.text import (
    Chunk,
    Definition,
    FileAnalysis,
    analyze_markdown,
    analyze_plain,
    split_lines,
)

__all__ = ["Chunk", "Definition", "FileAnalysis", "analyze", "language_for_path", "split_lines"]

_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".md": "markdown",
    ".markdown": "markdown",
}


def language_for_path(path: str) -> str | None:
    """The language a file's extension names (case-insensitive), or None."""
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())


def analyze(
    path: str,
    text: str,
    *,
    max_chunk_lines: int = 200,
    text_window_lines: int = 60,
    markdown_max_section_lines: int = 200,
) -> FileAnalysis:
    """Chunks, definitions, skeleton, references and imports of one file.

    Every non-blank line of ``text`` is in exactly one chunk, chunks are in order
    and each chunk's text is exactly its lines. Never raises.
    """
    language = language_for_path(path)
    try:
        lines = split_lines(text)
        if language is None:
            return analyze_plain(None, lines, text_window_lines)
        if language == "markdown":
            return analyze_markdown(lines, markdown_max_section_lines)
        from exocortex.chunking.code import analyze_code

        return analyze_code(language, text, lines, max_chunk_lines=max_chunk_lines)
    except Exception as exc:  # noqa: BLE001 - the contract is to never raise
        return _fallback(path, language, text, text_window_lines, exc)


def _fallback(path: str, language: str | None, text: str, text_window_lines: int, exc: Exception) -> FileAnalysis:
    with contextlib.suppress(Exception):  # logging must not break the never-raise contract
        from exocortex.log import get_logger

        get_logger(__name__).warning("chunking.fallback", path=path, language=language, error=repr(exc)[:200])
    try:
        return analyze_plain(language, split_lines(text), text_window_lines)
    except Exception:  # noqa: BLE001
        return FileAnalysis(language, False, (), "", (), (), (), ())
