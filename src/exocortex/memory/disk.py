"""A persistent, crash-safe on-disk cache level (the L3 under ``MultiLevelCache``).

Why a disk level: L1 and L2 vanish with the process, so every restart pays for every reload.
``DiskLevel`` keeps what the memory levels let go in one file per entry, survives restarts, and
offers the same ``CacheLevel`` methods as ``Level``, so ``MultiLevelCache([Level(...), Level(...),
DiskLevel(path)])`` works unchanged.

Layout: ``<root>/<2 hex>/<40 hex>.xc``, the name being the blake2b hash of the serialized key
(sharded so no directory grows to millions of entries), plus ``<root>/.lock``. Each file is a
fixed header (magic, format version, serializer tag, key length, payload length, the record's
size, its deadline, a crc32 of the payload and a crc32 of the header and key), then the serialized
key, then the payload. The header carries its own checksum so the index can be rebuilt at open
by reading headers only, without trusting a torn deadline; the payload checksum is checked on
every read.

Crash safety: a write goes to a temp file in the same shard directory, is flushed and fsynced,
then ``os.replace``d over the final name (atomic on POSIX), and the directory is fsynced so the
rename itself is durable. A writer killed at any moment therefore leaves the old entry, the new
entry, or the old entry plus a stray temp file, which the next ``open`` deletes. Deletions fsync
the directory too (``durable=True``), because a deleted entry that reappears after a crash would
be served stale. Anything that does not parse (bad magic, version, checksum, length, a key that
does not hash to its file name) is treated as absent: it is deleted (or moved to
``<root>/quarantine`` with ``quarantine=True``), counted in ``stats()["corrupt"]`` and logged as a
warning; it is never returned and never raises.

Nothing is followed out of the directory. Every change (write, rename, delete) goes through a
descriptor of the shard directory opened with ``O_NOFOLLOW`` from a descriptor of the root, so a
shard, lock file or ``quarantine`` folder replaced by a symlink is reported and the *link*
removed, never anything it points to. Entries are opened with ``O_NOFOLLOW | O_NONBLOCK`` and
checked with ``fstat``: a symlink, FIFO (which would block a plain ``open`` for ever), directory
or device in place of an entry is a corrupt entry like any other (reported, removed, never
served). A directory in the way of a ``set`` is reported and removed so the write succeeds. Keys
nest tuples at most ``MAX_KEY_DEPTH`` deep: a deeper key is refused (``ValueError``) and a file
holding one is corrupt (building such a tuple and hashing it would crash the interpreter).

Serialization is safe by default: ``bytes``, ``bytearray``, ``str``, JSON values (dict with str
keys, list, str, int, float, bool, None; checked exactly, so a tuple is not silently turned into
a list), NumPy arrays (``np.save`` with ``allow_pickle=False``: object arrays are refused) and
Arrow tables (IPC stream), each under its own tag. Pickle is used only with ``allow_pickle=True``
because unpickling runs arbitrary code: anybody who can write a file into the cache directory
could then execute code in every process that reads the cache. Without it, an unsupported value
raises ``TypeError`` naming its type. Keys are ``str``, ``bytes``, ``int`` or (nested) tuples of
those, encoded deterministically (``bool`` is refused: ``True == 1`` would alias two keys).

Bounds: an in-memory index (key -> payload size, record size, deadline) is driven by an eviction
``Policy`` (LRU by default, any policy from ``policies`` by name or instance) whose sizes are the
serialized payload sizes (at least 1; the ~44-byte header and the key are not counted). Evicted
entries are read back (so the cache's ``on_drop`` sees the value) and their files deleted. The
``size`` inside a ``Record`` is the cache's own estimate and is stored and returned unchanged, so
an entry keeps the same size in every level; the cache checks that estimate against this level's
``max_bytes`` before writing, and this level checks the real payload size (``OversizeError``).

Expiry: deadlines are absolute times on the cache's clock. Across restarts only a wall clock
means anything, so give the ``MultiLevelCache`` and this level the same clock, ``time.time``
(the default here) in production. Like ``Level``, ``get`` returns an expired record and leaves
the decision to the cache (which counts and deletes it); ``open`` drops entries already expired,
and ``expire()`` purges them explicitly.

Processes: one process writes a directory at a time. ``open`` takes an exclusive ``fcntl.flock``
on ``<root>/.lock`` and a second opener (another process, or a second ``DiskLevel`` on the same
directory in this process) gets ``DiskLevelLockedError``. The kernel releases the lock when the
holder dies, so a killed writer never blocks the next one. The index lives in the writer's memory,
but a reader that knows its key needs no index: ``read_entry(root, key)`` opens the one file the
key names, without the lock (an entry is replaced by an atomic rename, so a reader sees a whole
entry or none), verifies it like ``get`` does and, with ``touch=True``, sets the file's mtime so
the next writer's open (which orders its policy by mtime) counts the use. POSIX only (``fcntl``).

Thread safety: none, like ``Level``; the cache calls it under its own lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib
import io
import json
import math
import os
import pickle
import secrets
import shutil
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from exocortex.log import get_logger
from exocortex.memory.cache import PolicyLevel, Record
from exocortex.memory.policies import MISSING, Evicted, OversizeError, Policy, Reason, _Missing, make_policy

GIB: Final = 1024 * 1024 * 1024

MAGIC: Final = b"EXL3"
FORMAT_VERSION: Final = 1
# magic, version, tag, flags, key_len, payload_len, record_size, expires_at, payload_crc, header_crc
_HEADER: Final = struct.Struct("<4sHBBIQQdII")
HEADER_SIZE: Final = _HEADER.size
_FLAG_EXPIRES: Final = 1
_SUFFIX: Final = ".xc"
_TMP_PREFIX: Final = ".tmp-"
_LOCK_NAME: Final = ".lock"
_QUARANTINE: Final = "quarantine"
_MAX_KEY_BYTES: Final = 1 << 20  # a header claiming a larger key is corrupt, not a reason to allocate
# Tuples nest at most this deep in a key. Python hashes a tuple recursively in C, so a key
# nested 100,000 deep crashes the interpreter (a segfault, not an exception) the moment it is
# hashed: a file holding one must be refused before its key is built, and so must such a key.
MAX_KEY_DEPTH: Final = 64
_SHARD_CHARS: Final = 2
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO put in place of an entry must not wait for a writer that never comes.
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# Serializer tags (one byte in the header). Never renumber: files on disk carry them.
TAG_BYTES: Final = 1
TAG_BYTEARRAY: Final = 2
TAG_STR: Final = 3
TAG_JSON: Final = 4
TAG_NUMPY: Final = 5
TAG_ARROW: Final = 6
TAG_PICKLE: Final = 7
_TAGS: Final = frozenset({TAG_BYTES, TAG_BYTEARRAY, TAG_STR, TAG_JSON, TAG_NUMPY, TAG_ARROW, TAG_PICKLE})


class DiskLevelLockedError(RuntimeError):
    """Another ``DiskLevel`` (in this or another process) already writes this directory."""


class CorruptEntryError(ValueError):
    """An entry file that does not parse; internal, always turned into "absent" plus a report."""


# -- keys ---------------------------------------------------------------------------------


def encode_key(key: object) -> bytes:
    """A deterministic byte encoding of a str / bytes / int / tuple key (tag, length, data).

    Deterministic so the same key always maps to the same file name across processes and
    restarts (``hash()`` of str is salted per process, ``pickle`` output is not guaranteed stable).
    Tuples may nest at most ``MAX_KEY_DEPTH`` deep (``ValueError`` beyond).
    """
    out = bytearray()
    _encode_key(key, out, 0)
    return bytes(out)


def _encode_key(key: object, out: bytearray, depth: int) -> None:
    if isinstance(key, bool):
        raise TypeError("bool keys are not supported by DiskLevel (True == 1 would alias two keys); use an int or str")
    if isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
        out += b"s" + struct.pack("<I", len(data)) + data
    elif isinstance(key, bytes):
        out += b"b" + struct.pack("<I", len(key)) + key
    elif isinstance(key, int):
        data = format(key, "x").encode("ascii")  # hex: no int-to-str digit limit, still canonical
        out += b"i" + struct.pack("<I", len(data)) + data
    elif isinstance(key, tuple):
        if depth >= MAX_KEY_DEPTH:
            raise ValueError(f"DiskLevel keys may nest tuples at most {MAX_KEY_DEPTH} deep")
        out += b"t" + struct.pack("<I", len(key))
        for item in key:
            _encode_key(item, out, depth + 1)
    else:
        raise TypeError(
            "DiskLevel keys must be str, bytes, int or tuples of those, "
            f"got {type(key).__module__}.{type(key).__qualname__}"
        )


def decode_key(data: bytes) -> Any:
    """Inverse of ``encode_key``; raises ``CorruptEntryError`` on anything malformed."""
    key, end = _decode_key(data, 0, 0)
    if end != len(data):
        raise CorruptEntryError("trailing bytes after key")
    return key


def _decode_key(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if pos + 5 > len(data):
        raise CorruptEntryError("truncated key")
    tag = data[pos : pos + 1]
    (n,) = struct.unpack_from("<I", data, pos + 1)
    pos += 5
    if tag == b"t":
        if depth >= MAX_KEY_DEPTH:
            raise CorruptEntryError(f"key nests tuples more than {MAX_KEY_DEPTH} deep")
        if n * 5 > len(data) - pos:  # every item takes at least 5 bytes
            raise CorruptEntryError("truncated key")
        items = []
        for _ in range(n):
            item, pos = _decode_key(data, pos, depth + 1)
            items.append(item)
        return tuple(items), pos
    if pos + n > len(data):
        raise CorruptEntryError("truncated key")
    chunk = data[pos : pos + n]
    pos += n
    try:
        if tag == b"s":
            return chunk.decode("utf-8", "surrogatepass"), pos
        if tag == b"b":
            return bytes(chunk), pos
        if tag == b"i":
            return int(chunk.decode("ascii"), 16), pos
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptEntryError(f"bad key component: {exc}") from exc
    raise CorruptEntryError(f"unknown key tag {tag!r}")


def key_digest(key_bytes: bytes) -> str:
    """The file-name hash of an encoded key (blake2b, 160 bits: collisions are not a concern)."""
    return hashlib.blake2b(key_bytes, digest_size=20).hexdigest()


# -- values -------------------------------------------------------------------------------


def _is_json_value(value: object, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip *exactly* (types included)."""
    if depth > 200:
        return False
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if type(value) is list:
        return all(_is_json_value(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _is_json_value(v, depth + 1) for k, v in value.items())
    return False


def serialize(value: object, *, allow_pickle: bool = False) -> tuple[int, bytes]:
    """``(tag, payload)`` for a value, choosing the safe serializer by type.

    NumPy and Arrow are only looked for if already imported: a value cannot be an ``ndarray``
    unless ``numpy`` is in ``sys.modules``, and this keeps the level cheap to import.
    """
    if type(value) is bytes:
        return TAG_BYTES, value
    if type(value) is bytearray:
        return TAG_BYTEARRAY, bytes(value)
    if type(value) is str:
        return TAG_STR, value.encode("utf-8", "surrogatepass")
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        buf = io.BytesIO()
        try:
            np.save(buf, value, allow_pickle=False)
        except ValueError:
            if not allow_pickle:
                raise TypeError(
                    f"numpy array of dtype {value.dtype} needs pickle to be stored; "
                    "pass allow_pickle=True to DiskLevel if the cache directory is trusted"
                ) from None
        else:
            return TAG_NUMPY, buf.getvalue()
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(value, pa.Table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, value.schema) as writer:
            writer.write_table(value)
        return TAG_ARROW, sink.getvalue().to_pybytes()
    if _is_json_value(value):
        return TAG_JSON, json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if allow_pickle:
        return TAG_PICKLE, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    raise TypeError(
        f"DiskLevel cannot safely serialize a {type(value).__module__}.{type(value).__qualname__}: supported are "
        "bytes, bytearray, str, JSON values (dict/list/str/int/float/bool/None), numpy arrays and pyarrow Tables; "
        "pass allow_pickle=True to store other objects (only for a trusted cache directory: unpickling runs code)"
    )


def deserialize(tag: int, payload: bytes, *, allow_pickle: bool = False) -> Any:
    """Inverse of ``serialize``; raises ``CorruptEntryError`` for anything it cannot decode."""
    try:
        if tag == TAG_BYTES:
            return payload
        if tag == TAG_BYTEARRAY:
            return bytearray(payload)
        if tag == TAG_STR:
            return payload.decode("utf-8", "surrogatepass")
        if tag == TAG_JSON:
            return json.loads(payload.decode("utf-8"))
        if tag == TAG_NUMPY:
            np = importlib.import_module("numpy")
            return np.load(io.BytesIO(payload), allow_pickle=False)
        if tag == TAG_ARROW:
            pa = importlib.import_module("pyarrow")
            with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
                return reader.read_all()
        if tag == TAG_PICKLE:
            if not allow_pickle:
                raise CorruptEntryError("entry is pickled but this DiskLevel was opened without allow_pickle=True")
            return pickle.loads(payload)
    except CorruptEntryError:
        raise
    except Exception as exc:  # any decoder failure means a bad file, never a crash
        raise CorruptEntryError(f"payload does not decode as tag {tag}: {type(exc).__name__}: {exc}") from exc
    raise CorruptEntryError(f"unknown serializer tag {tag}")


# -- files --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    tag: int
    key_bytes: bytes
    payload_len: int
    record_size: int
    expires_at: float | None
    payload_crc: int

    @property
    def total(self) -> int:
        return HEADER_SIZE + len(self.key_bytes) + self.payload_len


def _pack_header(tag: int, key_bytes: bytes, payload: bytes, record_size: int, expires_at: float | None) -> bytes:
    flags = _FLAG_EXPIRES if expires_at is not None else 0
    fields = (MAGIC, FORMAT_VERSION, tag, flags, len(key_bytes), len(payload), record_size,
              expires_at if expires_at is not None else 0.0, zlib.crc32(payload))  # fmt: skip
    head = struct.pack("<4sHBBIQQdI", *fields)
    return head + struct.pack("<I", zlib.crc32(key_bytes, zlib.crc32(head)))


def _read_header(f: io.BufferedReader, file_size: int) -> _Header:
    """The verified header and key of an open entry file (the payload is not read)."""
    raw = f.read(HEADER_SIZE)
    if len(raw) != HEADER_SIZE:
        raise CorruptEntryError("truncated header")
    fields = _HEADER.unpack(raw)
    key_len = fields[4]
    if key_len > _MAX_KEY_BYTES:
        raise CorruptEntryError("implausible key length")
    return _check_header(raw, fields, f.read(key_len), file_size)


def _checked_entry(data: bytes, key_bytes: bytes) -> tuple[_Header, memoryview]:
    """The header and payload of an entry file's bytes, checked against the key asked for and the
    payload's checksum (``CorruptEntryError`` otherwise)."""
    header, view = _parse_entry(data)
    if header.key_bytes != key_bytes:
        raise CorruptEntryError("key in file does not match")
    if zlib.crc32(view) != header.payload_crc:
        raise CorruptEntryError("payload checksum mismatch")
    return header, view


def _parse_entry(data: bytes) -> tuple[_Header, memoryview]:
    """The verified header and the payload of a whole entry file read into memory."""
    if len(data) < HEADER_SIZE:
        raise CorruptEntryError("truncated header")
    raw = data[:HEADER_SIZE]
    fields = _HEADER.unpack(raw)
    key_len = fields[4]
    if key_len > _MAX_KEY_BYTES:
        raise CorruptEntryError("implausible key length")
    header = _check_header(raw, fields, data[HEADER_SIZE : HEADER_SIZE + key_len], len(data))
    return header, memoryview(data)[HEADER_SIZE + key_len :]


def _check_header(raw: bytes, fields: tuple[Any, ...], key_bytes: bytes, file_size: int) -> _Header:
    magic, version, tag, flags, key_len, payload_len, record_size, expires_at, payload_crc, header_crc = fields
    if magic != MAGIC:
        raise CorruptEntryError("bad magic")
    if version != FORMAT_VERSION:
        raise CorruptEntryError(f"unsupported format version {version}")
    if len(key_bytes) != key_len:
        raise CorruptEntryError("truncated key")
    if zlib.crc32(key_bytes, zlib.crc32(raw[:-4])) != header_crc:
        raise CorruptEntryError("header checksum mismatch")
    if tag not in _TAGS or flags & ~_FLAG_EXPIRES or record_size <= 0:
        raise CorruptEntryError("bad header fields")
    header = _Header(tag, key_bytes, payload_len, record_size, expires_at if flags & _FLAG_EXPIRES else None,
                     payload_crc)  # fmt: skip
    if header.expires_at is not None and math.isnan(header.expires_at):
        raise CorruptEntryError("bad deadline")
    if file_size != header.total:
        raise CorruptEntryError(f"length mismatch: file has {file_size} bytes, header says {header.total}")
    return header


def _fsync_fd(fd: int) -> None:
    """Make a rename or unlink in the directory open as ``fd`` durable (skipped where not supported)."""
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _shown(path: str) -> str:
    """A path fit for a log line: undecodable bytes and control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the directory ``dir_fd``, whatever it is, without following a symlink.

    A symlink is unlinked itself (its target is never touched); a directory is removed with its
    contents by ``shutil.rmtree`` on the descriptor, which does not follow symlinks inside it either.
    """
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except (IsADirectoryError, PermissionError) as exc:  # Linux says EISDIR, macOS EPERM, for a directory
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            raise exc from None
        shutil.rmtree(name, dir_fd=dir_fd)


def _open_entry(name: str, dir_fd: int | None = None) -> int:
    """Open an entry file for reading: never through a symlink, never waiting on a FIFO.

    Raises ``CorruptEntryError`` for anything that is not a regular file (a symlink, a FIFO,
    a directory, a device), so it is reported and removed like any other bad entry.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise CorruptEntryError("not a regular file: a symlink") from None
        if exc.errno == errno.ENXIO:  # a socket
            raise CorruptEntryError("not a regular file: a socket") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or other"
        raise CorruptEntryError(f"not a regular file: {kind}")
    return fd


def _is_symlink(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def read_entry(root: str | os.PathLike[str], key: Any, *, allow_pickle: bool = False, touch: bool = False,
               clock: Callable[[], float] = time.time) -> Record[Any] | _Missing:
    """The record stored under ``key`` in the ``DiskLevel`` directory ``root``, read without opening the level.

    No lock and no index: the file the key names is opened (through descriptors opened with
    ``O_NOFOLLOW``, so nothing outside ``root`` is read), read whole and verified: header and
    payload checksums, the key itself, the deadline on ``clock`` (an expired record is ``MISSING``). An absent
    entry (never written, evicted, its directory removed) is ``MISSING``; a damaged one raises
    ``CorruptEntryError`` and is left where it is for the writer, whose next ``set`` of the key
    replaces it and whose next open removes it. ``touch`` sets the file's mtime to now after a
    successful read, so the LRU order a writer rebuilds from mtimes at open counts this use.
    """
    key_bytes = encode_key(key)
    digest = key_digest(key_bytes)
    shard, fname = digest[:_SHARD_CHARS], digest + _SUFFIX
    try:
        root_fd = os.open(os.fspath(root), _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return MISSING
    try:
        try:
            sfd = os.open(shard, _DIR_FLAGS, dir_fd=root_fd)
        except OSError:  # no such shard (or something that is not one: the writer reports it)
            return MISSING
        try:
            try:
                fd = _open_entry(fname, sfd)
            except FileNotFoundError:
                return MISSING
            except OSError as exc:
                raise CorruptEntryError(f"unreadable: {exc}") from None
            try:
                data = b"".join(iter(lambda: os.read(fd, 1 << 22), b""))
            finally:
                os.close(fd)
            header, view = _checked_entry(data, key_bytes)
            if header.expires_at is not None and header.expires_at <= clock():
                return MISSING
            value = deserialize(header.tag, view.tobytes(), allow_pickle=allow_pickle)
            if touch:
                with contextlib.suppress(OSError):
                    os.utime(fname, dir_fd=sfd, follow_symlinks=False)
        finally:
            os.close(sfd)
    finally:
        os.close(root_fd)
    return Record(value, header.expires_at, header.record_size)


@dataclass(frozen=True, slots=True)
class _Meta:
    """What the index keeps per entry: enough for bounds, deadlines and finding the file."""

    name: str  # the hex digest, i.e. the file name without suffix
    payload_len: int
    record_size: int
    expires_at: float | None


@dataclass
class _DiskStats:
    reads: int = 0
    hits: int = 0
    misses: int = 0
    writes: int = 0
    written_bytes: int = 0
    deletes: int = 0
    evictions: int = 0
    expired_on_open: int = 0
    evicted_on_open: int = 0
    temp_files_removed: int = 0
    corrupt: int = 0  # entry files that did not parse, and anything else found where it has no place
    corrupt_reasons: dict[str, int] = field(default_factory=dict)
    lost: int = 0  # indexed entries whose file vanished (deleted behind our back)


class DiskLevel(PolicyLevel):
    """A ``CacheLevel`` that keeps ``Record`` values in files under ``path``; see the module docstring.

    Its ``bytes`` are the held entries' payload sizes (what ``max_bytes`` bounds).

    ``policy`` is a policy name (``"LRU"``, ``"FIFO"``, ``"LFU"``, ``"ARC"``, ``"S3-FIFO"``,
    ``"W-TinyLFU"``, ``"Random"``) built with ``max_entries`` / ``max_bytes``, or an empty
    ``Policy`` instance (whose own bounds then apply). ``clock`` must be the cache's clock; it is
    used to drop expired entries at open and in ``expire()``. ``durable=False`` skips the fsyncs
    (faster, but a machine crash may then lose or resurrect recent entries; a *process* crash is
    still safe because ``os.replace`` is atomic either way).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str = "L3",
        *,
        max_entries: int | None = 10_000,
        max_bytes: int | None = GIB,
        policy: str | Policy[Any, Any] = "LRU",
        allow_pickle: bool = False,
        clock: Callable[[], float] = time.time,
        durable: bool = True,
        quarantine: bool = False,
    ) -> None:
        self.check_name(name)
        for label, limit in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
                raise ValueError(f"{label} must be a positive integer or None, got {limit!r}")
        self.name = name
        self.root = Path(path)
        self._root_str = os.fspath(self.root)
        self.allow_pickle = allow_pickle
        self.durable = durable
        self.quarantine = quarantine
        self._clock = clock
        self.policy = self._make_policy(policy, max_entries, max_bytes)
        self._meta: dict[Any, _Meta] = {}
        self._stats = _DiskStats()
        self._log = get_logger(__name__)
        self._lock_fd: int | None = None
        self._root_fd: int | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        # Every change under the root goes through this descriptor and shard descriptors opened
        # from it with O_NOFOLLOW: a symlink put in the directory is never followed out of it.
        self._root_fd = os.open(self._root_str, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            self._lock()
            self._rebuild()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _make_policy(
        policy: str | Policy[Any, Any], max_entries: int | None, max_bytes: int | None
    ) -> Policy[Any, Any]:
        if isinstance(policy, Policy):
            if len(policy):
                raise ValueError("DiskLevel needs an empty policy: its index is rebuilt from the files")
            if policy.default_ttl is not None:
                raise ValueError("the cache owns expiry (records carry deadlines); give the policy no default_ttl")
            return policy
        if policy == "OPT":
            raise ValueError("OPT needs the future request sequence; it cannot drive a live level")
        return make_policy(policy, [], max_entries, max_bytes)

    # -- lifecycle ----------------------------------------------------------------------

    def _lock(self) -> None:
        fd = self._open_lock_file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DiskLevelLockedError(
                    f"cache directory {self.root} is already open for writing"
                    + (f" (by pid {holder})" if holder else "")
                    + "; DiskLevel allows one writer per directory"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._lock_fd = fd

    def _open_lock_file(self) -> int:
        """The lock file, opened without following a symlink or waiting on a FIFO.

        Anything but a regular file there (a symlink, which would make us truncate its target; a
        FIFO; a directory) was not made by a ``DiskLevel``, so nobody holds it: it is reported,
        removed (a symlink's target is left alone) and replaced by a fresh lock file.
        """
        assert self._root_fd is not None
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        for _ in range(3):
            try:
                fd = os.open(_LOCK_NAME, flags, 0o644, dir_fd=self._root_fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EMLINK):
                    raise
                kind = "a symlink" if exc.errno in (errno.ELOOP, errno.EMLINK) else "not a regular file"
            else:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    return fd
                os.close(fd)
                kind = "not a regular file"
            self._foreign(self._root_fd, "", _LOCK_NAME, f"lock file is {kind}")
        raise OSError(errno.EEXIST, f"cannot make a lock file at {self.root / _LOCK_NAME}")

    def close(self) -> None:
        """Release the directory lock; the files stay for the next open. Idempotent."""
        root_fd, self._root_fd = self._root_fd, None
        if root_fd is not None:
            os.close(root_fd)
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    @property
    def closed(self) -> bool:
        return self._lock_fd is None

    def __enter__(self) -> DiskLevel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise ValueError(f"DiskLevel {self.name!r} at {self.root} is closed")

    def _rebuild(self) -> None:
        """Index the existing entries from their headers, oldest (by mtime) first.

        Oldest first so an LRU-like policy starts with a sensible recency order; if the files
        exceed the bounds (a crash between writing a new entry and deleting its victims, or the
        bounds were lowered), the policy evicts the excess here and those files are deleted.

        Nothing is followed out of the directory: a shard that is a symlink (or not a directory
        at all) is reported and the link removed, never its target; an entry that is a symlink, a
        FIFO, a directory or anything but a regular file is reported as corrupt and removed.
        """
        assert self._root_fd is not None
        found: list[tuple[float, str, _Header]] = []
        now = self._clock()
        with os.scandir(self._root_fd) as it:
            shards = sorted(e.name for e in it if len(e.name) == _SHARD_CHARS)
        for shard in shards:
            try:
                sfd = self._open_shard(shard, create=False)
            except FileNotFoundError:
                continue
            try:
                self._scan_shard(shard, sfd, now, found)
            finally:
                os.close(sfd)
        found.sort(key=lambda item: (item[0], item[1]))
        for _, digest, header in found:
            key = decode_key(header.key_bytes)
            meta = _Meta(digest, header.payload_len, header.record_size, header.expires_at)
            try:
                evicted = self.policy.set(key, meta, size=max(1, header.payload_len))
            except OversizeError:  # bounds were lowered below this entry's size
                self._unlink(digest)
                self._stats.evicted_on_open += 1
                continue
            if key in self.policy:
                self._meta[key] = meta
            else:
                self._unlink(digest)
                self._stats.evicted_on_open += 1
            for ev in evicted:
                if ev.key == key:
                    continue
                old = self._meta.pop(ev.key)
                self._unlink(old.name)
                self._stats.evicted_on_open += 1
        if self._stats.corrupt or self._stats.temp_files_removed:
            self._log.warning(
                "disk_cache.opened_with_damage",
                path=_shown(self._root_str),
                corrupt=self._stats.corrupt,
                temp_files_removed=self._stats.temp_files_removed,
            )

    def _scan_shard(self, shard: str, sfd: int, now: float, found: list[tuple[float, str, _Header]]) -> None:
        """Collect the valid entries of one shard; clean up temp files and anything corrupt."""
        with os.scandir(sfd) as it:
            names = [e.name for e in it]
        for fname in names:
            if fname.startswith(_TMP_PREFIX):
                self._remove_quietly(sfd, shard, fname)
                self._stats.temp_files_removed += 1
                continue
            if not fname.endswith(_SUFFIX):
                continue
            digest = fname[: -len(_SUFFIX)]
            try:
                fd = _open_entry(fname, sfd)
                try:
                    st = os.fstat(fd)
                    with open(fd, "rb", closefd=False) as f:
                        header = _read_header(f, st.st_size)
                finally:
                    os.close(fd)
                if key_digest(header.key_bytes) != digest or shard != digest[:_SHARD_CHARS]:
                    raise CorruptEntryError("key does not hash to the file name")
                decode_key(header.key_bytes)
            except CorruptEntryError as exc:
                self._corrupt(sfd, shard, fname, str(exc))
                continue
            except OSError as exc:
                self._corrupt(sfd, shard, fname, f"unreadable: {exc}")
                continue
            if header.expires_at is not None and header.expires_at <= now:
                self._remove_quietly(sfd, shard, fname)
                self._stats.expired_on_open += 1
                continue
            found.append((st.st_mtime, digest, header))

    # -- helpers ------------------------------------------------------------------------

    def _file(self, digest: str) -> str:
        """The entry's file name as a string: no ``Path`` objects on the read path (they cost ~40%)."""
        return f"{self._root_str}/{digest[:_SHARD_CHARS]}/{digest}{_SUFFIX}"

    def _open_shard(self, shard: str, *, create: bool) -> int:
        """A descriptor of the shard directory ``shard``, never through a symlink.

        Something else in its place (a symlink, a file, a FIFO) is reported and removed; with
        ``create`` a real directory is then made, without it ``FileNotFoundError`` is raised.
        """
        root_fd = self._root_fd
        if root_fd is None:
            raise ValueError(f"DiskLevel {self.name!r} at {self.root} is closed")
        for _ in range(3):
            try:
                return os.open(shard, _DIR_FLAGS, dir_fd=root_fd)
            except FileNotFoundError:
                if not create:
                    raise
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                is_link = exc.errno != errno.ENOTDIR or _is_symlink(shard, root_fd)
                self._foreign(root_fd, "", shard, "shard is a symlink" if is_link else "shard is not a directory")
                if not create:
                    raise FileNotFoundError(errno.ENOENT, "shard removed", shard) from None
            with contextlib.suppress(FileExistsError):
                os.mkdir(shard, 0o755, dir_fd=root_fd)
        raise OSError(errno.EEXIST, f"cannot make the shard directory {self.root / shard}")

    def _unlink(self, digest: str) -> None:
        """Delete an entry's file (whatever is in its place), durably if ``durable``."""
        shard = digest[:_SHARD_CHARS]
        try:
            sfd = self._open_shard(shard, create=False)
        except FileNotFoundError:
            return
        try:
            self._remove_quietly(sfd, shard, digest + _SUFFIX)
        finally:
            os.close(sfd)

    def _remove_quietly(self, sfd: int, shard: str, name: str) -> None:
        try:
            _remove_at(sfd, name)
        except OSError as exc:
            self._log.warning("disk_cache.cleanup_failed", path=_shown(f"{self._root_str}/{shard}/{name}"),
                              error=str(exc))  # fmt: skip
            return
        if self.durable:
            _fsync_fd(sfd)

    def _foreign(self, dir_fd: int, shard: str, name: str, reason: str) -> None:
        """Report something that has no place in the cache directory and remove it (never its target)."""
        self._count_corrupt(reason)
        where = f"{self._root_str}/{shard}/{name}" if shard else f"{self._root_str}/{name}"
        self._log.warning("disk_cache.foreign_file", path=_shown(where), reason=reason)
        self._remove_quietly(dir_fd, shard, name)

    def _count_corrupt(self, reason: str) -> None:
        st = self._stats
        st.corrupt += 1
        kind = reason.split(":")[0]
        st.corrupt_reasons[kind] = st.corrupt_reasons.get(kind, 0) + 1

    def _corrupt(self, sfd: int, shard: str, name: str, reason: str) -> None:
        """Report a bad entry and get it out of the way (deleted, or moved aside with ``quarantine``)."""
        self._count_corrupt(reason)
        path = f"{self._root_str}/{shard}/{name}"
        self._log.warning("disk_cache.corrupt_entry", path=_shown(path), reason=reason, quarantined=self.quarantine)
        if not self.quarantine:
            self._remove_quietly(sfd, shard, name)
            return
        try:
            qfd = self._open_shard(_QUARANTINE, create=True)
            try:
                os.replace(name, f"{name}.{secrets.token_hex(4)}", src_dir_fd=sfd, dst_dir_fd=qfd)
            finally:
                os.close(qfd)
        except OSError as exc:
            self._log.warning("disk_cache.cleanup_failed", path=_shown(path), error=str(exc))
            self._remove_quietly(sfd, shard, name)

    def _write_temp(self, sfd: int, digest: str, data: list[bytes]) -> str:
        """Write ``data`` to a new temp file in the shard open as ``sfd``; its name."""
        tmp = f"{_TMP_PREFIX}{digest}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=sfd)
            try:
                view = memoryview(b"".join(data))
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=sfd)
            raise
        return tmp

    def _install(self, sfd: int, shard: str, tmp: str, fname: str) -> None:
        """Rename the temp file over the entry's name; a directory in the way is reported and removed."""
        try:
            os.replace(tmp, fname, src_dir_fd=sfd, dst_dir_fd=sfd)
        except OSError as exc:
            if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
            self._foreign(sfd, shard, fname, "entry is a directory")
            os.replace(tmp, fname, src_dir_fd=sfd, dst_dir_fd=sfd)
        if self.durable:
            _fsync_fd(sfd)

    def _read(self, key: Any, meta: _Meta) -> Record[Any] | _Missing:
        """Read and verify an entry's file; anything wrong is reported and the entry dropped."""
        path = self._file(meta.name)
        self._stats.reads += 1
        try:
            # One read of the whole file (a byte more than expected, so a longer file shows).
            expected = HEADER_SIZE + len(key_bytes := encode_key(key)) + meta.payload_len
            fd = _open_entry(path)
            try:
                data = os.read(fd, expected + 1)
            finally:
                os.close(fd)
            header, view = _checked_entry(data, key_bytes)
            value = deserialize(header.tag, view.tobytes(), allow_pickle=self.allow_pickle)
        except FileNotFoundError:
            self._stats.lost += 1
            self._log.warning("disk_cache.entry_missing", path=_shown(path))
            self._forget(key)
            return MISSING
        except (CorruptEntryError, OSError) as exc:
            self._forget(key)
            shard = meta.name[:_SHARD_CHARS]
            try:
                sfd = self._open_shard(shard, create=False)
            except OSError:  # the shard itself is gone or was not a directory (now reported)
                self._count_corrupt(str(exc))
                return MISSING
            try:
                self._corrupt(sfd, shard, meta.name + _SUFFIX, str(exc))
            finally:
                os.close(sfd)
            return MISSING
        return Record(value, header.expires_at, header.record_size)

    def _forget(self, key: Any) -> None:
        self._meta.pop(key, None)
        self.policy.delete(key)

    # -- CacheLevel ---------------------------------------------------------------------

    def get(self, key: Any) -> Record[Any] | _Missing:
        """The stored record (expired ones included: the cache decides), or ``MISSING``."""
        self._check_open()
        meta = self.policy.get(key)  # counts the access for the policy
        if meta is MISSING:
            self._stats.misses += 1
            return MISSING
        record = self._read(key, meta)
        if record is MISSING:
            self._stats.misses += 1
        else:
            self._stats.hits += 1
        return record

    def set(self, key: Any, record: Record[Any]) -> list[Evicted[Any, Record[Any]]]:
        """Write ``record`` durably and return what the policy evicted (values read back from disk).

        Serialization and the size check happen first, and the file is fully written to a temp
        file before the index changes, so a ``TypeError``, ``OversizeError`` or a full disk leaves
        the level exactly as it was.
        """
        self._check_open()
        if not isinstance(record, Record):
            raise TypeError(f"DiskLevel stores Record objects, got {type(record).__name__}")
        key_bytes = encode_key(key)
        tag, payload = serialize(record.value, allow_pickle=self.allow_pickle)
        size = max(1, len(payload))
        if self.max_bytes is not None and size > self.max_bytes:
            raise OversizeError(
                f"entry {key!r} serializes to {size} bytes, more than {self.name!r}'s max_bytes={self.max_bytes}"
            )
        digest = key_digest(key_bytes)
        header = _pack_header(tag, key_bytes, payload, record.size, record.expires_at)
        shard, fname = digest[:_SHARD_CHARS], digest + _SUFFIX
        sfd = self._open_shard(shard, create=True)
        try:
            tmp = self._write_temp(sfd, digest, [header, key_bytes, payload])
            meta = _Meta(digest, len(payload), record.size, record.expires_at)
            try:
                evicted_meta = self.policy.set(key, meta, size=size)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=sfd)
                raise
            if key in self.policy:
                try:
                    self._install(sfd, shard, tmp, fname)
                except BaseException:
                    # Neither the index nor the next open may serve the value this write replaced.
                    self._forget(key)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp, dir_fd=sfd)
                    self._remove_quietly(sfd, shard, fname)
                    raise
                self._meta[key] = meta
                self._stats.writes += 1
                self._stats.written_bytes += len(header) + len(key_bytes) + len(payload)
            else:  # not admitted (an admission filter said no): the old copy, if any, is superseded too
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=sfd)
                self._meta.pop(key, None)
                self._remove_quietly(sfd, shard, fname)
        finally:
            os.close(sfd)
        out: list[Evicted[Any, Record[Any]]] = []
        for ev in evicted_meta:
            if ev.key == key:
                out.append(Evicted(key, record, ev.reason))
                continue
            old = self._meta.get(ev.key)
            if old is None:
                continue
            value = self._read(ev.key, old)  # on failure it is reported and forgotten already
            self._meta.pop(ev.key, None)
            self._unlink(old.name)
            self._stats.evictions += 1
            if value is not MISSING:
                out.append(Evicted(ev.key, value, ev.reason))
        return out

    def delete(self, key: Any) -> bool:
        self._check_open()
        meta = self._meta.pop(key, None)
        if meta is None:
            return False
        self.policy.delete(key)
        self._unlink(meta.name)
        self._stats.deletes += 1
        return True

    def deadline(self, key: Any) -> float | None | _Missing:
        meta = self._meta.get(key)
        return MISSING if meta is None else meta.expires_at

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._meta
        except TypeError:  # unhashable: cannot be a key
            return False

    def __len__(self) -> int:
        return len(self._meta)

    def keys(self) -> list[Any]:
        return list(self._meta)

    def clear(self) -> None:
        """Delete every entry file; nothing is reported as evicted."""
        self._check_open()
        for key in list(self._meta):
            self.delete(key)

    # -- extras -------------------------------------------------------------------------

    def expire(self) -> list[Evicted[Any, Record[Any]]]:
        """Delete the entries whose deadline has passed on ``clock`` and return them (values read back)."""
        self._check_open()
        now = self._clock()
        out: list[Evicted[Any, Record[Any]]] = []
        for key, meta in list(self._meta.items()):
            if meta.expires_at is not None and meta.expires_at <= now:
                value = self._read(key, meta)
                self.delete(key)
                if value is not MISSING:
                    out.append(Evicted(key, value, Reason.EXPIRED))
        return out

    def stats(self) -> dict[str, Any]:
        """Counters since open (corruption included) and current occupancy; JSON-able."""
        st = self._stats
        return {
            "path": str(self.root),
            "entries": len(self),
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "policy": self.policy_name,
            "reads": st.reads,
            "hits": st.hits,
            "misses": st.misses,
            "writes": st.writes,
            "written_bytes": st.written_bytes,
            "deletes": st.deletes,
            "evictions": st.evictions,
            "expired_on_open": st.expired_on_open,
            "evicted_on_open": st.evicted_on_open,
            "temp_files_removed": st.temp_files_removed,
            "corrupt": st.corrupt,
            "corrupt_reasons": dict(st.corrupt_reasons),
            "lost": st.lost,
        }

    def __repr__(self) -> str:
        return f"DiskLevel({self.name!r}, {str(self.root)!r}, {self.policy!r})"


__all__ = [
    "CorruptEntryError", "DiskLevel", "DiskLevelLockedError", "decode_key", "deserialize", "encode_key",
    "read_entry", "serialize",
]
