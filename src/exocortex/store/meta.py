"""The parts of the store that need no database: ``meta.json``, the writer lock, the manifest sidecar.

Kept apart from ``lance.py`` because importing lancedb costs about a second:
a no-op re-index (nothing changed) runs on this module alone.

``meta.json`` is the commit point of the store. It names the Lance database
folder of the commit (``db_dir``), the committed version of every table in it,
an id that no other commit of any store ever has (``commit_id``: caches of a
commit's data are keyed by it) and the manifest sidecar file of that commit, a
small Arrow IPC file with the columns the incremental planner needs (path,
size, mtime, hash, skip reason), so that planning a run does not open Lance.

A rebuild writes a new database folder beside the committed one and switches
to it with the same atomic rename of ``meta.json``; the folder it replaced is
kept for the readers that opened it until the next commit.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exocortex.errors import (
    IndexNotFoundError,
    InputPathError,
    SchemaVersionError,
    StoreCorruptError,
    StoreLockedError,
)
from exocortex.log import get_logger
from exocortex.store.schema import SCHEMA_VERSION, TABLES

META_FILE = "meta.json"
LOCK_FILE = "lock"
DB_DIR = "lance"
"""The database folder of stores written before rebuilds got folders of their own."""
DB_DIR_PREFIX = "lance-"
STORE_MARKER = "exocortex-store"
"""Written into every store folder this tool creates: only such a folder is ever written to."""
MANIFEST_COLUMNS = ["path", "size", "mtime_ns", "hash", "skip_reason"]
_TAKEOVER_SETTLE_S = 1.0
"""A dead writer's record must stay unchanged this long before its lock is taken over."""

log = get_logger(__name__)


@dataclass
class StoreMeta:
    schema_version: int
    root: str
    tables: dict[str, int]
    created_at: float
    updated_at: float
    fingerprint: str = ""
    manifest: str = ""
    """File name of this commit's manifest sidecar ('' when there is none)."""
    last_run: dict[str, Any] = field(default_factory=dict)
    db_dir: str = DB_DIR
    """The Lance database folder (relative to the store) that holds this commit's tables."""
    previous_db_dir: str = ""
    """The folder this commit replaced (a rebuild), kept for its readers until the next commit."""
    commit_id: str = ""
    """Unique id of this commit's data (unchanged by a commit that changes no row); '' in old stores."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @property
    def data_id(self) -> str:
        """What names this commit's data for caches: never the same for two different contents."""
        if self.commit_id:
            return self.commit_id
        versions = "-".join(str(self.tables[name]) for name in sorted(self.tables))
        return f"{self.db_dir}-{versions}-{self.created_at!r}"


def new_commit_id() -> str:
    return uuid.uuid4().hex


