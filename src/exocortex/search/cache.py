"""What search needs, built once per store commit and kept on disk and in memory.

``<store>/search/f<format>-<commit id>/`` holds the chunk and skeleton
lexical indexes, the structure graph, the definition index (name -> chunks
that define it) and the chunk keys. It is built lazily by the first search
after a commit (written to a temporary folder, then renamed), memory-mapped by
later ones, and older folders are removed. The folder is named by the commit's
id, which no other commit has (table versions start again after a rebuild), and
its ``done`` file lists the size and xxh3 hash of every file in it: a process
checks them when it first loads the folder, and a damaged folder (a truncated,
deleted or overwritten file) is built again. Within one process the loaded data
is kept per store and commit.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import xxhash

from exocortex.log import get_logger
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.heap import release_freed_memory
from exocortex.memory.policies import LRU
from exocortex.search import lexical
from exocortex.search.lexical import LexicalIndex
from exocortex.search.names import FileNames
from exocortex.search.roles import file_roles
from exocortex.search.structure import Graph, build_graph

if TYPE_CHECKING:
    from exocortex.store.lance import StoreReader

CACHE_DIRNAME = "search"
FORMAT = 4  # bump when the cached layout changes
DONE_FILE = "done"

DEFINITION_KINDS = ("function", "method", "class", "interface", "struct", "enum", "trait", "impl", "type")
_CHUNK_COLUMNS = ["path", "ordinal", "start_line", "end_line", "kind", "symbol"]
_GRAPH_ARRAYS = ("offsets", "targets", "weights", "name_files")


@dataclass(slots=True)
class SearchData:
    chunks: LexicalIndex  # one document per chunk
    skeletons: LexicalIndex  # one document per indexed file: its skeleton
    files: LexicalIndex  # one document per indexed file: all its chunks' terms
    chunk_keys: pa.Table  # path, ordinal, start_line, end_line, kind, symbol; row = chunk doc id
    chunk_file: np.ndarray  # file doc id of each chunk doc
    file_first_chunk: np.ndarray  # first chunk doc id of each file (-1: none)
    file_chunk_count: np.ndarray  # chunks of each file (they are consecutive doc ids from the first)
    file_paths: pa.Array  # file doc id -> path
    file_role: np.ndarray  # file doc id -> roles.SOURCE, TEST or DOCS
    def_offsets: np.ndarray  # (V+1,) name term id -> range in def_docs
    def_docs: np.ndarray  # chunk doc ids of definitions, grouped by their name's term id
    graph: Graph
    _file_names: FileNames | None = None

    def definitions(self, term_id: int) -> np.ndarray:
        return self.def_docs[int(self.def_offsets[term_id]) : int(self.def_offsets[term_id + 1])]

    def file_names(self) -> FileNames:
        """The paths by file name (built on first use: most queries name no file)."""
        if self._file_names is None:
            self._file_names = FileNames(self.file_paths)
        return self._file_names


HELD_ENTRIES = 4
"""Search data held per process (one commit per store is current; the others are being replaced)."""
_lock = threading.Lock()
_current: dict[str, tuple[str, str]] = {}
log = get_logger(__name__)


def cache_key(reader: StoreReader) -> str:
    """The folder name of a commit's search data: the format and the commit's id."""
    return f"f{FORMAT}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", reader.meta.data_id)


def _held() -> MultiLevelCache[tuple[str, str], SearchData]:
    """This process's loaded search data: a memory-layer cache the governor can free (``search-data``)."""
    from exocortex.memory.engine import deep_size, engine_memory

    return engine_memory().register_cache(
        "search-data", lambda: MultiLevelCache([Level("held", LRU(max_entries=HELD_ENTRIES))], sizeof=deep_size))


