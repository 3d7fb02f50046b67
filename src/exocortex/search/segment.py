"""A segment: the search data of a set of files, in the segment's own ids.

A segment is immutable once written. The search data of a store commit is one
*base* segment (every file, as of some earlier commit) plus at most one *delta*
segment (the files added or changed since the base), the base's files the delta
replaces or the commit removed being deleted (:mod:`exocortex.search.view`).
Everything a view needs to merge the two exactly is kept here, in local ids:

- ``chunks`` / ``skeletons`` / ``files``: lexical indexes (chunk docs in path, then
  ordinal order; file docs in path order), each with its own sorted vocabulary;
- ``chunk_keys``, ``chunk_file``, ``file_paths``, ``file_hashes``, ``file_role``;
- definitions: the first chunk of each definition with the local term of its name
  (or, when the name is not a term of this segment, the name itself: a *loose* name,
  which another segment's vocabulary may hold);
- the structure graph's raw edges: references (file, name term), definitions from the
  symbol table (file, name term), imports (file, import string) and this segment's
  module-key table (key -> files), from which a view resolves imports over all files.

Chunks of a file the ``files`` table does not list (skipped files) are not kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from exocortex.memory.heap import map_large_allocations, release_freed_memory
from exocortex.search import lexical
from exocortex.search.lexical import LexicalIndex
from exocortex.search.roles import file_roles
from exocortex.search.structure import module_keys, resolve_import

DEFINITION_KINDS = ("function", "method", "class", "interface", "struct", "enum", "trait", "impl", "type")
CHUNK_COLUMNS = ["path", "ordinal", "start_line", "end_line", "kind", "symbol"]
FILE_COLUMNS = ["path", "hash", "skip_reason", "skeleton_terms", "imports", "references"]
INFO_FILE = "segment.json"
OWN_VIEW_DIRNAME = "view"
"""The folder in a base segment that holds its own view's definition index and graph."""

_ARRAYS = (
    "chunk_file",
    "def_docs",
    "def_terms",
    "loose_def_docs",
    "ref_file",
    "ref_terms",
    "loose_ref_file",
    "sym_file",
    "sym_terms",
    "loose_sym_file",
    "imp_file",
    "imp_string",
    "imp_offsets",
    "imp_targets",
    "module_offsets",
    "module_files",
    "file_role",
)
_STRINGS = (
    "file_paths",
    "file_hashes",
    "loose_def_names",
    "loose_ref_names",
    "loose_sym_names",
    "imp_strings",
    "module_keys",
)


REF, IMPORT, DEF = 0, 1, 2
"""Kinds of raw graph edges: file -> referenced name, file -> imported file, name -> defining file."""


