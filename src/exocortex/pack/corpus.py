"""What a pack is made of, read from a store snapshot in bulk.

``PackCorpus`` loads, for a set of paths at a time, every chunk (with its text
and token count), the file's skeleton and the signatures of its symbols. Reads
are batched ``path IN (...)`` scans, or one scan of the whole table when most
of the index is wanted; there is never one query per chunk.

Token counts come from the store's per-chunk column for the chosen tokenizer;
where the index did not count with it (a null), the text is counted here.

A process that packs from the same store snapshot more than once (a server, an
agent loop, a benchmark) reads the snapshot whole, once, into Arrow columns held
in memory (``_Snapshot``); later packs of that snapshot read nothing from disk
and make Python objects only for the files they touch. The snapshot is named by
the store path and its commit id, so a new commit is never served stale data. Only the most recent snapshot is held, and
only when its Arrow size is within ``pack_snapshot_max_bytes``.

Every text a pack serves (a chunk, a skeleton, a signature) is checked against
the xxh3 hash stored beside it at index time: bytes damaged on disk are refused
with ``StoreCorruptError`` rather than handed to an agent as if they were code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import StoreCorruptError
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.heap import release_freed_memory
from exocortex.memory.policies import LRU, OversizeError
from exocortex.search.lexical import segment_positions
from exocortex.store.schema import TOKEN_COLUMNS, text_digest
from exocortex.tokens import count_tokens

_WHOLE_TABLE_FRACTION = 0.25
"""Past this fraction of the index's files, one scan of the whole table is cheaper."""


def verified(text: str, digest: int | None, what: str) -> str:
    """``text`` when it hashes to ``digest`` (the hash stored at index time), else ``StoreCorruptError``."""
    if digest is not None and text_digest(text) != digest:
        raise StoreCorruptError(
            f"the index's copy of {what} is damaged (it does not match the hash stored with it); "
            "re-index with `exocortex index --rebuild`"
        )
    return text


class ChunkText:
    """One chunk of a file: the unit a pack includes in full.

    The text may be left in the Arrow column it was read from (``source``, ``row``)
    and is made a Python string the first time it is asked for: a pack looks at
    every chunk of the files it loads but shows only some of them. It is checked
    against its stored hash then.
    """

    __slots__ = ("path", "ordinal", "start_line", "end_line", "kind", "symbol", "tokens", "digest", "_text",
                 "_source", "_row")

    def __init__(self, path: str, ordinal: int, start_line: int, end_line: int, kind: str, symbol: str,
                 text: str | None, tokens: int, source: Any = None, row: int = 0, digest: int | None = None) -> None:
        self.path, self.ordinal, self.start_line, self.end_line = path, ordinal, start_line, end_line
        self.kind, self.symbol, self.tokens, self.digest = kind, symbol, tokens, digest
        self._text, self._source, self._row = text, source, row

    @property
    def text(self) -> str:
        if self._text is None:
            text = self._source[self._row].as_py() or ""
            self._text = verified(text, self.digest, f"{self.path} lines {self.start_line}-{self.end_line}")
            self._source = None
        return self._text

    def __repr__(self) -> str:
        return f"ChunkText({self.path!r}, {self.ordinal}, lines {self.start_line}-{self.end_line}, {self.symbol!r})"


@dataclass(frozen=True, slots=True)
class FileOutline:
    """What a pack knows about a file besides its chunks."""

    path: str
    language: str | None
    skeleton: str
    skeleton_lines: tuple[tuple[int, int], ...]
    """1-based inclusive ranges of original lines that appear verbatim in ``skeleton``."""
    skeleton_tokens: int


_CHUNK_COLUMNS = ["path", "ordinal", "start_line", "end_line", "kind", "symbol", "text", "text_hash"]
_FILE_COLUMNS = ["path", "language", "skip_reason", "skeleton", "skeleton_lines", "skeleton_hash"]
_SYMBOL_COLUMNS = ["path", "name", "signature", "signature_hash"]


def _outline(path: str, language: str | None, skeleton: str | None, flat: list[int] | None,
             count: int | None, tokenizer: str, digest: int | None) -> FileOutline:
    skeleton = verified(skeleton, digest, f"the skeleton of {path}") if skeleton is not None else ""
    flat = flat or []
    ranges = tuple(zip(flat[0::2], flat[1::2], strict=False))
    if count is None:
        count = count_tokens(skeleton, tokenizer)
    return FileOutline(path, language, skeleton, ranges, count)