def load_search_data(reader: StoreReader) -> SearchData:
    key = cache_key(reader)
    mem_key = (str(reader.path), key)
    held = _held()
    with _lock:
        data = held.get(mem_key)
        if data is not None:
            return data
        folder = reader.path / CACHE_DIRNAME / key
        data = _load_checked(folder) if (folder / DONE_FILE).exists() else None
        if data is None:
            _build_to(reader, folder)
            release_freed_memory()  # the build's transient arrays are gone; so is their memory
            data = _load(folder)  # just written and hashed: not read again to check
        previous = _current.get(mem_key[0])
        if previous is not None and previous != mem_key:
            held.delete(previous)  # an older commit of this store: never asked for again
        held.set(mem_key, data)
        _current[mem_key[0]] = mem_key
        return data


def _load_checked(folder: Path) -> SearchData | None:
    """The folder's search data when every file is as written, else None (and the folder is removed)."""
    problem = _damage(folder)
    if problem is None:
        try:
            return _load(folder)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            problem = f"unreadable: {exc}"
    log.warning("search data damaged: building it again", folder=str(folder), problem=problem)
    _remove_folder(folder)
    return None


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return xxhash.xxh3_64_hexdigest(b"")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return xxhash.xxh3_64_hexdigest(view)


def _checksums(folder: Path) -> dict[str, list[int | str]]:
    """``name -> [size, xxh3]`` of every file in a built folder (folders nested one level)."""
    sums: dict[str, list[int | str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != DONE_FILE:
            sums[path.relative_to(folder).as_posix()] = [path.stat().st_size, _file_digest(path)]
    return sums


def _damage(folder: Path) -> str | None:
    """What is wrong with a built folder (a file missing, of another size or content), or None."""
    try:
        expected = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))["files"]
        if not isinstance(expected, dict) or not expected:
            return "no file list"
        for name, (size, digest) in expected.items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != size:
                return f"{name} has {path.stat().st_size} bytes, not {size}"
            if _file_digest(path) != digest:
                return f"{name} was changed"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{DONE_FILE} unreadable: {exc}"
    return None


def _remove_folder(folder: Path) -> None:
    if folder.is_symlink() or folder.is_file():
        folder.unlink(missing_ok=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _build_to(reader: StoreReader, folder: Path) -> None:
    parent = folder.parent
    if parent.exists() and not parent.is_dir() or parent.is_symlink():
        _remove_folder(parent)  # something put in place of the folder: it holds nothing of ours
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=parent))
    try:
        _build(reader, tmp)
        (tmp / DONE_FILE).write_text(json.dumps({"files": _checksums(tmp)}) + "\n")
        if folder.exists() or folder.is_symlink():
            _remove_folder(folder)  # a damaged copy
        try:
            os.rename(tmp, folder)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for old in parent.iterdir():
        if old.name != folder.name and not old.name.startswith("."):
            _remove_folder(old)


def _write_arrow(path: Path, table: pa.Table) -> None:
    with ipc.new_file(str(path), table.schema) as out:
        out.write_table(table)


