"""Readers for public cache traces, and ``replay`` to measure a policy's hit ratio on one.

The traces (see ``/work/shared/README.md``, "bench/cache-traces") are the standard ones
the literature reports hit ratios on, so reproducing those published numbers is how we
know a policy is implemented right. Readers are generators: the traces run to a million
requests and more, and a replay only ever needs the next key. A corrupt or truncated file
raises ``TraceError`` naming the file and the place, never a silent short trace.
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


class TraceError(ValueError):
    """A trace file is corrupt, truncated or cannot be decoded here."""


class OracleRequest(NamedTuple):
    """One record of a libCacheSim oracleGeneral trace."""

    time: int
    key: int
    size: int
    next_access: int  # position (virtual time) of the next request for ``key``; -1 if none


def _text_keys(lines: Iterable[str], path: Path) -> Iterator[str]:
    """Non-blank lines that are not ``*`` comments, stripped, with decode errors made clear."""
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):  # noqa: B007 - lineno is used in the error below
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
    """Decompress a .zst file line by line with whatever zstd decoder is available."""
    for name in ("compression.zstd", "zstandard"):  # the standard library's from 3.14, else the PyPI package
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        with path.open("rb") as raw:
            if name == "zstandard":
                stream: IO[bytes] = module.ZstdDecompressor().stream_reader(raw)
                yield from io.TextIOWrapper(stream, encoding="ascii")
            else:
                with module.open(raw, "rt", encoding="ascii") as text:
                    yield from text
        return
    exe = shutil.which("zstd")
    if exe is None:
        raise TraceError(f"{path}: reading .zst needs the 'zstandard' package (pip install zstandard) or the zstd tool")
    with subprocess.Popen(
        [exe, "-dc", "--", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="ascii"
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        yield from proc.stdout
        err = proc.stderr.read()
        code = proc.wait()
    if code != 0:
        raise TraceError(f"{path}: zstd failed (exit {code}): corrupt or truncated? {err.strip()}")


def read_arc(path: str | Path) -> Iterator[int]:
    """Keys of an ARC ``.lis`` trace: lines ``start count ignored reqno`` request ``start .. start+count-1``.

    The file may be zstd-compressed (``.zst``) or plain text.
    """
    path = Path(path)
    lines: Iterable[str] = _zstd_lines(path) if path.suffix == ".zst" else path.open(encoding="ascii")
    for n, text in enumerate(_text_keys(lines, path), 1):
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
    policy_factory: Callable[[], Policy[K, Any]], keys: Iterable[K], sizes: Iterable[int] | None = None
) -> float:
    """Hit ratio of a fresh policy on a request sequence: a hit if held, else a miss and an insert.

    With ``sizes`` (one per request) entries weigh that many bytes; a request larger than
    the whole cache is counted as a miss and not inserted (it could never be held).
    """
    policy = policy_factory()
    get, put = policy.get, policy.set
    hits = total = 0
    if sizes is None:
        for key in keys:
            total += 1
            if get(key) is MISSING:
                put(key, True, 1)
            else:
                hits += 1
    else:
        for key, size in zip(keys, sizes, strict=True):
            total += 1
            if get(key) is MISSING:
                with contextlib.suppress(OversizeError):  # it can never be held: a miss, nothing to insert
                    put(key, True, size)
            else:
                hits += 1
    return hits / total if total else 0.0


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


def load_requests(path: str | Path, fmt: str, limit: int | None = None) -> tuple[list[Any], list[int] | None]:
    """All keys of a trace (the first ``limit``), and their sizes for the oracle-general format."""
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "oracle-general":
        records = list(itertools.islice(read_oracle_general(path), limit))
        return [r.key for r in records], [r.size for r in records]
    return list(itertools.islice(_KEY_READERS[fmt](path), limit)), None