def rebuild_hint(path: Path) -> str:
    return f"re-index with `exocortex index --rebuild --store {path}`"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def read_meta(store_dir: Path) -> StoreMeta:
    """Read and check ``meta.json`` and the tables it names; raise an error that tells the user what to do."""
    meta_path = store_dir / META_FILE
    if not store_dir.exists():
        raise IndexNotFoundError(f"no index at {store_dir}: run `exocortex index` first")
    if not store_dir.is_dir():
        raise InputPathError(f"the store path {store_dir} is not a directory: pass --store a directory")
    if not os.access(store_dir, os.R_OK | os.X_OK):
        raise InputPathError(f"cannot read the store {store_dir}: permission denied")
    if not meta_path.exists():
        raise IndexNotFoundError(
            f"no committed index in {store_dir} (a first run may have been interrupted): "
            "run `exocortex index` first"
        )
    if meta_path.is_dir():
        raise StoreCorruptError(f"store {store_dir} is damaged: its {META_FILE} is a directory: remove it")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except PermissionError:
        raise InputPathError(f"cannot read the store {store_dir}: {META_FILE} permission denied") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted ({META_FILE} unreadable: {first_line(exc)}); {rebuild_hint(store_dir)}"
        ) from exc
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise StoreCorruptError(f"store {store_dir} is corrupted ({META_FILE} malformed); {rebuild_hint(store_dir)}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store {store_dir} has schema version {version}, this exocortex reads version "
            f"{SCHEMA_VERSION}; {rebuild_hint(store_dir)}"
        )
    try:
        meta = StoreMeta(**raw)
        _check_fields(meta)
    except (TypeError, ValueError) as exc:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted ({META_FILE} malformed: {exc}); {rebuild_hint(store_dir)}"
        ) from exc
    missing = missing_tables(store_dir, meta)
    if missing:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted (committed table versions missing on disk: {', '.join(missing)}); "
            f"{rebuild_hint(store_dir)}"
        )
    return meta


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(meta: StoreMeta) -> None:
    """Every field of ``meta.json`` of the type and range the readers rely on (ValueError if not)."""
    if set(meta.tables) != set(TABLES) or not all(_is_count(v) for v in meta.tables.values()):
        raise ValueError("table versions missing or not counts")
    for name in ("root", "fingerprint", "manifest", "db_dir", "previous_db_dir", "commit_id"):
        if not isinstance(getattr(meta, name), str):
            raise ValueError(f"{name} is not a string")
    for name in ("created_at", "updated_at"):
        if not _is_time(getattr(meta, name)):
            raise ValueError(f"{name} is not a time")
    for name in ("db_dir", "previous_db_dir", "manifest"):
        value = getattr(meta, name)
        if value and (os.sep in value or value in (".", "..") or "\0" in value):
            raise ValueError(f"{name} is not a plain file name")
    if not meta.db_dir:
        raise ValueError("db_dir is empty")
    if not isinstance(meta.last_run, dict):
        raise ValueError("last_run is not an object")
    summary = meta.last_run.get("summary", {})
    if not isinstance(summary, dict):
        raise ValueError("last_run.summary is not an object")
    for name in ("files", "chunks", "tokens", "bytes", "structural_files"):
        if name in summary and not _is_count(summary[name]):
            raise ValueError(f"last_run.summary.{name} is not a count")
    for name in ("languages", "skipped"):
        counts = (summary if name == "languages" else meta.last_run).get(name, {})
        if not isinstance(counts, dict) or not all(_is_count(v) for v in counts.values()):
            raise ValueError(f"{name} is not a table of counts")


def version_manifest_names(version: int) -> tuple[str, str]:
    """The two names Lance gives a table version's manifest (its v2 naming counts down from 2**64 - 1)."""
    return f"{(1 << 64) - 1 - version}.manifest", f"{version}.manifest"


def missing_tables(store_dir: Path, meta: StoreMeta) -> list[str]:
    """The tables whose committed version is not on disk (a deleted table, a version bumped by hand)."""
    missing = []
    for name, version in sorted(meta.tables.items()):
        versions = store_dir / meta.db_dir / f"{name}.lance" / "_versions"
        if not any((versions / candidate).is_file() for candidate in version_manifest_names(version)):
            missing.append(f"{name}@{version}")
    return missing


def is_store(store_dir: Path) -> bool:
    """Whether ``store_dir`` holds an exocortex store (of code, variants or both)."""
    return any(
        (store_dir / name).exists() for name in (STORE_MARKER, META_FILE, os.path.join("genomics", "manifest.json"))
    )