def _spans(paths: pa.ChunkedArray | pa.Array) -> dict[str, tuple[int, int]]:
    """``path -> (first row, end row)`` of a path column sorted by path."""
    n = len(paths)
    if n == 0:
        return {}
    column = paths.combine_chunks() if isinstance(paths, pa.ChunkedArray) else paths
    starts = np.flatnonzero(
        np.concatenate([[True], pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(zero_copy_only=False)])
    )
    ends = np.append(starts[1:], n)
    names = column.take(pa.array(starts)).to_pylist()
    return dict(zip(names, zip(starts.tolist(), ends.tolist(), strict=True), strict=True))


class _Snapshot:
    """A whole store snapshot's chunks, files and symbols, held as Arrow tables for repeated packs.

    Tables are sorted by path (chunks by path and ordinal) and dicts give each
    path's rows, so a pack takes the rows of the files it touches with one
    gather per table, the same rows a ``path IN (...)`` read would return. Held
    as Arrow, the snapshot costs about the bytes of its texts (``nbytes``), not
    the several times more of Python strings and objects.

    A later commit's snapshot is derived from a held one (:meth:`updated`): the rows of the
    files changed since are read into a small *patch* that replaces theirs, so an agent that
    edits and packs in a loop reads only what it changed.
    """

    def __init__(self, tables: tuple[pa.Table, pa.Table, pa.Table], manifest: pa.Table | None,
                 patch: tuple[pa.Table, pa.Table, pa.Table] | None = None, gone: frozenset[str] = frozenset()) -> None:
        self._tables = tables
        self._spans = tuple(_spans(t.column("path")) for t in tables)
        self._patch = patch
        self._patch_spans = tuple(_spans(t.column("path")) for t in patch) if patch is not None else None
        self._gone = gone  # paths whose base rows are replaced (by the patch) or removed
        self._manifest = manifest  # path, hash of the commit this snapshot is of (None: unknown)
        self.nbytes = sum(t.nbytes for t in tables) + (sum(t.nbytes for t in patch) if patch is not None else 0)

    @classmethod
    def read(cls, reader: Any, tokenizer: str) -> _Snapshot:
        """The whole snapshot of ``reader``'s commit."""
        tables = _sorted_rows(reader, tokenizer, None)
        snapshot = cls(tables, _manifest(reader))
        release_freed_memory()  # the unsorted reads were copied: give their pages back now
        return snapshot

    def updated(self, reader: Any, tokenizer: str) -> _Snapshot | None:
        """This snapshot brought to ``reader``'s commit by reading only the files changed since
        (None when the manifests cannot tell what changed)."""
        new = _manifest(reader)
        if new is None or self._manifest is None:
            return None
        from exocortex.store.meta import changed_since

        changed, gone = changed_since(self._manifest.column("path"), self._manifest.column("hash"),
                                      new.column("path"), new.column("hash"))
        removed = gone.to_pylist()
        if not changed and not removed:
            return _Snapshot(self._tables, new, self._patch, self._gone)
        if len(changed) > _WHOLE_TABLE_FRACTION * max(new.num_rows, 1):
            return None  # most of it changed: read it whole
        replaced = set(changed) | set(removed)
        fresh = _sorted_rows(reader, tokenizer, changed) if changed else None
        parts = []
        for i in range(3):
            kept = [self._patch[i].filter(pc.invert(pc.is_in(self._patch[i].column("path"),
                                                             value_set=pa.array(sorted(replaced), pa.string()))))
                    ] if self._patch is not None else []
            tables = [*kept, *([fresh[i]] if fresh is not None else [])]
            table = pa.concat_tables(tables) if tables else self._tables[i].slice(0, 0)
            keys = [("path", "ascending"), ("ordinal", "ascending")] if i == 0 else [("path", "ascending")]
            parts.append(table.take(pc.sort_indices(table, keys)))
        return _Snapshot(self._tables, new, (parts[0], parts[1], parts[2]), self._gone | replaced)

    def rows(self, paths: list[str]) -> tuple[pa.Table, pa.Table, pa.Table]:
        """The chunk, file and symbol rows of ``paths``."""
        if self._patch is None or self._patch_spans is None:
            base_paths, patch_paths = paths, []
        else:
            patch_paths = [p for p in paths if p in self._patch_spans[1] or p in self._patch_spans[0]]
            patched = set(patch_paths)
            base_paths = [p for p in paths if p not in patched and p not in self._gone]
        out = []
        for i in range(3):
            table = _take_spans(self._tables[i], self._spans[i], base_paths)
            if patch_paths and self._patch is not None and self._patch_spans is not None:
                table = pa.concat_tables([table, _take_spans(self._patch[i], self._patch_spans[i], patch_paths)])
            out.append(table)
        return out[0], out[1], out[2]


