"""Readers for public cache traces, and ``replay`` to measure a policy's hit ratio on one.

The traces (see ``/work/shared/README.md``, "bench/cache-traces") are the standard ones
the literature reports hit ratios on, so reproducing those published numbers is how we
know a policy is implemented right. Readers are generators: the traces run to a million
requests and more, and a replay only ever needs the next key. A corrupt or truncated file
raises ``TraceError`` naming the file and the place, never a silent short trace.

Bounds: a text line longer than ``MAX_LINE_CHARS`` is an error (a file without newlines is not
read into memory whole); ``load_requests`` holds at most ``max_requests`` requests and says so,
suggesting a prefix, when a trace has more; ``replay`` stops at a ``deadline``. Nothing is ever
sized by a key's value: keys are only hashed.

Size-0 records of an oracleGeneral trace are skipped, as libCacheSim's reader does by default
(``ignore_size_zero_req``): in a byte-bounded cache an object of no bytes costs nothing to hold,
so counting it would add free hits (or, refused as not a positive size, crash the replay), and
skipping them keeps hit ratios comparable with libCacheSim's published ones. ``load_requests``
reports how many it skipped.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import io
import itertools
import lzma
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final, NamedTuple, TypeVar

from exocortex.memory.policies import (
    MISSING,
    OversizeError,
    Policy,
)

K = TypeVar("K", bound=Hashable)

_CHUNK: Final = 1 << 20
_ORACLE: Final = struct.Struct("<IQIq")
MAX_LINE_CHARS: Final = 4096
"""Longer lines are not trace records (a key per line, or four numbers): the file is refused."""
_CHECK_EVERY: Final = 1 << 14  # requests between two looks at the clock in ``replay``


class TraceError(ValueError):
    """A trace file is corrupt, truncated or cannot be decoded here."""


class TraceTooLargeError(TraceError):
    """A trace holds more requests than may be held in memory (``max_requests``)."""


class ReplayTimeoutError(RuntimeError):
    """A replay ran past its deadline."""


class Requests(NamedTuple):
    """A trace loaded into memory: its keys, their sizes (oracleGeneral only), what was skipped."""

    keys: list[Any]
    sizes: list[int] | None
    skipped_zero_size: int


class OracleRequest(NamedTuple):
    """One record of a libCacheSim oracleGeneral trace."""

    time: int
    key: int
    size: int
    next_access: int  # position (virtual time) of the next request for ``key``; -1 if none


def _text_keys(fh: IO[str], path: Path) -> Iterator[str]:
    """Non-blank lines that are not ``*`` comments, stripped, with decode errors made clear.

    Lines are read with a bound (``MAX_LINE_CHARS``): a file with no newline in gigabytes is
    refused after 4 KB instead of read into memory whole.
    """
    lineno = 0
    try:
        while line := fh.readline(MAX_LINE_CHARS + 1):
            lineno += 1
            if len(line) > MAX_LINE_CHARS:
                raise TraceError(
                    f"{path}: line {lineno} is longer than {MAX_LINE_CHARS} characters: not a trace in this format"
                )
            text = line.strip()
            if text and not text.startswith("*"):
                yield text
    except (EOFError, OSError, zlib.error, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: corrupt or truncated after line {lineno}: {exc}") from exc


def read_lirs(path: str | Path) -> Iterator[int]:
    """Keys of a LIRS trace: gzip text (or plain text), one integer per line, ``*`` lines skipped."""
    path = Path(path)
    with gzip.open(path, "rt", encoding="ascii") if path.suffix == ".gz" else path.open(encoding="ascii") as fh:
        for n, text in enumerate(_text_keys(fh, path), 1):
            try:
                yield int(text.split()[0])
            except ValueError:
                raise TraceError(f"{path}: key {n} is not an integer: {text[:40]!r}") from None


def _zstd_lines(path: Path) -> Iterator[str]:
    """Decompress a .zst file into trace lines with whatever zstd decoder is available."""
    for name in ("compression.zstd", "zstandard"):  # the standard library's from 3.14, else the PyPI package
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        with path.open("rb") as raw:
            if name == "zstandard":
                stream: IO[bytes] = module.ZstdDecompressor().stream_reader(raw)
                yield from _text_keys(io.TextIOWrapper(stream, encoding="ascii"), path)
            else:
                with module.open(raw, "rt", encoding="ascii") as text:
                    yield from _text_keys(text, path)
        return
    exe = shutil.which("zstd")
    if exe is None:
        raise TraceError(f"{path}: reading .zst needs the 'zstandard' package (pip install zstandard) or the zstd tool")
    with subprocess.Popen(
        [exe, "-dc", "--", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="ascii"
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            yield from _text_keys(proc.stdout, path)
        finally:
            if proc.poll() is None:  # the reader stopped early (a prefix, an error): stop zstd too
                proc.kill()
        err = proc.stderr.read()
        code = proc.wait()
    if code not in (0, -9):
        raise TraceError(f"{path}: zstd failed (exit {code}): corrupt or truncated? {err.strip()}")


def read_arc(path: str | Path) -> Iterator[int]:
    """Keys of an ARC ``.lis`` trace: lines ``start count ignored reqno`` request ``start .. start+count-1``.

    The file may be zstd-compressed (``.zst``) or plain text.
    """
    path = Path(path)
    if path.suffix == ".zst":
        yield from _arc_keys(_zstd_lines(path), path)
        return
    with path.open(encoding="ascii") as fh:
        yield from _arc_keys(_text_keys(fh, path), path)


def _arc_keys(texts: Iterable[str], path: Path) -> Iterator[int]:
    for n, text in enumerate(texts, 1):
        fields = text.split()
        try:
            start, count = int(fields[0]), int(fields[1])
        except (ValueError, IndexError):
            raise TraceError(f"{path}: line {n} is not 'start count ...': {text[:60]!r}") from None
        if count < 0:
            raise TraceError(f"{path}: line {n} has a negative count: {text[:60]!r}")
        yield from range(start, start + count)


def _chunks(fh: IO[bytes], record: int, path: Path) -> Iterator[bytes]:
    """Whole records' worth of bytes, in big chunks; a partial last record is an error."""
    offset = 0
    try:
        while chunk := fh.read(_CHUNK - _CHUNK % record):
            while len(chunk) % record:
                more = fh.read(record - len(chunk) % record)
                if not more:
                    raise TraceError(
                        f"{path}: truncated: {offset + len(chunk)} bytes is not a whole number of {record}-byte records"
                    )
                chunk += more
            offset += len(chunk)
            yield chunk
    except (EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise TraceError(f"{path}: corrupt or truncated after {offset} bytes: {exc}") from exc


def read_scarab(path: str | Path) -> Iterator[int]:
    """Keys of the Scarab recommendations trace: big-endian signed 64-bit integers, xz-compressed."""
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as fh:
        for chunk in _chunks(fh, 8, path):
            for (key,) in struct.iter_unpack(">q", chunk):
                yield key


def read_oracle_general(path: str | Path) -> Iterator[OracleRequest]:
    """Records of a libCacheSim oracleGeneral trace: ``<IQIq`` = time, id, size, next access."""
    path = Path(path)
    with path.open("rb") as fh:
        for chunk in _chunks(fh, _ORACLE.size, path):
            for record in _ORACLE.iter_unpack(chunk):
                yield OracleRequest(*record)


_KEY_READERS: Final[dict[str, Callable[[str | Path], Iterator[int]]]] = {
    "lirs": read_lirs,
    "arc": read_arc,
    "scarab": read_scarab,
}
"""The formats that carry keys only (oracle-general also carries sizes)."""


def read_trace(path: str | Path) -> Iterator[int]:
    """Keys of any of the known trace formats, chosen by file name."""
    fmt = guess_format(path)
    if fmt == "oracle-general":
        return (request.key for request in read_oracle_general(path))
    return _KEY_READERS[fmt](path)


def replay(
    policy_factory: Callable[[], Policy[K, Any]],
    keys: Iterable[K],
    sizes: Iterable[int] | None = None,
    *,
    deadline: float | None = None,
) -> float:
    """Hit ratio of a fresh policy on a request sequence: a hit if held, else a miss and an insert.

    With ``sizes`` (one per request) entries weigh that many bytes; a request larger than
    the whole cache is counted as a miss and not inserted (it could never be held), and a
    request of size 0 is skipped (not counted at all), as libCacheSim does. ``deadline``
    (a ``time.monotonic()`` value) raises ``ReplayTimeoutError`` once passed.
    """
    policy = policy_factory()
    get, put = policy.get, policy.set
    hits = total = 0
    check = _CHECK_EVERY if deadline is not None else -1
    if sizes is None:
        for key in keys:
            total += 1
            if get(key) is MISSING:
                put(key, True, 1)
            else:
                hits += 1
            if total == check:
                _check_deadline(deadline, total)
                check += _CHECK_EVERY
    else:
        for key, size in zip(keys, sizes, strict=True):
            if size <= 0:
                if size < 0:
                    raise ValueError(f"request {total + 1} has a negative size {size}")
                continue
            total += 1
            if get(key) is MISSING:
                with contextlib.suppress(OversizeError):  # it can never be held: a miss, nothing to insert
                    put(key, True, size)
            else:
                hits += 1
            if total == check:
                _check_deadline(deadline, total)
                check += _CHECK_EVERY
    _check_deadline(deadline, total)
    return hits / total if total else 0.0


def _check_deadline(deadline: float | None, done: int) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ReplayTimeoutError(f"the replay ran out of time after {done:,} requests")


FORMATS = ("lirs", "arc", "scarab", "oracle-general")


def guess_format(path: str | Path) -> str:
    """The trace format a file name suggests (as ``read_trace`` chooses), or TraceError."""
    name = Path(path).name
    if name.startswith("lirs-") or name.endswith(".trace.gz"):
        return "lirs"
    if ".lis" in name:
        return "arc"
    if name.startswith("scarab"):
        return "scarab"
    if "oracleGeneral" in name:
        return "oracle-general"
    raise TraceError(f"{path}: cannot tell the trace format from its name: give one of {', '.join(FORMATS)}")


def load_requests(
    path: str | Path, fmt: str, limit: int | None = None, *, max_requests: int | None = None
) -> tuple[list[Any], list[int] | None]:
    """All keys of a trace (the first ``limit``), and their sizes for the oracle-general format."""
    loaded = load_trace(path, fmt, limit, max_requests=max_requests)
    return loaded.keys, loaded.sizes


def load_trace(path: str | Path, fmt: str, limit: int | None = None, *, max_requests: int | None = None) -> Requests:
    """The keys of a trace (the first ``limit``), their sizes for the oracle-general format.

    At most ``max_requests`` are held: a longer trace (with no ``limit``, or a larger one)
    raises ``TraceTooLargeError`` after reading one request more, never the whole file.
    Size-0 oracleGeneral records are skipped (see the module docstring) and counted.
    """
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r} (choose from {', '.join(FORMATS)})")
    for name, value in (("limit", limit), ("max_requests", max_requests)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    cap = limit if max_requests is None or (limit is not None and limit <= max_requests) else max_requests + 1
    skipped = 0
    if fmt == "oracle-general":
        keys: list[Any] = []
        sizes: list[int] = []
        for record in read_oracle_general(path):
            if record.size == 0:
                skipped += 1
                continue
            if cap is not None and len(keys) >= cap:
                break
            keys.append(record.key)
            sizes.append(record.size)
        result = Requests(keys, sizes, skipped)
    else:
        result = Requests(list(itertools.islice(_KEY_READERS[fmt](path), cap)), None, 0)
    if max_requests is not None and len(result.keys) > max_requests:
        raise TraceTooLargeError(
            f"{path}: more than {max_requests:,} requests, the most held in memory: replay a prefix "
            f"with --limit {max_requests} (or raise bench_max_requests)"
            if limit is None
            else f"--limit {limit:,} is more than the {max_requests:,} requests that may be held in memory "
            f"(raise bench_max_requests)"
        )
    return result
