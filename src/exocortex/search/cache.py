"""What search needs for a store commit: segments on disk, a view per commit, held in memory.

``<store>/search/segments/<name>/`` holds immutable segments (:mod:`.segment`): a *base*
with every file as of some commit, and *deltas* with the files added or changed since
their base. ``<store>/search/f<format>-<commit id>/`` names a commit's segments (its
``view.json``) and, when it has a delta, the view's arrays (:mod:`.view`): the maps to
global ids, the per-document arrays, the definition index and the graph.

The first search after a commit builds that folder. It compares the commit's manifest
with the newest base: when the files changed or removed since the base are few
(``search_delta_max_share`` of the base's files, at least ``search_delta_min_files``),
it reads only those files' rows from the store into a new delta (replacing the previous
delta: one delta holds every change since the base) and merges its view; otherwise it
builds a new base from every row. Either way the ranking is that of a full build.

Every folder is written under a temporary name and renamed into place, so a reader sees
a whole folder or none; its ``done`` file lists the size and xxh3 hash of each file, checked
when a process first loads it, and a damaged folder is built again. Within one process the
loaded data is kept per store and commit (``search-data`` in the engine's caches).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from exocortex.errors import StoreCorruptError
from exocortex.log import get_logger
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.heap import release_freed_memory
from exocortex.memory.policies import LRU
from exocortex.search.lexical import BUILD_BLOCK_DOCS
from exocortex.search.names import FileNames
from exocortex.search.segment import (
    CHUNK_COLUMNS,
    DEFINITION_KINDS,
    FILE_COLUMNS,
    INFO_FILE,
    OWN_VIEW_DIRNAME,
    Segment,
    build_segment,
    empty_segment,
    load_segment,
    read_strings,
)
from exocortex.search.structure import Graph
from exocortex.search.view import (
    GRAPH_ARRAYS,
    VIEW_ARRAYS,
    ChunkKeys,
    Lexical,
    LexicalView,
    Part,
    build_view,
    save_view,
)
from exocortex.store.meta import rebuild_hint

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.store.lance import StoreReader

__all__ = ["DEFINITION_KINDS", "SearchData", "cache_key", "load_search_data"]

CACHE_DIRNAME = "search"
SEGMENTS_DIRNAME = "segments"
FORMAT = 5  # bump when the cached layout changes
DONE_FILE = "done"
VERIFIED_FILE = "verified"
"""Beside ``done``: the stat (size, mtime, ctime, inode) each file had when its digest was last
checked. A file whose stat is unchanged since is not hashed again: any write through the file
system changes its ctime. (Hashing every file of a 50k-file base took about 0.3 s of each new
process's first search.)"""
VIEW_FILE = "view.json"
VECTORS_PREFIX = "vectors-"
"""Folders ``vectors-<model digest>-<segment>`` beside the segments hold their chunk vectors (:mod:`.vectors`)."""
VECTORS_INFO_FILE = "vectors.json"
"""In a vectors folder: the model that made them, their rows, the segment whose IDF weighted the terms."""
STALE_BUILD_S = 3600.0
"""A temporary build folder older than this was left by a process that died: it is removed."""
UNREFERENCED_GRACE_S = 60.0
"""A segment no commit folder names is removed once it is this old (another process may be
about to name it)."""


@dataclass(slots=True)
class SearchData:
    chunks: Lexical  # one document per chunk
    skeletons: Lexical  # one document per indexed file: its skeleton
    files: Lexical  # one document per indexed file: all its chunks' terms
    keys: ChunkKeys  # path, ordinal, start_line, end_line, kind, symbol of each chunk doc
    chunk_file: np.ndarray  # file doc id of each chunk doc
    file_first_chunk: np.ndarray  # first chunk doc id of each file (-1: none)
    file_chunk_count: np.ndarray  # chunks of each file (they are consecutive doc ids from the first)
    file_paths: pa.Array  # file doc id -> path
    file_role: np.ndarray  # file doc id -> roles.SOURCE, TEST or DOCS
    def_offsets: np.ndarray  # (V+1,) name term id -> range in def_docs
    def_docs: np.ndarray  # chunk doc ids of definitions, grouped by their name's term id
    graph: Graph
    segments: dict[str, Any] = field(default_factory=dict)
    """Which segments this view reads: ``base``, ``delta`` (or None), ``delta_files``, ``removed``."""
    folder: Path | None = None
    """The commit folder this view was loaded from."""
    vectors: Any = None
    """The commit's chunk vectors once the semantic signal asked for them (:func:`.vectors.commit_vectors`)."""
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
_checked: set[str] = set()
"""Segment folders whose files this process has checked against their ``done`` lists."""
_segments: dict[str, Segment] = {}
"""Segments this process loaded, oldest first (a base and the last deltas)."""
HELD_SEGMENTS = 3
log = get_logger(__name__)


def cache_key(reader: StoreReader) -> str:
    """The folder name of a commit's search data: the format and the commit's id."""
    return _commit_folder_name(reader.meta)


def _commit_folder_name(meta: Any) -> str:
    return f"f{FORMAT}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", meta.data_id)