def _read_arrow(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()


def _build(reader: StoreReader, folder: Path) -> None:
    files = reader.read("files", ["path", "skip_reason", "skeleton_terms", "imports", "references"])
    files = files.filter(pc.is_null(files.column("skip_reason")))
    files = files.sort_by("path")
    chunks = reader.read("chunks", [*_CHUNK_COLUMNS, "term_list", "term_counts"])
    # Sort the small key columns; the large term columns are taken in that
    # order one block at a time while the index is built, never copied whole.
    chunk_order = pc.sort_indices(chunks, [("path", "ascending"), ("ordinal", "ascending")])
    term_lists, term_counts = chunks.column("term_list"), chunks.column("term_counts")
    chunks = chunks.select(_CHUNK_COLUMNS).take(chunk_order)
    chunk_index = lexical.build_counted(term_lists, term_counts, chunk_order.to_numpy())
    del term_lists, term_counts, chunk_order
    symbols = reader.read("symbols", ["path", "name"])
    lexical.save(chunk_index, folder / "chunks")
    skeleton_index = lexical.build(files.column("skeleton_terms"))
    lexical.save(skeleton_index, folder / "skeletons")

    file_paths = files.column("path").combine_chunks()
    chunk_file = pc.index_in(chunks.column("path"), value_set=file_paths).to_numpy(zero_copy_only=False)
    chunk_file = np.nan_to_num(chunk_file.astype(float), nan=-1).astype(np.int32)
    first = np.full(len(file_paths), -1, np.int64)
    valid = chunk_file >= 0
    docs = np.arange(chunk_file.size)
    # chunks are sorted by path, ordinal: the first occurrence of each file is its first chunk
    rev = docs[valid][::-1]
    first[chunk_file[valid][::-1]] = rev
    np.save(folder / "chunk_file.npy", chunk_file)
    lexical.save(lexical.aggregate(chunk_index, chunk_file, len(file_paths)), folder / "files")
    np.save(folder / "file_first_chunk.npy", first)
    _write_arrow(folder / "chunk_keys.arrow", chunks.select(_CHUNK_COLUMNS))
    _write_arrow(folder / "file_paths.arrow", pa.table({"path": file_paths}))
    np.save(folder / "file_role.npy", file_roles(file_paths.to_pylist()))

    # Definition index: name term id -> chunks defining it.
    is_def = pc.and_(
        pc.is_in(chunks.column("kind"), value_set=pa.array(DEFINITION_KINDS)),
        pc.not_equal(chunks.column("symbol"), ""),
    ).to_numpy(zero_copy_only=False)
    last = pc.utf8_lower(pc.replace_substring_regex(chunks.column("symbol"), r"^.*\.", ""))
    term = pc.index_in(last, value_set=chunk_index.vocab).to_numpy(zero_copy_only=False).astype(float)
    ok = is_def & ~np.isnan(term)
    def_term = np.nan_to_num(term[ok]).astype(np.int64)
    def_doc = docs[ok]
    # A split definition has several chunks: keep its first part only.
    part_first = np.ones(def_doc.size, bool)
    sym = chunks.column("symbol").to_numpy(zero_copy_only=False)[ok] if def_doc.size else np.empty(0, object)
    if def_doc.size > 1:
        part_first[1:] = ~((chunk_file[def_doc[1:]] == chunk_file[def_doc[:-1]]) & (sym[1:] == sym[:-1]))
    def_term, def_doc = def_term[part_first], def_doc[part_first]
    order = np.argsort(def_term, kind="stable")
    v = len(chunk_index.vocab)
    def_offsets = np.zeros(v + 1, np.int64)
    np.cumsum(np.bincount(def_term, minlength=v), out=def_offsets[1:])
    np.save(folder / "def_offsets.npy", def_offsets)
    np.save(folder / "def_docs.npy", def_doc[order].astype(np.int32))

    graph = build_graph(
        file_paths.to_pylist(),
        files.column("references"),
        files.column("imports"),
        symbols.column("path"),
        symbols.column("name"),
        chunk_index.vocab,
    )
    np.save(folder / "graph_num_files.npy", np.array([graph.num_files], np.int64))
    for name in _GRAPH_ARRAYS:
        np.save(folder / f"graph_{name}.npy", getattr(graph, name))


def _chunk_counts(chunk_file: np.ndarray, num_files: int) -> np.ndarray:
    known = np.asarray(chunk_file)
    return np.bincount(known[known >= 0], minlength=num_files)


def _load(folder: Path) -> SearchData:
    def arr(name: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"{name}.npy", mmap_mode="r")
        return loaded

    graph = Graph(
        num_files=int(arr("graph_num_files")[0]),
        **{name: arr(f"graph_{name}") for name in _GRAPH_ARRAYS},
    )
    chunk_file, file_first_chunk = arr("chunk_file"), arr("file_first_chunk")
    return SearchData(
        chunks=lexical.load(folder / "chunks"),
        skeletons=lexical.load(folder / "skeletons"),
        files=lexical.load(folder / "files"),
        chunk_keys=_read_arrow(folder / "chunk_keys.arrow"),
        chunk_file=chunk_file,
        file_first_chunk=file_first_chunk,
        file_chunk_count=_chunk_counts(chunk_file, int(file_first_chunk.shape[0])),
        file_paths=_read_arrow(folder / "file_paths.arrow").column("path").combine_chunks(),
        file_role=arr("file_role"),
        def_offsets=arr("def_offsets"),
        def_docs=arr("def_docs"),
        graph=graph,
    )
