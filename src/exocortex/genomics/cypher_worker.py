"""One read-only Cypher query in a process that cannot write files: the graph's query worker.

:func:`exocortex.genomics.graph.run_cypher` starts ``python -m exocortex.genomics.cypher_worker``,
writes a pickled request on its stdin and reads a pickled reply from its stdout. Before the
database is opened the worker takes away its own means to write, so a query that gets past the
keyword check in ``graph.py`` (``COPY ... TO`` writes a file even on a read-only database) still
cannot write anything:

- **Landlock** (Linux 5.13 and later): a ruleset that handles every file-system write right
  (write, truncate, create, remove, rename, link) and grants none, so no file anywhere can be
  opened for writing, made, truncated or removed; reading is untouched. ``no_new_privs`` is set
  first, as Landlock requires.
- **RLIMIT_FSIZE = 0**, everywhere: no file can grow by a byte (``SIGXFSZ`` ignored, so a write
  fails with ``EFBIG`` instead of killing the worker). Where Landlock is missing this is the
  guard that remains, with the read-only database and the keyword check.
- **RLIMIT_DATA**: the database's address-space reservation plus twice ``memory_bytes`` (the
  buffer pool, and as much again for what is allocated outside it), so a query that builds a
  huge list fails with ``std::bad_alloc`` instead of taking the machine's memory.

The database is opened ``read_only=True`` with ``buffer_pool_size = memory_bytes``, the query
gets ``set_query_timeout`` (the parent also kills the worker a little after the limit, for work
LadybugDB does not interrupt), and at most ``max_rows`` rows are kept: the total comes from the
result's tuple count, the rest are not read.

Reply: ``{"ok": True, "columns", "rows", "total", "guard"}`` or ``{"ok": False, "kind", "message"}``
where ``kind`` is ``timeout``, ``memory`` or ``query``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import resource
import signal
import sys
from typing import Any

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every architecture.
_SYS_CREATE_RULESET, _SYS_RESTRICT_SELF = 444, 446
_CREATE_RULESET_VERSION = 1
_PR_SET_NO_NEW_PRIVS = 38
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE_ALL = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3


def forbid_writes() -> str:
    """Take away this process's ability to write files; the name of the strongest guard in force."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    guard = "fsize"
    if not sys.platform.startswith("linux"):
        return guard
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
        if abi < 1:
            return guard
        handled = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_ALL
        handled |= _REFER if abi >= 2 else 0
        handled |= _TRUNCATE if abi >= 3 else 0
        attr = ctypes.c_uint64(handled)  # struct landlock_ruleset_attr, its first field only (ABI 1 size)
        fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
        if fd < 0:
            return guard
        try:
            if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                return guard
            if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
                return guard
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        return guard
    return "landlock"


def _max_db_size(path: str) -> int:
    """The address space LadybugDB reserves for the database: a power of two, at least 1 GiB and
    four times the file."""
    size = 1 << 30
    try:
        wanted = 4 * os.path.getsize(path)
    except OSError:
        wanted = 0
    while size < wanted:
        size <<= 1
    return size


def _limit_memory(max_db_size: int, memory_bytes: int) -> None:
    limit = max_db_size + 2 * memory_bytes
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit already in force: keep it
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def run(request: dict[str, Any]) -> dict[str, Any]:
    guard = forbid_writes()
    path = request["path"]
    memory_bytes = int(request["memory_bytes"])
    max_db_size = _max_db_size(path)
    _limit_memory(max_db_size, memory_bytes)
    import ladybug

    db = ladybug.Database(path, read_only=True, buffer_pool_size=memory_bytes, max_db_size=max_db_size)
    conn = ladybug.Connection(db)
    conn.set_query_timeout(max(1, int(request["timeout_ms"])))
    try:
        result = conn.execute(request["query"], request.get("parameters") or {})
    except RuntimeError as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if text.startswith("Interrupted"):
            return {"ok": False, "kind": "timeout", "message": text}
        if "bad_alloc" in text or "Buffer manager exception" in text or "out of memory" in text.lower():
            return {"ok": False, "kind": "memory", "message": text}
        return {"ok": False, "kind": "query", "message": text}
    except MemoryError:
        return {"ok": False, "kind": "memory", "message": "MemoryError"}
    if isinstance(result, list):
        return {"ok": False, "kind": "query", "message": "`exocortex vcf graph` runs one Cypher statement at a time"}
    columns = list(result.get_column_names())
    total = int(result.get_num_tuples())
    rows: list[list[Any]] = []
    max_rows = int(request["max_rows"])
    while len(rows) < max_rows and result.has_next():
        rows.append(list(result.get_next()))
    result.close()
    conn.close()
    db.close()
    return {"ok": True, "columns": columns, "rows": rows, "total": total, "guard": guard}


def main() -> None:
    request = pickle.load(sys.stdin.buffer)
    try:
        reply = run(request)
    except MemoryError:
        reply = {"ok": False, "kind": "memory", "message": "MemoryError"}
    except Exception as exc:  # one line for the parent, which raises it as a ConfigError
        reply = {"ok": False, "kind": "query", "message": f"{type(exc).__name__}: {exc}"}
    data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
