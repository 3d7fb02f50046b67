"""The persistent L3 of answers: one store's search results and packs, kept on disk between processes.

Why: a CLI call is a new process, so its in-memory levels (the engine's L1 and L2) start empty and a
question an agent asks again pays for the whole search (and, for a pack, the database's imports and
reads) every time. ``AnswerCache`` keeps finished answers under the store, so the same question in
the next process is read back instead.

Layout: ``<store>/answers/<commit>/`` is a ``DiskLevel`` directory for the store's commit (its data
id, the name its search data folder carries too). The caller's key holds everything else an answer
depends on (the settings' fingerprint, the code's, the query and every parameter), and the commit
folder makes the entries of another commit unreachable: a write removes the other commits' folders,
so the directory holds the current commit's answers, bounded by ``answer_cache_max_bytes`` (the
serialized answers' bytes, least recently used out first) and ``answer_cache_max_entries``.

Reads take no lock: ``disk.read_entry`` opens the one file the key names (an entry is replaced by an
atomic rename, so a reader sees a whole entry or none) and touches it, so the LRU order the next
writer rebuilds from mtimes counts the use. Writes open the ``DiskLevel`` (its lock, its index, its
bounds), write and close it at once, so no process holds the directory between answers.

Nothing here fails an answer. A folder another process is writing (``DiskLevelLockedError``) means
the write is skipped; a damaged entry is a miss (and is replaced by the next write of its key); a
directory that cannot be written (a read-only store, a full disk) means no L3 for that answer. Each
is counted in ``stats()``. Writes skip the fsyncs (``durable=False``): after a machine crash an entry
may be lost or come back, and either is harmless here, since an entry never goes stale (its key
names all it depends on) and a torn one fails its checksum.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from exocortex.log import get_logger
from exocortex.memory.cache import Record
from exocortex.memory.disk import CorruptEntryError, DiskLevel, DiskLevelLockedError, read_entry
from exocortex.memory.policies import MISSING, OversizeError

ANSWERS_DIRNAME: Final = "answers"
"""The folder under the store that holds the answers of its current commit."""
LEVEL_NAME: Final = "L3"


def commit_folder_name(commit: str) -> str:
    """The folder of a commit's answers: its id with anything but ``[A-Za-z0-9_.-]`` replaced (never empty)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", commit)[:200]
    return name if name.strip(".") else "_" + name


@dataclass
class _Counters:
    requests: int = 0
    hits: int = 0
    misses: int = 0
    writes: int = 0
    written_bytes: int = 0
    corrupt: int = 0
    locked: int = 0
    """Writes skipped because another process (or thread) was writing the folder."""
    oversize: int = 0
    """Answers larger than the whole bound, not kept."""
    errors: int = 0
    """Reads or writes that failed for another reason (a read-only or full disk): answered without L3."""
    removed_commits: int = 0


