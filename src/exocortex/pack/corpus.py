"""What a pack is made of, read from a store snapshot in bulk.

``PackCorpus`` loads, for a set of paths at a time, every chunk (with its text
and token count), the file's skeleton and the signatures of its symbols. Reads
are batched ``path IN (...)`` scans, or one scan of the whole table when most
of the index is wanted; there is never one query per chunk.

Token counts come from the store's per-chunk column for the chosen tokenizer;
where the index did not count with it (a null), the text is counted here.

A process that packs from the same store snapshot more than once (a server, an
agent loop, a benchmark) reads the snapshot whole, once, into columns held in
memory (``_SnapshotColumns``); later packs of that snapshot read nothing from
disk. The snapshot is named by the store path, its tables' committed versions
and the commit time, so a new commit is never served stale data. Only the most
recent snapshot is held.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc

from exocortex.store.schema import TOKEN_COLUMNS
from exocortex.tokens import count_tokens

_PATHS_PER_QUERY = 1000
"""Paths per ``path IN (...)`` predicate."""
_WHOLE_TABLE_FRACTION = 0.25
"""Past this fraction of the index's files, one scan of the whole table is cheaper."""


@dataclass(frozen=True, slots=True)
class ChunkText:
    """One chunk of a file: the unit a pack includes in full."""

    path: str
    ordinal: int
    start_line: int
    end_line: int
    kind: str
    symbol: str
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class FileOutline:
    """What a pack knows about a file besides its chunks."""

    path: str
    language: str | None
    skeleton: str
    skeleton_lines: tuple[tuple[int, int], ...]
    """1-based inclusive ranges of original lines that appear verbatim in ``skeleton``."""
    skeleton_tokens: int


