"""A small reader of an indexed (``.fai``) plain FASTA: the reference bases that left-alignment needs.

``samtools faidx`` writes one ``.fai`` line per sequence: name, length, byte offset of its first
base, bases per line, bytes per line. A base's byte is then ``offset + (i // bases) * bytes +
i % bases``, so any window is one seek and one read, whatever the genome's size. A FASTA without
``.fai`` is indexed in memory by one pass over it (seconds for a human genome; ``samtools faidx``
writes the file once for all). A bgzipped FASTA is refused with a clear error: it would need the
``.gzi`` block index too.

:func:`reference_record` describes the FASTA for the ``sources`` table: its file name, size and
the sha256 of its index (names, lengths and layout of every sequence: the assembly, cheaply).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from exocortex.errors import ConfigError, InputPathError

WINDOW = 1 << 16
"""Bases read around a requested position and kept for the next request (records come in order)."""


@dataclass(frozen=True)
class FaiEntry:
    name: str
    length: int
    offset: int
    line_bases: int
    line_bytes: int


class IndexedFasta:
    """The sequences of a plain FASTA, read by ``.fai`` offsets (``with IndexedFasta(path) as fa``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputPathError(f"no such FASTA file: {self.path}")
        self._fh: BinaryIO = self.path.open("rb")
        if self._fh.read(2) == b"\x1f\x8b":
            self._fh.close()
            raise ConfigError(
                f"{self.path} is compressed: --fasta reads a plain FASTA (decompress it, then `samtools faidx` it)"
            )
        fai = Path(str(self.path) + ".fai")
        self.index_text = fai.read_text(encoding="ascii") if fai.is_file() else self._build_index()
        self.entries = self._parse_index(self.index_text)
        self._window: tuple[str, int, str] | None = None  # (name, start, bases)

    def __enter__(self) -> IndexedFasta:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _parse_index(self, text: str) -> dict[str, FaiEntry]:
        entries: dict[str, FaiEntry] = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            try:
                name = fields[0]
                length, offset, bases, width = (int(f) for f in fields[1:5])
            except (IndexError, ValueError):
                raise ConfigError(f"{self.path}.fai line {n} is no FASTA index line (run `samtools faidx`)") from None
            if bases < 1 or width < bases:
                raise ConfigError(f"{self.path}.fai line {n}: bad line lengths (run `samtools faidx` again)")
            entries[name] = FaiEntry(name, length, offset, bases, width)
        return entries

    def _build_index(self) -> str:
        """The ``.fai`` text of the file, made by one pass (lines of one sequence must share a length)."""
        lines: list[str] = []
        fh = self._fh
        fh.seek(0)
        name: str | None = None
        length = offset = bases = width = 0
        short = False  # a line shorter than the first: only the last line of a sequence may be
        pos = 0
        for raw in fh:
            size = len(raw)
            if raw.startswith(b">"):
                if name is not None:
                    lines.append(f"{name}\t{length}\t{offset}\t{bases}\t{width}")
                name = raw[1:].split()[0].decode("ascii", "replace") if raw[1:].split() else ""
                length, offset, bases, width, short = 0, pos + size, 0, 0, False
            elif name is not None:
                seq = raw.rstrip(b"\r\n")
                if seq:
                    if short or (bases and len(seq) > bases):
                        raise ConfigError(f"{self.path}: sequence {name} has lines of several lengths (not indexable)")
                    if not bases:
                        bases, width = len(seq), size
                    elif len(seq) < bases:
                        short = True
                    length += len(seq)
            pos += size
        if name is not None:
            lines.append(f"{name}\t{length}\t{offset}\t{bases}\t{width}")
        if not lines:
            raise ConfigError(f"{self.path} holds no FASTA sequence (no '>' line)")
        return "\n".join(lines) + "\n"

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def fetch(self, name: str, start: int, end: int) -> str:
        """Bases ``[start, end)`` (0-based) of sequence ``name``, upper case; shorter at the sequence's end."""
        window = self._window
        if window is not None and window[0] == name and window[1] <= start and end <= window[1] + len(window[2]):
            return window[2][start - window[1] : end - window[1]]
        entry = self.entries[name]
        lo = max(0, min(start, end) - WINDOW // 2)
        hi = min(entry.length, max(end, lo + WINDOW))
        bases = self._read(entry, lo, hi)
        self._window = (name, lo, bases)
        return bases[start - lo : end - lo]

    def _read(self, entry: FaiEntry, start: int, end: int) -> str:
        if end <= start:
            return ""

        def byte(i: int) -> int:
            return entry.offset + (i // entry.line_bases) * entry.line_bytes + i % entry.line_bases

        self._fh.seek(byte(start))
        raw = self._fh.read(byte(end - 1) - byte(start) + 1)
        return raw.replace(b"\n", b"").replace(b"\r", b"").decode("ascii", "replace").upper()


def reference_record(fasta: IndexedFasta) -> str:
    """What the ``sources`` table keeps of the FASTA: JSON with its name, size and index sha256."""
    return json.dumps(
        {
            "fasta": fasta.path.name,
            "size": fasta.path.stat().st_size,
            "fai_sha256": hashlib.sha256(fasta.index_text.encode()).hexdigest(),
            "sequences": len(fasta.entries),
        },
        separators=(",", ":"),
    )
