"""Per-file work of an index run: read, sniff, hash, decode, chunk, count.

This module runs inside worker processes, so everything it needs arrives in
its arguments and everything it returns is columnar (Arrow tables), which
crosses the process boundary cheaply.

Identical contents (vendored copies, forks inside a monorepo) are analysed
once per process: results are cached by content hash in the engine's parsed-file
cache (``exocortex.memory.engine``), bounded in bytes, which the memory governor
may drop under pressure.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from exocortex.chunking import FileAnalysis, analyze, language_for_path
from exocortex.indexing.plan import FileJob, content_hash
from exocortex.memory.engine import EngineMemory, engine_memory
from exocortex.search.tokenize import content_term_counts, skeleton_terms, with_path_terms
from exocortex.sources.files import SkippedFile, SkipReason, decode_source, read_source
from exocortex.store.schema import CHUNKS, FILES, SYMBOLS, TOKEN_COLUMNS, text_digest
from exocortex.tokens import count_tokens


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    root: str
    tokenizers: tuple[str, ...]
    binary_sniff_bytes: int
    max_file_bytes: int
    max_chunk_lines: int
    text_window_lines: int
    markdown_max_section_lines: int
    parsed_cache_bytes: int


@dataclass(slots=True)
class BatchResult:
    files: pa.Table
    chunks: pa.Table
    symbols: pa.Table
    skipped: list[tuple[str, str, str]]  # (path, reason, detail)
    bytes_read: int
    reused: int  # files whose analysis came from the content cache


@dataclass(slots=True)
class _Analysed:
    """What a content yields, independent of the path it was found at."""

    analysis: FileAnalysis
    encoding: str
    lines: int
    chunk_tokens: dict[str, list[int]]
    chunk_terms: list[Counter[str]]
    skeleton_tokens: dict[str, int]
    cost: int


def _parsed_files(opts: ProcessOptions) -> EngineMemory:
    """This process's engine memory, its parsed-file cache sized as ``opts`` says."""
    memory = engine_memory()
    if memory.settings.parsed_bytes != opts.parsed_cache_bytes:
        memory = engine_memory(dataclasses.replace(memory.settings, parsed_bytes=opts.parsed_cache_bytes))
    return memory


def _analyse(path: str, data: bytes, opts: ProcessOptions) -> _Analysed:
    text, encoding = decode_source(data)
    analysis = analyze(
        path,
        text,
        max_chunk_lines=opts.max_chunk_lines,
        text_window_lines=opts.text_window_lines,
        markdown_max_section_lines=opts.markdown_max_section_lines,
    )
    chunk_tokens = {
        name: [count_tokens(chunk.text, name) for chunk in analysis.chunks] for name in opts.tokenizers
    }
    skeleton_tokens = {name: count_tokens(analysis.skeleton, name) for name in opts.tokenizers}
    lines = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
    chunk_terms = [content_term_counts(chunk.symbol, chunk.text) for chunk in analysis.chunks]
    return _Analysed(analysis, encoding, lines, chunk_tokens, chunk_terms, skeleton_tokens, len(data) * 3)