def _read_rows(reader: Any, tokenizer: str, paths: list[str] | None) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The chunks, files and symbols rows of ``paths`` (every row when None), in storage order.
    Token columns exist for both tokenizers; they are null when not counted at index time."""
    column = TOKEN_COLUMNS[tokenizer]

    def read(table: str, columns: list[str]) -> pa.Table:
        return reader.read(table, columns) if paths is None else reader.read_paths(table, columns, paths)

    return (read("chunks", [*_CHUNK_COLUMNS, column]), read("files", [*_FILE_COLUMNS, "skeleton_" + column]),
            read("symbols", _SYMBOL_COLUMNS))


def _sorted_rows(reader: Any, tokenizer: str, paths: list[str] | None) -> tuple[pa.Table, pa.Table, pa.Table]:
    """:func:`_read_rows` with chunks by path and ordinal, files and symbols by path (a stable sort
    keeps each path's symbols in table order: the first signature of a name wins)."""
    chunks, files, symbols = _read_rows(reader, tokenizer, paths)
    return (chunks.take(pc.sort_indices(chunks, [("path", "ascending"), ("ordinal", "ascending")])),
            files.take(pc.sort_indices(files, [("path", "ascending")])),
            symbols.take(pc.sort_indices(symbols, [("path", "ascending")])))


def _manifest(reader: Any) -> pa.Table | None:
    """``path, hash`` of every file of ``reader``'s commit, from its manifest (None when there is none)."""
    from exocortex.store.meta import read_manifest

    meta, path = getattr(reader, "meta", None), getattr(reader, "path", None)
    if meta is None or path is None:
        return None
    table = read_manifest(path, meta)
    return table.select(["path", "hash"]).combine_chunks() if table is not None else None


def _take_spans(table: pa.Table, spans: dict[str, tuple[int, int]], paths: list[str]) -> pa.Table:
    found = np.array([spans[p] for p in paths if p in spans], np.int64).reshape(-1, 2)
    rows = segment_positions(found[:, 0], found[:, 1] - found[:, 0])
    return table.take(pa.array(rows))


_SNAPSHOT_LOCK = threading.Lock()
_snapshot_key: tuple[Any, ...] | None = None
_snapshot_seen = 0
_snapshot_refused = False


def _snapshots(max_bytes: int) -> MultiLevelCache[tuple[Any, ...], _Snapshot]:
    """The held snapshot (one), in a memory-layer cache the governor can free (``pack-snapshot``)."""
    from exocortex.memory.engine import engine_memory

    return engine_memory().register_cache(
        "pack-snapshot",
        lambda: MultiLevelCache([Level("held", LRU(max_entries=1, max_bytes=max_bytes))], sizeof=lambda s: s.nbytes))


def _held_snapshot(reader: Any, tokenizer: str, max_bytes: int) -> _Snapshot | None:
    """The held snapshot of ``reader``'s commit, read whole on the second pack of that commit in this
    process (an agent that edits before every pack never waits for a whole read).

    A new commit's snapshot is derived from the held one of the same store (only the files
    changed since are read). A snapshot larger than ``max_bytes`` is dropped as soon as it has
    been measured, and not read again for that store: packs then read what they need from
    disk. ``max_bytes`` 0 turns holding off. The governor may drop the held snapshot under
    memory pressure; the next pack reads it again.
    """
    global _snapshot_key, _snapshot_seen, _snapshot_refused
    meta = getattr(reader, "meta", None)
    path = getattr(reader, "path", None)
    if meta is None or path is None or max_bytes <= 0:
        return None
    key = (str(path), meta.data_id, tokenizer)
    held = _snapshots(max_bytes)
    with _SNAPSHOT_LOCK:
        previous = held.get(_snapshot_key) if _snapshot_key is not None and _snapshot_key != key else None
        if _snapshot_key != key:
            _snapshot_seen = 0  # read whole only for a commit packed twice: a loop of edits never pays it
        if _snapshot_key is None or _snapshot_key[::2] != key[::2]:  # another store or tokenizer
            _snapshot_refused = False
        if _snapshot_key is not None and _snapshot_key != key:
            held.delete(_snapshot_key)
        _snapshot_key = key
        _snapshot_seen += 1
        snapshot = held.get(key)
        if snapshot is None and previous is not None:
            snapshot = previous.updated(reader, tokenizer)
        if snapshot is None and not _snapshot_refused and _snapshot_seen >= 2:
            snapshot = _Snapshot.read(reader, tokenizer)
        if snapshot is not None and held.get(key) is not snapshot:
            if snapshot.nbytes <= max_bytes:
                try:
                    held.set(key, snapshot)
                except OversizeError:  # over the cache's own bound (set by the first max_bytes seen)
                    snapshot, _snapshot_refused = None, True
            else:
                snapshot, _snapshot_refused = None, True
        return snapshot


class PackCorpus:
    """Chunks, skeletons and signatures of the files a pack touches, loaded on demand."""

    def __init__(self, reader: Any, tokenizer: str, snapshot_max_bytes: int = 0) -> None:
        self.reader = reader
        self.tokenizer = tokenizer
        self._column = TOKEN_COLUMNS[tokenizer]
        self._skeleton_column = "skeleton_" + self._column
        self._chunks: dict[str, list[ChunkText]] = {}
        self._by_key: dict[tuple[str, int], ChunkText] = {}
        self._files: dict[str, FileOutline] = {}
        self._raw_files: dict[str, tuple[str | None, str | None, list[int] | None, int | None, int | None]] = {}
        self._signatures: dict[tuple[str, str], tuple[str, int | None]] = {}
        self._loaded: set[str] = set()
        summary = reader.meta.last_run.get("summary", {}) if reader.meta.last_run else {}
        self._index_files = int(summary.get("files", 0)) or 0
        self._all_loaded = False
        self._held = _held_snapshot(reader, tokenizer, snapshot_max_bytes)

    # --- loading ---------------------------------------------------------------

    def load(self, paths: Iterable[str]) -> None:
        """Make sure everything about ``paths`` is in memory (one bulk read per table)."""
        if self._all_loaded:
            return
        wanted = sorted({p for p in paths if p not in self._loaded})
        if not wanted:
            return
        if self._held is not None:
            self._ingest(*self._held.rows(wanted))
            self._loaded.update(wanted)
            return
        whole = self._index_files and (len(wanted) + len(self._loaded)) > _WHOLE_TABLE_FRACTION * self._index_files
        if whole:
            self._ingest(*_read_rows(self.reader, self.tokenizer, None))
            self._all_loaded = True
            return
        self._ingest(*_read_rows(self.reader, self.tokenizer, wanted))
        self._loaded.update(wanted)

    def _ingest(self, chunk_rows: pa.Table, file_rows: pa.Table, symbol_rows: pa.Table) -> None:
        """Turn the rows of files not loaded yet into chunks, outlines and signatures."""
        # Texts stay in their Arrow column until a chunk's text is asked for.
        texts = chunk_rows.column("text").combine_chunks()
        cols = {name: chunk_rows.column(name).to_pylist() for name in chunk_rows.column_names if name != "text"}
        fresh: dict[str, list[ChunkText]] = {}
        for row, (path, ordinal, start, end, kind, symbol, count, digest) in enumerate(zip(
            cols["path"], cols["ordinal"], cols["start_line"], cols["end_line"],
            cols["kind"], cols["symbol"], cols[self._column], cols["text_hash"], strict=True,
        )):
            if path in self._loaded:
                continue
            if count is None:  # not counted with this tokenizer at index time
                text = verified(texts[row].as_py() or "", digest, f"{path} lines {start}-{end}")
                chunk = ChunkText(path, ordinal, start, end, kind, symbol, text, count_tokens(text, self.tokenizer))
            else:
                chunk = ChunkText(path, ordinal, start, end, kind, symbol, None, count, texts, row, digest)
            fresh.setdefault(path, []).append(chunk)
        for path, chunks in fresh.items():
            chunks.sort(key=lambda c: c.ordinal)
            self._chunks[path] = chunks
            for chunk in chunks:
                self._by_key[(path, chunk.ordinal)] = chunk

        cols = {name: file_rows.column(name).to_pylist() for name in file_rows.column_names}
        for path, language, skip, skeleton, flat, count, digest in zip(
            cols["path"], cols["language"], cols["skip_reason"], cols["skeleton"],
            cols["skeleton_lines"], cols[self._skeleton_column], cols["skeleton_hash"], strict=True,
        ):
            if skip is not None or path in self._loaded:
                continue
            self._raw_files[path] = (language, skeleton, flat, count, digest)  # made into an outline on first use

        for path, name, signature, digest in zip(
            *(symbol_rows.column(name).to_pylist() for name in _SYMBOL_COLUMNS), strict=True
        ):
            if path in self._loaded:
                continue
            self._signatures.setdefault((path, name), (signature, digest))

    # --- access ------------------------------------------------------------------

    def chunk(self, path: str, ordinal: int) -> ChunkText | None:
        return self._by_key.get((path, ordinal))

    def chunks_of(self, path: str) -> list[ChunkText]:
        return self._chunks.get(path, [])

    def outline(self, path: str) -> FileOutline | None:
        outline = self._files.get(path)
        if outline is None:
            raw = self._raw_files.get(path)
            if raw is None:
                return None
            language, skeleton, flat, count, digest = raw
            outline = self._files[path] = _outline(path, language, skeleton, flat, count, self.tokenizer, digest)
        return outline

    def signature(self, path: str, symbol: str) -> str | None:
        found = self._signatures.get((path, symbol))
        if found is None:
            return None
        signature, digest = found
        return verified(signature, digest, f"the signature of {symbol} in {path}")

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