@dataclass(slots=True)
class Edges:
    """Graph edges sorted by (source, target), each of a kind (REF, IMPORT or DEF)."""

    src: np.ndarray
    dst: np.ndarray
    kind: np.ndarray

    @classmethod
    def unpack(cls, keys: np.ndarray, nodes: int) -> Edges:
        """Edges from sorted keys packed as ``(src * nodes + dst) * 4 + kind``."""
        pair = keys >> 2
        return cls(
            src=(pair // max(nodes, 1)).astype(np.int32),
            dst=(pair % max(nodes, 1)).astype(np.int32),
            kind=(keys & 3).astype(np.int8),
        )


@dataclass(slots=True)
class Segment:
    name: str
    chunks: LexicalIndex
    skeletons: LexicalIndex
    files: LexicalIndex
    chunk_keys: pa.Table  # CHUNK_COLUMNS; row = chunk doc
    chunk_file: np.ndarray  # file doc of each chunk doc (non-decreasing)
    file_paths: pa.Array  # sorted
    file_hashes: pa.Array  # content hash of each file (to tell which files a later commit changed)
    file_role: np.ndarray
    def_docs: np.ndarray  # first chunk of each definition, ascending
    def_terms: np.ndarray  # its name's term in ``chunks.vocab``, -1 when loose
    loose_def_docs: np.ndarray
    loose_def_names: pa.Array
    ref_file: np.ndarray  # (file, term) of every reference whose name is a term here
    ref_terms: np.ndarray
    loose_ref_file: np.ndarray
    loose_ref_names: pa.Array
    sym_file: np.ndarray  # (file, term) of every symbol-table definition whose name is a term here
    sym_terms: np.ndarray
    loose_sym_file: np.ndarray
    loose_sym_names: pa.Array
    imp_file: np.ndarray  # (file, import string) of every import
    imp_string: np.ndarray
    imp_strings: pa.Array  # distinct import strings
    imp_offsets: np.ndarray  # each import string's files among this segment's own (CSR)
    imp_targets: np.ndarray
    module_keys: pa.Array  # sorted distinct module keys of this segment's paths
    module_offsets: np.ndarray  # each key's files (CSR, files ascending)
    module_files: np.ndarray
    own_def_offsets: np.ndarray | None = None
    """A base's own definition index (from its ``view`` folder): what views map instead of sorting."""
    own_def_docs: np.ndarray | None = None
    own_raw_edges: Edges | None = None
    """A base's own graph edges before the names are filtered."""

    @property
    def num_files(self) -> int:
        return len(self.file_paths)

    def file_first_chunk(self) -> np.ndarray:
        """The first chunk doc of each file (-1: none)."""
        first = np.full(self.num_files, -1, np.int64)
        cf = np.asarray(self.chunk_file)
        if cf.size:
            # chunk_file never decreases: the first occurrence of each file is its first chunk
            starts = np.flatnonzero(np.concatenate([[True], cf[1:] != cf[:-1]]))
            first[cf[starts]] = starts
        return first

    def file_chunk_count(self) -> np.ndarray:
        return np.bincount(np.asarray(self.chunk_file), minlength=self.num_files)

    def module_lookup(self, key: str) -> np.ndarray:
        """This segment's files that provide module ``key`` (local ids, ascending)."""
        at = lexical.find_sorted(self.module_keys, key)
        if at < 0:
            return np.empty(0, np.int32)
        return np.asarray(self.module_files[int(self.module_offsets[at]) : int(self.module_offsets[at + 1])])


def _combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def positions_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """The index of each of ``values`` in ``value_set`` (-1 where absent), by one hash join."""
    if len(values) == 0 or len(value_set) == 0:
        return np.full(len(values), -1, np.int64)
    found = pc.index_in(values, value_set=value_set).to_numpy(zero_copy_only=False)
    ids: np.ndarray = np.nan_to_num(found.astype(float), nan=-1).astype(np.int64)
    return ids


def _last_lower(symbols: pa.Array) -> pa.Array:
    """``a.B.method`` -> ``method``: the lower-cased last component of each symbol."""
    return pc.utf8_lower(pc.replace_substring_regex(symbols, r"^.*\.", ""))


def _split(owner: np.ndarray, names: pa.Array, vocab: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """(owner, term) pairs of the names ``vocab`` holds, and (owner, name) of the loose ones.

    An owner is a file (references, symbols) or a chunk (definitions)."""
    terms = positions_in(names, vocab)
    known = terms >= 0
    loose = np.flatnonzero(~known)
    return (
        owner[known].astype(np.int32),
        terms[known].astype(np.int32),
        owner[loose].astype(np.int32),
        names.take(pa.array(loose, pa.int64())),
    )


def _chunk_index(chunks: pa.Table | Iterable[pa.RecordBatch], file_paths: pa.Array) -> tuple[pa.Table, LexicalIndex]:
    """The chunk keys in (path, ordinal) order and the chunks' lexical index, from a table or a stream
    of record batches (then only one batch's term lists are in memory at a time, plus the pairs
    they leave)."""
    if isinstance(chunks, pa.Table):
        chunks = chunks.to_batches(max_chunksize=lexical.BUILD_BLOCK_DOCS)
    key_parts: list[pa.RecordBatch] = []
    blocks = []
    value_type: pa.DataType = pa.string()
    for batch in chunks:
        known = pc.is_valid(pc.index_in(batch.column("path"), value_set=file_paths))
        if not pc.all(known).as_py():  # chunks of skipped files
            batch = batch.filter(known)
        if batch.num_rows == 0:
            continue
        # a copy: the batch's columns may share one allocation, which the keys would keep alive
        key_parts.append(batch.select(CHUNK_COLUMNS).take(pa.array(np.arange(batch.num_rows))))
        value_type = batch.column("term_list").type.value_type
        blocks.append(lexical.counted_block(batch.column("term_list"), batch.column("term_counts")))
        del batch
    keys = pa.Table.from_batches(key_parts) if key_parts else empty_segment().chunk_keys
    del key_parts
    release_freed_memory()  # what the database's reader held, before the merge's peak
    order = pc.sort_indices(keys, [("path", "ascending"), ("ordinal", "ascending")])
    return keys.take(order), lexical.merge_blocks(blocks, value_type, order.to_numpy())


def build_segment(rows: dict[str, Any], folder: Path, name: str) -> None:
    """Write the segment of ``rows["files"]`` (FILE_COLUMNS, skipped files included or not), their
    ``rows["chunks"]`` (CHUNK_COLUMNS + term_list, term_counts: a table or a stream of record batches)
    and ``rows["symbols"]`` (path, name) to ``folder``. The tables are taken out of ``rows`` so their
    memory goes as soon as they are used."""
    map_large_allocations()  # the build's large temporaries leave the RSS as soon as they are freed
    folder.mkdir(parents=True, exist_ok=True)
    files = rows.pop("files")
    # The files in path order, as row numbers: each column is taken in that order when it is used
    # (a filtered and a sorted copy of the whole table cost twice its size for the whole build).
    kept = np.flatnonzero(pc.is_null(files.column("skip_reason")).to_numpy(zero_copy_only=False))
    by_path = kept[pc.sort_indices(files.column("path").take(pa.array(kept))).to_numpy()]

    def column(name: str) -> pa.Array:
        return _combined(files.column(name).take(pa.array(by_path, pa.int64())))

    file_paths = column("path")
    num_files = len(file_paths)
    keys, chunk_index = _chunk_index(rows.pop("chunks"), file_paths)
    release_freed_memory()  # the term columns are gone: give their pages back before the next steps
    lexical.save(chunk_index, folder / "chunks")
    lexical.save(lexical.build(column("skeleton_terms")), folder / "skeletons")
    chunk_file = pc.index_in(keys.column("path"), value_set=file_paths).to_numpy(zero_copy_only=False)
    chunk_file = chunk_file.astype(np.int32)
    lexical.save(lexical.aggregate(chunk_index, chunk_file, num_files), folder / "files")
    arrays: dict[str, np.ndarray] = {"chunk_file": chunk_file, "file_role": file_roles(file_paths.to_pylist())}
    strings: dict[str, pa.Array] = {"file_paths": file_paths, "file_hashes": column("hash")}

    # Definitions: the first chunk of each (a split definition has several consecutive chunks).
    symbol = _combined(keys.column("symbol"))
    is_def = pc.and_(
        pc.is_in(keys.column("kind"), value_set=pa.array(DEFINITION_KINDS)), pc.not_equal(symbol, "")
    ).to_numpy(zero_copy_only=False)
    def_doc = np.flatnonzero(is_def)
    if def_doc.size > 1:
        sym = symbol.take(pa.array(def_doc)).to_numpy(zero_copy_only=False)
        first = np.ones(def_doc.size, bool)
        first[1:] = ~((chunk_file[def_doc[1:]] == chunk_file[def_doc[:-1]]) & (sym[1:] == sym[:-1]))
        def_doc = def_doc[first]
    split = _split(def_doc, _last_lower(symbol.take(pa.array(def_doc, pa.int64()))), chunk_index.vocab)
    arrays |= {"def_docs": split[0], "def_terms": split[1], "loose_def_docs": split[2]}
    strings["loose_def_names"] = split[3]

    vocab = chunk_index.vocab
    refs = column("references")
    ref_len = np.nan_to_num(pc.list_value_length(refs).to_numpy(zero_copy_only=False).astype(float)).astype(np.int64)
    ref_file = np.repeat(np.arange(num_files, dtype=np.int64), ref_len)
    ref_names = pc.utf8_lower(pc.list_flatten(refs)) if len(refs) else pa.array([], pa.string())
    split = _split(ref_file, _combined(ref_names), vocab)
    arrays |= {"ref_file": split[0], "ref_terms": split[1], "loose_ref_file": split[2]}
    strings["loose_ref_names"] = split[3]

    symbols = rows.pop("symbols")
    sym_file = pc.index_in(symbols.column("path"), value_set=file_paths).to_numpy(zero_copy_only=False)
    sym_ok = np.flatnonzero(~np.isnan(sym_file.astype(float)))
    sym_names = _last_lower(_combined(symbols.column("name"))).take(pa.array(sym_ok, pa.int64()))
    split = _split(sym_file[sym_ok].astype(np.int64), sym_names, vocab)
    arrays |= {"sym_file": split[0], "sym_terms": split[1], "loose_sym_file": split[2]}
    strings["loose_sym_names"] = split[3]

    arrays_imp, strings_imp = _imports(file_paths.to_pylist(), column("imports"))
    arrays |= arrays_imp
    strings |= strings_imp
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value)
    for key, value in strings.items():
        write_strings(folder / f"{key}.arrow", value)
    with ipc.new_file(str(folder / "chunk_keys.arrow"), keys.schema) as out:
        out.write_table(keys)
    (folder / INFO_FILE).write_text(json.dumps({"name": name, "files": num_files}) + "\n")


def _imports(paths: list[str], imports: pa.ChunkedArray) -> tuple[dict[str, np.ndarray], dict[str, pa.Array]]:
    """The import pairs, the module-key table of ``paths`` and each import string's files among them."""
    by_key: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        for key in module_keys(path):
            by_key.setdefault(key, []).append(i)
    keys = sorted(by_key)
    module_offsets = np.zeros(len(keys) + 1, np.int64)
    np.cumsum([len(by_key[k]) for k in keys], out=module_offsets[1:])
    module_files = np.asarray([f for k in keys for f in by_key[k]], np.int32)

    string_id: dict[str, int] = {}
    imp_file: list[int] = []
    imp_string: list[int] = []
    for i, mods in enumerate(imports.to_pylist()):
        for mod in mods or ():
            imp_file.append(i)
            imp_string.append(string_id.setdefault(mod, len(string_id)))
    strings = list(string_id)
    targets = [resolve_import(s, by_key) for s in strings]
    imp_offsets = np.zeros(len(strings) + 1, np.int64)
    np.cumsum([len(t) for t in targets], out=imp_offsets[1:])
    return (
        {
            "imp_file": np.asarray(imp_file, np.int32),
            "imp_string": np.asarray(imp_string, np.int32),
            "imp_offsets": imp_offsets,
            "imp_targets": np.asarray([f for t in targets for f in t], np.int32),
            "module_offsets": module_offsets,
            "module_files": module_files,
        },
        {"imp_strings": pa.array(strings, pa.string()), "module_keys": pa.array(keys, pa.string())},
    )


def write_strings(path: Path, values: pa.Array) -> None:
    table = pa.table({"value": values})
    with ipc.new_file(str(path), table.schema) as out:
        out.write_table(table)


def read_strings(path: Path) -> pa.Array:
    column = ipc.open_file(pa.memory_map(str(path))).read_all().column("value")
    return _combined(column)


def _own_edges(folder: Path) -> Edges:
    return Edges(*(np.load(folder / f"raw_{name}.npy", mmap_mode="r") for name in ("src", "dst", "kind")))


def load_segment(folder: Path) -> Segment:
    def arr(key: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"{key}.npy", mmap_mode="r")
        return loaded

    keys = ipc.open_file(pa.memory_map(str(folder / "chunk_keys.arrow"))).read_all()
    own = folder / OWN_VIEW_DIRNAME
    has_own = (own / "raw_kind.npy").is_file()
    return Segment(
        name=folder.name,
        chunks=lexical.load(folder / "chunks"),
        skeletons=lexical.load(folder / "skeletons"),
        files=lexical.load(folder / "files"),
        chunk_keys=keys,
        **{key: arr(key) for key in _ARRAYS},
        **{key: read_strings(folder / f"{key}.arrow") for key in _STRINGS},
        own_def_offsets=np.load(own / "def_offsets.npy", mmap_mode="r") if has_own else None,
        own_def_docs=np.load(own / "def_docs.npy", mmap_mode="r") if has_own else None,
        own_raw_edges=_own_edges(own) if has_own else None,
    )


def empty_segment() -> Segment:
    """A segment of no file (the delta of a view that only has its base)."""
    none32 = np.empty(0, np.int32)
    text = pa.array([], pa.string())

    def index() -> LexicalIndex:
        return LexicalIndex(
            vocab=text,
            term_offsets=np.zeros(1, np.int64),
            post_docs=none32,
            post_tf=np.empty(0, np.float32),
            doc_len=np.empty(0, np.float32),
            fwd_offsets=np.zeros(1, np.int64),
            fwd_terms=none32,
            avg_len=1.0,
        )

    keys = pa.table(
        {"path": text, "ordinal": none32, "start_line": none32, "end_line": none32, "kind": text, "symbol": text}
    )
    arrays: dict[str, Any] = {key: none32 for key in _ARRAYS} | {
        "imp_offsets": np.zeros(1, np.int64),
        "module_offsets": np.zeros(1, np.int64),
    }
    return Segment(
        name="empty",
        chunks=index(),
        skeletons=index(),
        files=index(),
        chunk_keys=keys,
        **arrays,
        **{key: text for key in _STRINGS},
    )