def has_base(store: Path, fingerprint: str) -> bool:
    """Whether the store holds a base segment built with the index settings ``fingerprint`` (then a
    commit's search data is a cheap delta over it)."""
    segments = store / CACHE_DIRNAME / SEGMENTS_DIRNAME
    if not segments.is_dir():
        return False
    for folder in segments.iterdir():
        if folder.name.startswith("base-"):
            info = _segment_info(folder) or {}
            if info.get("fingerprint") == fingerprint and info.get("format") == FORMAT:
                return True
    return False


def search_data_state(store: Path, meta: Any) -> dict[str, Any]:
    """What ``exocortex status`` says of the commit's search data, read without building anything:
    ``built`` (whether the commit's view exists: else the next search builds it), and when built, its
    ``base`` and ``delta`` segments with their files and the base's files ``removed`` since."""
    key = _commit_folder_name(meta)
    root = store / CACHE_DIRNAME
    try:
        view = json.loads((root / key / VIEW_FILE).read_text(encoding="utf-8"))
        if not (root / key / DONE_FILE).is_file():
            raise OSError("unfinished")
    except (OSError, ValueError):
        return {"built": False}
    base = _segment_info(root / SEGMENTS_DIRNAME / str(view.get("base"))) or {}
    return {"built": True, "base": view.get("base"), "base_files": base.get("files"), "delta": view.get("delta"),
            "delta_files": view.get("delta_files"), "removed": view.get("removed"),
            "vectors": _vectors_state(root / SEGMENTS_DIRNAME, [view.get("base"), view.get("delta")])}


def _vectors_state(segments: Path, names: list[Any]) -> list[dict[str, Any]]:
    """The chunk vectors made for the segments ``names`` (None entries skipped): per model, its
    rows and bytes on disk (read from the folders' ``vectors.json`` and ``done``, nothing loaded)."""
    models: dict[str, dict[str, Any]] = {}
    for name in names:
        if not name:
            continue
        for folder in segments.glob(f"{VECTORS_PREFIX}*-{name}"):
            try:
                info = json.loads((folder / VECTORS_INFO_FILE).read_text(encoding="utf-8"))
                files = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))["files"]
            except (OSError, ValueError, KeyError):
                continue
            entry = models.setdefault(str(info.get("model")), {"model": str(info.get("model")), "rows": 0,
                                                              "bytes": 0, "segments": 0})
            entry["rows"] += int(info.get("rows") or 0)
            entry["bytes"] += sum(int(size) for size, _ in files.values())
            entry["segments"] += 1
    return sorted(models.values(), key=lambda m: m["model"])