def claim_store(store_dir: Path) -> None:
    """Make ``store_dir`` a store folder: create it, or check that it is one (or empty) and writable.

    A folder that holds anything else is refused: a writer removes what it does not recognise
    inside a store, so it must never be pointed at someone's data.
    """
    try:
        if store_dir.exists() or store_dir.is_symlink():
            if not store_dir.is_dir():
                raise InputPathError(f"the store path {store_dir} is not a directory: pass --store a directory")
            if not is_store(store_dir):
                # A lone lock file is one a writer made before it claimed the folder.
                entries = sorted(e for e in os.listdir(store_dir) if e != LOCK_FILE)
                if entries:
                    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
                    raise InputPathError(
                        f"{store_dir} is not an exocortex store and is not empty ({shown}): "
                        "pass --store a new or empty folder"
                    )
        store_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(store_dir, os.W_OK | os.X_OK):  # a read-only folder or file system
            raise PermissionError
        marker = store_dir / STORE_MARKER
        if not marker.is_file():
            _atomic_write(marker, b"exocortex store: written by exocortex, safe to delete with the whole folder\n")
        ignore = store_dir / ".gitignore"
        if not ignore.exists():  # `git status` of the indexed repository stays clean
            _atomic_write(ignore, b"# written by exocortex: nothing in its store belongs in git\n*\n")
    except PermissionError:
        raise InputPathError(f"cannot write the store {store_dir}: permission denied (read-only?)") from None
    except OSError as exc:
        raise InputPathError(f"cannot use the store {store_dir}: {exc.strerror or exc}") from None


def read_meta_if_any(store_dir: Path) -> StoreMeta | None:
    """The committed meta when it is readable and whole, else None (what a rebuild replaces)."""
    from exocortex.errors import ExocortexError

    try:
        return read_meta(store_dir)
    except ExocortexError:
        return None


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _atomic_write(path: Path, data: bytes) -> None:
    if path.is_dir() and not path.is_symlink():
        raise StoreCorruptError(f"{path} is a directory where a file belongs: remove it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_meta(store_dir: Path, meta: StoreMeta) -> None:
    """Commit: atomically replace ``meta.json``, then drop sidecars and database folders no reader needs."""
    _atomic_write(store_dir / META_FILE, meta.to_json().encode("utf-8"))
    for old in store_dir.glob("manifest-*.arrow"):
        if old.name != meta.manifest:
            with contextlib.suppress(OSError):
                old.unlink()
    remove_unused_databases(store_dir, keep={meta.db_dir, meta.previous_db_dir})


def remove_unused_databases(store_dir: Path, keep: set[str]) -> None:
    """Delete database folders neither ``keep`` names: left by interrupted rebuilds or replaced long ago.

    Call only while holding the writer lock (a rebuild's folder is in use until it commits).
    """
    import shutil

    for folder in store_dir.iterdir():
        name = folder.name
        ours = name == DB_DIR or name.startswith(DB_DIR_PREFIX)
        if ours and name not in keep and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


def write_manifest(store_dir: Path, table: Any, tag: str) -> str:
    """Write the manifest sidecar of a commit about to happen; return its file name.

    ``tag`` must be new (a commit id): the committed sidecar is never overwritten, so a run
    killed before its commit leaves the committed manifest as it was.
    """
    import pyarrow as pa
    import pyarrow.ipc as ipc

    name = f"manifest-{tag}.arrow"
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    _atomic_write(store_dir / name, sink.getvalue().to_pybytes())
    return name


def read_manifest(store_dir: Path, meta: StoreMeta) -> Any | None:
    """The committed manifest as an Arrow table, or None when the sidecar is missing or unreadable."""
    if not meta.manifest:
        return None
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        with pa.memory_map(str(store_dir / meta.manifest)) as source:
            table = ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid):
        return None  # the caller falls back to the files table
    return table if set(MANIFEST_COLUMNS) <= set(table.column_names) else None