class AnswerCache:
    """The answers of one store on disk (``<store>/answers``); see the module docstring.

    ``get(commit, key)`` returns the stored JSON value or ``None``; ``put(commit, items)`` stores
    ``(key, value)`` pairs, values being JSON (``str``, numbers, lists, dicts with ``str`` keys) and
    keys tuples of ``str`` and ``int`` (``disk.encode_key``). Thread-safe: counters are taken under
    a lock, and two writers in one process meet at the folder's lock like two processes do.
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int, max_entries: int) -> None:
        if max_bytes <= 0 or max_entries <= 0:
            raise ValueError("an AnswerCache needs positive bounds (0 in the settings means no AnswerCache)")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._log = get_logger(__name__)

    def folder(self, commit: str) -> Path:
        return self.directory / commit_folder_name(commit)

    def get(self, commit: str, key: tuple[Any, ...]) -> Any | None:
        """The value stored under ``key`` for ``commit``, or None (absent, damaged or unreadable)."""
        folder = self.folder(commit)
        try:
            record = read_entry(folder, key, touch=True)
        except CorruptEntryError as exc:
            self._log.warning("answer_cache.damaged_entry", folder=str(folder), reason=str(exc))
            record = MISSING
            self._count(corrupt=1)
        except (OSError, ValueError, TypeError) as exc:
            self._log.debug("answer_cache.read_failed", folder=str(folder), error=str(exc))
            record = MISSING
            self._count(errors=1)
        if record is MISSING:
            self._count(requests=1, misses=1)
            return None
        self._count(requests=1, hits=1)
        return record.value

    def put(self, commit: str, items: Iterable[tuple[tuple[Any, ...], Any]]) -> int:
        """Store each ``(key, value)`` for ``commit`` in one opening of its folder; how many were stored.

        Skipped, never raised: a folder another writer holds, a value larger than the bound, a
        directory that cannot be written. The folders of other commits are removed afterwards.
        """
        items = list(items)
        if not items:
            return 0
        folder = self.folder(commit)
        try:
            level = DiskLevel(folder, LEVEL_NAME, max_entries=self.max_entries, max_bytes=self.max_bytes,
                              durable=False)
        except DiskLevelLockedError:
            self._count(locked=1)
            return 0
        except OSError as exc:
            self._log.debug("answer_cache.unavailable", folder=str(folder), error=str(exc))
            self._count(errors=1)
            return 0
        stored = 0
        try:
            for key, value in items:
                before = level.stats()["written_bytes"]
                try:
                    level.set(key, Record(value, None, 1))
                except OversizeError:
                    self._count(oversize=1)
                    continue
                except (OSError, TypeError, ValueError) as exc:
                    self._log.debug("answer_cache.write_failed", folder=str(folder), error=str(exc))
                    self._count(errors=1)
                    break
                stored += 1
                self._count(writes=1, written_bytes=level.stats()["written_bytes"] - before)
        finally:
            level.close()
        self._remove_other_commits(folder.name)
        return stored

    def _remove_other_commits(self, keep: str) -> None:
        """Delete the folders of other commits: their entries can never be asked for again."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            if entry.name == keep:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:  # a file or a symlink has no place here: the link goes, never its target
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue  # another process removed it first
            except OSError as exc:
                self._log.debug("answer_cache.cleanup_failed", path=entry.path, error=str(exc))
                continue
            self._count(removed_commits=1)

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._counters, name, getattr(self._counters, name) + delta)

    def on_disk(self) -> tuple[int, int]:
        """Entries and bytes (their files' sizes) under the directory now, every commit's folder included."""
        entries = nbytes = 0
        for dirpath, _dirs, files in os.walk(self.directory):
            for name in files:
                if name.endswith(".xc") and not name.startswith("."):
                    try:
                        nbytes += os.lstat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        continue
                    entries += 1
        return entries, nbytes

    def stats(self) -> dict[str, Any]:
        """This process's requests, hits and writes, and what the directory holds: the shape of
        ``MultiLevelCache.stats()`` (one level, ``L3``), so ``exocortex status`` lists it like the others."""
        entries, nbytes = self.on_disk()
        with self._lock:
            c = self._counters
            return {
                "mode": "persistent",
                "path": str(self.directory),
                "requests": c.requests,
                "hits": {LEVEL_NAME: c.hits},
                "misses": c.misses,
                "hit_ratio": c.hits / c.requests if c.requests else 0.0,
                "writes": c.writes,
                "written_bytes": c.written_bytes,
                "corrupt": c.corrupt,
                "skipped_locked": c.locked,
                "skipped_oversize": c.oversize,
                "errors": c.errors,
                "removed_commits": c.removed_commits,
                "levels": {
                    LEVEL_NAME: {
                        "policy": "LRU",
                        "entries": entries,
                        "bytes": nbytes,
                        "max_entries": self.max_entries,
                        "max_bytes": self.max_bytes,
                    }
                },
            }

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.directory)!r}, max_bytes={self.max_bytes}, max_entries={self.max_entries})"


__all__ = ["ANSWERS_DIRNAME", "AnswerCache", "commit_folder_name"]