def _held() -> MultiLevelCache[tuple[str, str], SearchData]:
    """This process's loaded search data: a memory-layer cache the governor can free (``search-data``)."""
    from exocortex.memory.engine import deep_size, engine_memory

    return engine_memory().register_cache(
        "search-data", lambda: MultiLevelCache([Level("held", LRU(max_entries=HELD_ENTRIES))], sizeof=deep_size))


def load_search_data(reader: StoreReader, config: Config | None = None) -> SearchData:
    """The search data of ``reader``'s commit: held, loaded from disk, or built (see the module)."""
    key = cache_key(reader)
    mem_key = (str(reader.path), key)
    held = _held()
    with _lock:
        data = held.get(mem_key)
        if data is not None:
            return data
        root = reader.path / CACHE_DIRNAME
        folder = root / key
        data = _load_commit_checked(folder) if (folder / DONE_FILE).exists() else None
        if data is None:
            _build_commit(reader, folder, config)
            release_freed_memory()  # the build's transient arrays are gone; so is their memory
            data = _load_commit(folder)
            if data is None:
                raise StoreCorruptError(f"the search data just built in {folder} cannot be read back; "
                                        f"{rebuild_hint(reader.path)}")
        previous = _current.get(mem_key[0])
        if previous is not None and previous != mem_key:
            held.delete(previous)  # an older commit of this store: never asked for again
        held.set(mem_key, data)
        _current[mem_key[0]] = mem_key
        return data


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
        if path.is_file() and path.name not in (DONE_FILE, VERIFIED_FILE):
            sums[path.relative_to(folder).as_posix()] = [path.stat().st_size, _file_digest(path)]
    return sums


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _record_verified(folder: Path, stats: dict[str, list[int]]) -> None:
    """Remember the stats of files whose digests were just checked (best effort: a read-only
    store is checked in full each time)."""
    with contextlib.suppress(OSError):
        tmp = folder / f".{VERIFIED_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(stats) + "\n")
        os.replace(tmp, folder / VERIFIED_FILE)


