"""Structural chunking: split a file into chunks, definitions, a skeleton and tags.

``analyze(path, text)`` is the one entry point. Code in a language with a
tree-sitter grammar is cut along its definitions (:mod:`.code`), markdown along
its headings, anything else into line windows (:mod:`.text`). It never raises:
if a structural chunker fails, the file falls back to line windows with
``structural=False``.
"""

from __future__ import annotations

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
    try:
        import structlog

        structlog.get_logger(__name__).warning("chunking.fallback", path=path, language=language, error=repr(exc)[:200])
    except Exception:  # noqa: BLE001
        pass
    try:
        return analyze_plain(language, split_lines(text), text_window_lines)
    except Exception:  # noqa: BLE001
        return FileAnalysis(language, False, (), "", (), (), (), ())