def _sql_list(values: Iterable[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


_CHUNK_COLUMNS = ["path", "ordinal", "start_line", "end_line", "kind", "symbol", "text"]
_FILE_COLUMNS = ["path", "language", "skip_reason", "skeleton", "skeleton_lines"]


def _outline(path: str, language: str | None, skeleton: str | None, flat: list[int] | None,
             count: int | None, tokenizer: str) -> FileOutline:
    skeleton = skeleton or ""
    flat = flat or []
    ranges = tuple((flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2))
    if count is None:
        count = count_tokens(skeleton, tokenizer)
    return FileOutline(path, language, skeleton, ranges, count)


class _SnapshotColumns:
    """A whole store snapshot's chunks, outlines and signatures, held for repeated packs.

    Chunk columns are plain lists sorted by (path, ordinal); the ``ChunkText``
    objects of a file are made the first time a pack asks for that file.
    """

    def __init__(self, reader: Any, tokenizer: str) -> None:
        self.tokenizer = tokenizer
        column = TOKEN_COLUMNS[tokenizer]
        rows = reader.read("chunks", [*_CHUNK_COLUMNS, column])
        # Sort row numbers, not the rows: moving the texts would cost more than the read.
        order = pc.sort_indices(rows.select(["path", "ordinal"]),
                                sort_keys=[("path", "ascending"), ("ordinal", "ascending")]).to_pylist()
        self._cols = {name: rows.column(name).to_pylist() for name in _CHUNK_COLUMNS}
        self._counts: list[int | None] = rows.column(column).to_pylist()
        self._order: list[int] = order
        self._rows: dict[str, tuple[int, int]] = {}
        paths = self._cols["path"]
        start = 0
        for i in range(1, len(order) + 1):
            if i == len(order) or paths[order[i]] != paths[order[start]]:
                self._rows[paths[order[start]]] = (start, i)
                start = i
        self._chunks: dict[str, list[ChunkText]] = {}

        skeleton_column = "skeleton_" + column
        rows = reader.read("files", [*_FILE_COLUMNS, skeleton_column])
        cols = [rows.column(name).to_pylist() for name in _FILE_COLUMNS]
        skel_counts = rows.column(skeleton_column).to_pylist()
        # Outlines are made on first use; here only where each file's row is.
        self._file_rows = {path: i for i, (path, skip) in enumerate(zip(cols[0], cols[2], strict=True))
                           if skip is None}
        self._file_cols = cols + [skel_counts]
        self._files: dict[str, FileOutline] = {}

        rows = reader.read("symbols", ["path", "name", "signature"])
        # The first signature of a (path, name) wins, as in PackCorpus._read: build from the end.
        keys = zip(reversed(rows.column("path").to_pylist()), reversed(rows.column("name").to_pylist()),
                   strict=True)
        self.signatures: dict[tuple[str, str], str] = dict(
            zip(keys, reversed(rows.column("signature").to_pylist()), strict=True)
        )

    def outline(self, path: str) -> FileOutline | None:
        outline = self._files.get(path)
        if outline is None:
            row = self._file_rows.get(path)
            if row is None:
                return None
            _, language, _, skeleton, flat, count = (col[row] for col in self._file_cols)
            outline = self._files[path] = _outline(path, language, skeleton, flat, count, self.tokenizer)
        return outline

    def chunks_of(self, path: str) -> list[ChunkText]:
        chunks = self._chunks.get(path)
        if chunks is None:
            span = self._rows.get(path)
            if span is None:
                return []
            c, counts = self._cols, self._counts
            chunks = []
            for i in self._order[span[0] : span[1]]:
                count = counts[i]
                if count is None:
                    count = count_tokens(c["text"][i], self.tokenizer)
                chunks.append(ChunkText(path, c["ordinal"][i], c["start_line"][i], c["end_line"][i],
                                        c["kind"][i], c["symbol"][i], c["text"][i], count))
            self._chunks[path] = chunks
        return chunks


_SNAPSHOT_LOCK = threading.Lock()
_snapshot_key: tuple[Any, ...] | None = None
_snapshot_seen = 0
_snapshot: _SnapshotColumns | None = None


def _held_snapshot(reader: Any, tokenizer: str) -> _SnapshotColumns | None:
    """The held columns of ``reader``'s snapshot, read whole on its second pack in this process."""
    global _snapshot_key, _snapshot_seen, _snapshot
    meta = getattr(reader, "meta", None)
    path = getattr(reader, "path", None)
    if meta is None or path is None:
        return None
    key = (str(path), tuple(sorted(meta.tables.items())), meta.updated_at, tokenizer)
    with _SNAPSHOT_LOCK:
        if key != _snapshot_key:
            _snapshot_key, _snapshot_seen, _snapshot = key, 0, None
        _snapshot_seen += 1
        if _snapshot is None and _snapshot_seen >= 2:
            _snapshot = _SnapshotColumns(reader, tokenizer)
        return _snapshot


class PackCorpus:
    """Chunks, skeletons and signatures of the files a pack touches, loaded on demand."""

    def __init__(self, reader: Any, tokenizer: str) -> None:
        self.reader = reader
        self.tokenizer = tokenizer
        self._column = TOKEN_COLUMNS[tokenizer]
        self._skeleton_column = "skeleton_" + self._column
        self._chunks: dict[str, list[ChunkText]] = {}
        self._by_key: dict[tuple[str, int], ChunkText] = {}
        self._files: dict[str, FileOutline] = {}
        self._signatures: dict[tuple[str, str], str] = {}
        self._loaded: set[str] = set()
        summary = reader.meta.last_run.get("summary", {}) if reader.meta.last_run else {}
        self._index_files = int(summary.get("files", 0)) or 0
        self._all_loaded = False
        self._held = _held_snapshot(reader, tokenizer)

    # --- loading ---------------------------------------------------------------

    def load(self, paths: Iterable[str]) -> None:
        """Make sure everything about ``paths`` is in memory (one bulk read per table)."""
        if self._all_loaded or self._held is not None:
            return
        wanted = sorted({p for p in paths if p not in self._loaded})
        if not wanted:
            return
        whole = self._index_files and (len(wanted) + len(self._loaded)) > _WHOLE_TABLE_FRACTION * self._index_files
        if whole:
            self._read(None)
            self._all_loaded = True
            return
        for start in range(0, len(wanted), _PATHS_PER_QUERY):
            batch = wanted[start : start + _PATHS_PER_QUERY]
            self._read(f"path IN ({_sql_list(batch)})")
            self._loaded.update(batch)

    def _read(self, where: str | None) -> None:
        chunk_cols = ["path", "ordinal", "start_line", "end_line", "kind", "symbol", "text"]
        # Token columns exist for both tokenizers; they are null when not counted at index time.
        rows = self.reader.read("chunks", [*chunk_cols, self._column], where)
        cols = {name: rows.column(name).to_pylist() for name in rows.column_names}
        counts = cols[self._column]
        fresh: dict[str, list[ChunkText]] = {}
        for path, ordinal, start, end, kind, symbol, text, count in zip(
            cols["path"], cols["ordinal"], cols["start_line"], cols["end_line"],
            cols["kind"], cols["symbol"], cols["text"], counts, strict=True,
        ):
            if path in self._loaded:
                continue
            chunk = ChunkText(path, ordinal, start, end, kind, symbol, text,
                              count if count is not None else count_tokens(text, self.tokenizer))
            fresh.setdefault(path, []).append(chunk)
        for path, chunks in fresh.items():
            chunks.sort(key=lambda c: c.ordinal)
            self._chunks[path] = chunks
            for chunk in chunks:
                self._by_key[(path, chunk.ordinal)] = chunk

        file_cols = ["path", "language", "skip_reason", "skeleton", "skeleton_lines"]
        rows = self.reader.read("files", [*file_cols, self._skeleton_column], where)
        cols = {name: rows.column(name).to_pylist() for name in rows.column_names}
        skel_counts = cols[self._skeleton_column]
        for path, language, skip, skeleton, flat, count in zip(
            cols["path"], cols["language"], cols["skip_reason"], cols["skeleton"],
            cols["skeleton_lines"], skel_counts, strict=True,
        ):
            if skip is not None or path in self._loaded:
                continue
            self._files[path] = _outline(path, language, skeleton, flat, count, self.tokenizer)

        rows = self.reader.read("symbols", ["path", "name", "signature"], where)
        for path, name, signature in zip(
            rows.column("path").to_pylist(), rows.column("name").to_pylist(),
            rows.column("signature").to_pylist(), strict=True,
        ):
            if path in self._loaded:
                continue
            self._signatures.setdefault((path, name), signature)

    # --- access ------------------------------------------------------------------

    def chunk(self, path: str, ordinal: int) -> ChunkText | None:
        if self._held is None:
            return self._by_key.get((path, ordinal))
        chunks = self._held.chunks_of(path)
        if 0 <= ordinal < len(chunks) and chunks[ordinal].ordinal == ordinal:
            return chunks[ordinal]
        i = bisect_left(chunks, ordinal, key=lambda c: c.ordinal)
        return chunks[i] if i < len(chunks) and chunks[i].ordinal == ordinal else None

    def chunks_of(self, path: str) -> list[ChunkText]:
        if self._held is not None:
            return self._held.chunks_of(path)
        return self._chunks.get(path, [])

    def outline(self, path: str) -> FileOutline | None:
        if self._held is not None:
            return self._held.outline(path)
        return self._files.get(path)

    def signature(self, path: str, symbol: str) -> str | None:
        if self._held is not None:
            return self._held.signatures.get((path, symbol))
        return self._signatures.get((path, symbol))

    def class_headers(self, chunk: ChunkText) -> list[ChunkText]:
        """The header chunks of the classes enclosing ``chunk`` (outermost first).

        A method ``A.B.m`` comes with the first chunk of ``A`` and of ``A.B``
        (the chunk of a class holds its header and class-level lines).
        """
        if "." not in chunk.symbol or chunk.kind in ("section", "window", "module"):
            return []
        parts = chunk.symbol.split(".")
        wanted = {".".join(parts[:i]) for i in range(1, len(parts))}
        headers: dict[str, ChunkText] = {}
        for other in self.chunks_of(chunk.path):
            if other.ordinal >= chunk.ordinal:
                break
            if other.symbol in wanted and other.symbol not in headers:
                headers[other.symbol] = other
        return [headers[name] for name in sorted(headers, key=lambda n: n.count("."))]