def folder_damage(folder: Path) -> str | None:
    """What is wrong with a built folder (a file missing, of another size or content), or None.

    A file is hashed only when its stat differs from the one recorded when it was last verified."""
    try:
        expected = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))["files"]
        if not isinstance(expected, dict) or not expected:
            return "no file list"
        try:
            verified = json.loads((folder / VERIFIED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            verified = {}
        if not isinstance(verified, dict):
            verified = {}
        stats: dict[str, list[int]] = {}
        hashed = False
        for name, (size, digest) in expected.items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            st = path.stat()
            if st.st_size != size:
                return f"{name} has {st.st_size} bytes, not {size}"
            stats[name] = _stat_key(st)
            if verified.get(name) != stats[name]:
                if _file_digest(path) != digest:
                    return f"{name} was changed"
                hashed = True
        if hashed:
            _record_verified(folder, stats)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{DONE_FILE} unreadable: {exc}"
    return None


def remove_folder(folder: Path) -> None:
    if folder.is_symlink() or folder.is_file():
        folder.unlink(missing_ok=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def write_folder(parent: Path, name: str, fill: Any) -> Path:
    """Write a folder with ``fill(tmp)`` under a temporary name, list its checksums, rename it to
    ``parent/name``. When another process renamed one there first, theirs is kept."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=parent))
    folder = parent / name
    try:
        fill(tmp)
        sums = _checksums(tmp)
        (tmp / DONE_FILE).write_text(json.dumps({"files": sums}) + "\n")
        # just hashed: renaming the folder changes none of its files' stats
        _record_verified(tmp, {name: _stat_key((tmp / name).stat()) for name in sums})
        if folder.exists() or folder.is_symlink():
            if folder_damage(folder) is None:
                return folder  # another process finished the same folder meanwhile
            remove_folder(folder)  # a damaged copy
        with contextlib.suppress(OSError):  # another process built it meanwhile
            os.rename(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _prepare(root: Path) -> None:
    """Make ``root`` a folder (removing whatever was put in its place)."""
    if root.is_symlink() or root.exists() and not root.is_dir():
        remove_folder(root)  # something put in place of the folder: it holds nothing of ours
    root.mkdir(parents=True, exist_ok=True)


def _segment_info(folder: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def checked_segment(folder: Path) -> Segment | None:
    """The segment in ``folder`` when its files are as written (checked once per process), else None.

    Segments never change once written, so this process keeps the last few it loaded.
    """
    key = str(folder)
    loaded = _segments.get(key)
    if loaded is not None and folder.is_dir():
        return loaded
    if key not in _checked:
        problem = folder_damage(folder) if (folder / DONE_FILE).exists() else "unfinished"
        if problem is not None:
            log.warning("search segment damaged: building it again", folder=key, problem=problem)
            _forget(folder)
            remove_folder(folder)
            return None
        _checked.add(key)
    try:
        segment = load_segment(folder)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        log.warning("search segment unreadable: building it again", folder=key, problem=str(exc))
        _forget(folder)
        remove_folder(folder)
        return None
    _segments[key] = segment
    while len(_segments) > HELD_SEGMENTS:
        _segments.pop(next(iter(_segments)))
    return segment


def _forget(folder: Path) -> None:
    _checked.discard(str(folder))
    _segments.pop(str(folder), None)


def _newest_base(segments: Path, fingerprint: str) -> tuple[Path, Segment] | None:
    """The newest intact base segment built with the index settings ``fingerprint``."""
    if not segments.is_dir():
        return None
    bases = []
    for folder in segments.iterdir():
        info = _segment_info(folder) if not folder.name.startswith(".") else None
        if info and info.get("kind") == "base" and info.get("fingerprint") == fingerprint \
                and info.get("format") == FORMAT and (folder / DONE_FILE).exists():
            bases.append((folder.stat().st_mtime, folder))
    for _, folder in sorted(bases, reverse=True):
        seg = checked_segment(folder)
        if seg is not None and seg.own_raw_edges is not None and seg.own_def_offsets is not None:
            return folder, seg
    return None


def _read_rows(reader: StoreReader, paths: list[str] | None) -> dict[str, Any]:
    """The files, chunks and symbols rows of ``paths``; every row when None, and then the chunks as a
    stream of record batches (their term lists are the largest column of the store)."""
    columns = {"files": FILE_COLUMNS, "chunks": [*CHUNK_COLUMNS, "term_list", "term_counts"],
               "symbols": ["path", "name"]}
    out: dict[str, Any] = {}
    for name, cols in columns.items():
        if paths is None and name == "chunks":
            out[name] = reader.read_batches(name, cols, BUILD_BLOCK_DOCS)
        else:
            out[name] = reader.read(name, cols) if paths is None else reader.read_paths(name, cols, paths)
        release_freed_memory()  # what the database held while reading
    return out


def _changes(reader: StoreReader, base: Segment) -> tuple[list[str], pa.Array] | None:
    """The paths added or changed since ``base`` and the base's paths removed, from the commit's
    manifest; None when the manifest cannot tell."""
    from exocortex.store.meta import changed_since, read_manifest

    manifest = read_manifest(reader.path, reader.meta)
    if manifest is None:
        return None
    current = manifest.filter(pc.is_null(manifest.column("skip_reason")))
    return changed_since(base.file_paths, base.file_hashes, current.column("path").combine_chunks(),
                         current.column("hash").combine_chunks())


def _build_commit(reader: StoreReader, folder: Path, config: Config | None) -> None:
    """Write the commit folder ``folder``: a view over the newest base and a new delta, or a new base."""
    root = folder.parent
    _prepare(root)
    segments = root / SEGMENTS_DIRNAME
    _prepare(segments)
    fingerprint = reader.meta.fingerprint
    found = _newest_base(segments, fingerprint)
    plan = _changes(reader, found[1]) if found is not None else None
    started = time.perf_counter()
    if found is not None and plan is not None:
        base_dir, base = found
        changed, removed = plan
        if config is None:
            from exocortex.config import Config

            config = Config()
        if len(changed) + len(removed) <= max(config.search_delta_min_files,
                                              config.search_delta_max_share * base.num_files):
            if not changed and not len(removed):
                view = {"base": base_dir.name, "delta": None, "delta_files": 0, "removed": 0}
                write_folder(root, folder.name, lambda tmp: _write_view_file(tmp, view))
            else:
                delta_dir = _build_segment(reader, segments, changed, "delta", fingerprint)
                delta = checked_segment(delta_dir)
                if delta is None:
                    raise StoreCorruptError(f"the search segment just built in {delta_dir} cannot be read back; "
                                            f"{rebuild_hint(reader.path)}")
                arrays = build_view(base, delta, removed)
                view = {"base": base_dir.name, "delta": delta_dir.name, "delta_files": delta.num_files,
                        "removed": len(removed)}

                def fill(tmp: Path) -> None:
                    save_view(arrays, tmp)
                    _write_view_file(tmp, view)

                write_folder(root, folder.name, fill)
            log.info("search data updated", changed=len(changed), removed=len(removed),
                     seconds=round(time.perf_counter() - started, 3))
            _collect(root, folder.name)
            return
    base_dir = _build_segment(reader, segments, None, "base", fingerprint)
    view = {"base": base_dir.name, "delta": None, "delta_files": 0, "removed": 0}
    write_folder(root, folder.name, lambda tmp: _write_view_file(tmp, view))
    log.info("search data built", seconds=round(time.perf_counter() - started, 3))
    _collect(root, folder.name)


def _write_view_file(folder: Path, view: dict[str, Any]) -> None:
    (folder / VIEW_FILE).write_text(json.dumps(view) + "\n")


def _build_segment(reader: StoreReader, segments: Path, paths: list[str] | None, kind: str,
                   fingerprint: str) -> Path:
    """Build a segment of ``paths`` (every file for a base) and return its folder."""
    name = f"{kind}-{uuid.uuid4().hex[:16]}"
    rows = _read_rows(reader, paths)

    def fill(tmp: Path) -> None:
        build_segment(rows, tmp, name)  # takes the tables out of ``rows``
        if kind == "base":
            # the base's own view (nothing deleted, nothing added): its definitions and graph
            own = build_view(load_segment(tmp), empty_segment(), pa.array([], pa.string()))
            (tmp / OWN_VIEW_DIRNAME).mkdir()
            save_view({key: own[key] for key in ("def_offsets", "def_docs", "graph", "raw_src", "raw_dst", "raw_kind")},
                      tmp / OWN_VIEW_DIRNAME)
        info = _segment_info(tmp) or {}
        info |= {"kind": kind, "fingerprint": fingerprint, "format": FORMAT}
        (tmp / INFO_FILE).write_text(json.dumps(info) + "\n")

    folder = write_folder(segments, name, fill)
    _checked.add(str(folder))  # just written and hashed
    return folder


def _collect(root: Path, keep: str) -> None:
    """Remove the commit folders other than ``keep``, the segments it does not name (once they are
    old enough that no process is about to name them) and temporary folders left by dead builds."""
    now = time.time()
    try:
        view = json.loads((root / keep / VIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for old in root.iterdir():
        if old.name in (keep, SEGMENTS_DIRNAME):
            continue
        if not old.name.startswith(".") or now - old.stat().st_mtime > STALE_BUILD_S:
            remove_folder(old)
    used = {view.get("base"), view.get("delta")}
    for old in (root / SEGMENTS_DIRNAME).iterdir():
        age = now - old.stat().st_mtime
        if old.name.startswith("."):
            if age > STALE_BUILD_S:
                remove_folder(old)
        elif old.name not in used and _vectors_of(old.name) not in used and age > UNREFERENCED_GRACE_S:
            _forget(old)
            remove_folder(old)


def _vectors_of(name: str) -> str | None:
    """The segment whose vectors the folder ``name`` holds (None: not a vectors folder)."""
    if not name.startswith(VECTORS_PREFIX):
        return None
    parts = name[len(VECTORS_PREFIX):].split("-", 1)
    return parts[1] if len(parts) == 2 else None


def _load_commit_checked(folder: Path) -> SearchData | None:
    """The commit folder's search data when it and its segments are intact, else None (and the
    damaged folder is removed)."""
    problem = folder_damage(folder)
    if problem is None:
        try:
            data = _load_commit(folder)
            if data is not None:
                return data
            problem = "a segment it names is missing or damaged"
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            problem = f"unreadable: {exc}"
    log.warning("search data damaged: building it again", folder=str(folder), problem=problem)
    remove_folder(folder)
    return None


def _load_graph(folder: Path) -> Graph:
    def arr(name: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"graph_{name}.npy", mmap_mode="r")
        return loaded

    num_files = int(np.load(folder / "graph_num_files.npy")[0])
    return Graph(num_files=num_files, **{name: arr(name) for name in GRAPH_ARRAYS})


def _load_commit(folder: Path) -> SearchData | None:
    """The search data a commit folder names (None when a segment it names is gone or damaged)."""
    view = json.loads((folder / VIEW_FILE).read_text(encoding="utf-8"))
    segments = folder.parent / SEGMENTS_DIRNAME
    base = checked_segment(segments / view["base"])
    if base is None:
        return None
    info = {key: view.get(key) for key in ("base", "delta", "delta_files", "removed")}
    if view.get("delta") is None:
        if base.own_def_offsets is None or base.own_def_docs is None:
            return None  # a base without its own view: built by another version
        own = segments / view["base"] / OWN_VIEW_DIRNAME
        return SearchData(
            chunks=base.chunks, skeletons=base.skeletons, files=base.files, keys=ChunkKeys([base.chunk_keys]),
            chunk_file=base.chunk_file, file_first_chunk=base.file_first_chunk(),
            file_chunk_count=base.file_chunk_count(), file_paths=base.file_paths, file_role=base.file_role,
            def_offsets=base.own_def_offsets, def_docs=base.own_def_docs, graph=_load_graph(own), segments=info,
            folder=folder,
        )
    delta = checked_segment(segments / view["delta"])
    if delta is None:
        return None

    def arr(name: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"{name}.npy", mmap_mode="r")
        return loaded

    a = {name: arr(name) for name in VIEW_ARRAYS}
    chunk_file = arr("chunk_file")
    file_paths = read_strings(folder / "file_paths.arrow")
    return SearchData(
        chunks=LexicalView([Part(base.chunks, a["b_doc"], a["b_term"], a["term_b"]),
                            Part(delta.chunks, a["d_doc"], a["d_term"], a["term_d"])],
                           a["chunk_doc_len"], a["doc_src"]),
        skeletons=LexicalView([Part(base.skeletons, a["b_file"]), Part(delta.skeletons, a["d_file"])],
                              a["skeleton_doc_len"]),
        files=LexicalView([Part(base.files, a["b_file"]), Part(delta.files, a["d_file"])], a["file_doc_len"]),
        keys=ChunkKeys([base.chunk_keys, delta.chunk_keys], a["doc_src"]),
        chunk_file=chunk_file,
        file_first_chunk=arr("file_first_chunk"),
        file_chunk_count=np.bincount(np.asarray(chunk_file), minlength=len(file_paths)),
        file_paths=file_paths,
        file_role=arr("file_role"),
        def_offsets=arr("def_offsets"),
        def_docs=arr("def_docs"),
        graph=_load_graph(folder),
        segments=info,
        folder=folder,
    )