def changed_since(old_paths: Any, old_hashes: Any, new_paths: Any, new_hashes: Any) -> tuple[list[str], Any]:
    """Between two manifests (Arrow arrays of paths and content hashes): the new paths that are not
    among the old or whose hash differs, and the old paths the new manifest lacks (an Arrow array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at = pc.index_in(new_paths, value_set=old_paths)
    if len(old_paths):
        same = pc.fill_null(pc.and_(pc.is_valid(at), pc.equal(new_hashes, pc.take(old_hashes, pc.fill_null(at, 0)))),
                            False)
    else:
        same = pa.array([False] * len(new_paths))
    changed: list[str] = pc.filter(new_paths, pc.invert(same)).to_pylist()
    removed = pc.filter(old_paths, pc.invert(pc.is_in(old_paths, value_set=new_paths)))
    return changed, removed


# --- the writer lock ------------------------------------------------------------------------------

_held_locks: dict[int, int] = {}
"""fd -> pid of the process that took the lock through it."""


def _drop_inherited_locks() -> None:
    """In a forked child: close the lock fds inherited from the parent.

    A flock belongs to the open file, which a fork shares: a child that kept the fd would hold
    the store's lock after its parent died. Closing the child's copy leaves the parent's lock.
    """
    for fd in list(_held_locks):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


def process_record() -> str:
    """What names this process durably: its pid and start time (a pid alone can be reused); the writer lock holds it."""
    return f"{os.getpid()} {_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' where /proc cannot tell)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19] if ")" in stat else ""


def record_alive(record: str) -> bool:
    """Whether the process a record of :func:`process_record` names is still running."""
    parts = record.split()
    if not parts or not parts[0].isdigit():
        return True  # no record yet: a writer that has just taken the lock
    pid = int(parts[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return len(parts) < 2 or not parts[1] or _start_time(pid) in ("", parts[1])


def _lock_holders(lock_path: Path) -> list[int]:
    """Processes (other than this one) that have the lock file open, from /proc; [] where there is none."""
    try:
        target = os.stat(lock_path)
    except OSError:
        return []
    holders = []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    st = os.stat(fd)
                    if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                        holders.append(int(entry.name))
                        break
    return holders


def _take_over(fd: int, lock_path: Path, record: str) -> bool:
    """End the processes that hold the lock of a dead writer (its orphaned workers); True if any were."""
    time.sleep(_TAKEOVER_SETTLE_S)
    if os.pread(fd, 128, 0).decode("ascii", "replace").strip() != record or record_alive(record):
        return False  # a live writer took the lock meanwhile
    orphans = _lock_holders(lock_path)
    for pid in orphans:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if orphans:
        log.warning("took over the lock of a dead writer", writer=record.split()[0], ended_processes=orphans)
    return bool(orphans)


@contextlib.contextmanager
def writer_lock(store_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the store's writer lock; refuse with a clear message if another writer has it.

    The lock is a flock on ``<store>/lock``, released by the kernel when its holder dies. Forked
    children (the index workers) close their copy at once, so they never keep it alive; if the
    writer recorded in the file is dead and processes still hold the file open (workers of an
    older exocortex, or ones that outlived their parent), they are ended and the lock is taken.
    """
    lock_path = store_dir / LOCK_FILE
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except IsADirectoryError:
        raise StoreCorruptError(f"{lock_path} is a directory, not the store's lock file: remove it") from None
    except PermissionError:
        raise InputPathError(f"cannot write the store {store_dir}: permission denied") from None
    except OSError as exc:
        raise InputPathError(f"cannot use the store {store_dir}: {exc.strerror or exc}") from None
    acquired = False
    try:
        deadline = time.monotonic() + wait_s
        took_over = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            record = os.pread(fd, 128, 0).decode("ascii", "replace").strip()
            if not took_over and record and not record_alive(record):
                took_over = True
                if _take_over(fd, lock_path, record):
                    time.sleep(0.1)
                    continue
            if time.monotonic() >= deadline:
                holder = record.split()[0] if record else "unknown: it has just started"
                raise StoreLockedError(
                    f"another exocortex process (pid {holder}) is writing the store {store_dir}; "
                    "wait for it to finish or pass --wait SECONDS"
                ) from None
            time.sleep(0.1)
        acquired = True
        _held_locks[fd] = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, process_record().encode(), 0)
        yield
    finally:
        if _held_locks.get(fd) == os.getpid():  # not in a forked child whose copy is already closed
            del _held_locks[fd]
            if acquired:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock
        elif not acquired:
            os.close(fd)


def store_size_bytes(store_dir: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(store_dir):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