class _Columns:
    """Column lists for one table, turned into an Arrow table at the end."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.cols: dict[str, list[Any]] = {name: [] for name in schema.names}

    def to_table(self) -> pa.Table:
        return pa.Table.from_pydict(self.cols, schema=self.schema)


def process_batch(opts: ProcessOptions, jobs: list[FileJob]) -> BatchResult:
    """Read and analyse a batch of files; never raises for a bad file."""
    memory = _parsed_files(opts)
    files, chunks, symbols = _Columns(FILES), _Columns(CHUNKS), _Columns(SYMBOLS)
    skipped: list[tuple[str, str, str]] = []
    bytes_read = 0
    reused = 0
    for job in jobs:
        read = read_source(opts.root, job.path, opts)
        if isinstance(read, SkippedFile):
            skipped.append((job.path, read.reason, read.detail))
            if read.reason == SkipReason.BINARY:
                # Remember it, so an unchanged binary is not read again next run.
                _add_file_row(files, job.path, job.size, job.mtime_ns, "", read.reason, None, opts)
            continue
        data = read.data
        bytes_read += len(data)
        digest = content_hash(data)
        # The analysis depends on the content and, through its extension, the language.
        # And on the options it was made with: a cache outlives one run's options.
        key = (opts, digest, language_for_path(job.path))
        item = memory.parsed_get(key)
        if item is None:
            item = _analyse(job.path, data, opts)
            memory.parsed_put(key, item)
        else:
            reused += 1
        _add_file_row(files, job.path, read.size, read.mtime_ns, digest, None, item, opts)
        _add_chunk_rows(chunks, job.path, item, opts)
        _add_symbol_rows(symbols, job.path, item)
    return BatchResult(
        files=files.to_table(),
        chunks=chunks.to_table(),
        symbols=symbols.to_table(),
        skipped=skipped,
        bytes_read=bytes_read,
        reused=reused,
    )


def _add_file_row(
    files: _Columns,
    path: str,
    size: int,
    mtime_ns: int,
    digest: str,
    skip_reason: str | None,
    item: _Analysed | None,
    opts: ProcessOptions,
) -> None:
    c = files.cols
    c["path"].append(path)
    c["size"].append(size)
    c["mtime_ns"].append(mtime_ns)
    c["hash"].append(digest)
    c["skip_reason"].append(skip_reason)
    a = item.analysis if item else None
    c["language"].append(a.language if a else None)
    c["structural"].append(bool(a and a.structural))
    c["encoding"].append(item.encoding if item else None)
    c["lines"].append(item.lines if item else 0)
    c["chunks"].append(len(a.chunks) if a else 0)
    c["skeleton"].append(a.skeleton if a else None)
    c["skeleton_hash"].append(text_digest(a.skeleton) if a else None)
    c["skeleton_lines"].append([n for pair in a.skeleton_lines for n in pair] if a else None)
    c["imports"].append(list(a.imports) if a else None)
    c["references"].append(list(a.references) if a else None)
    c["skeleton_terms"].append(skeleton_terms(path, a.skeleton) if a else None)
    for name, col in TOKEN_COLUMNS.items():
        counted = item is not None and name in opts.tokenizers
        c[col].append(sum(item.chunk_tokens[name]) if counted and item else None)
        c["skeleton_" + col].append(item.skeleton_tokens[name] if counted and item else None)


def _add_chunk_rows(chunks: _Columns, path: str, item: _Analysed, opts: ProcessOptions) -> None:
    c = chunks.cols
    for ordinal, chunk in enumerate(item.analysis.chunks):
        c["path"].append(path)
        c["ordinal"].append(ordinal)
        c["start_line"].append(chunk.start_line)
        c["end_line"].append(chunk.end_line)
        c["kind"].append(chunk.kind)
        c["symbol"].append(chunk.symbol)
        c["text"].append(chunk.text)
        c["text_hash"].append(text_digest(chunk.text))
        term_list, term_counts = with_path_terms(path, item.chunk_terms[ordinal])
        c["term_list"].append(term_list)
        c["term_counts"].append(term_counts)
        for name, col in TOKEN_COLUMNS.items():
            c[col].append(item.chunk_tokens[name][ordinal] if name in opts.tokenizers else None)


def _add_symbol_rows(symbols: _Columns, path: str, item: _Analysed) -> None:
    c = symbols.cols
    for d in item.analysis.definitions:
        c["path"].append(path)
        c["name"].append(d.name)
        c["kind"].append(d.kind)
        c["start_line"].append(d.start_line)
        c["end_line"].append(d.end_line)
        c["signature"].append(d.signature)
        c["signature_hash"].append(text_digest(d.signature))
