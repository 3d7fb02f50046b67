"""The rejects file of an ingested file: records that were not stored, and why.

A record htslib cannot parse, or that has no REF, is not stored: it goes to
``<store>/genomics/rejects/<file name>-<sha8>.tsv`` (line, record index, reason, raw text).
Text VCF line numbers are the header's line count plus the record index; BCF has no lines, so the
record index is the address. Each batch's rejects are appended and fsynced before its commit, and
the file's committed size is part of the ingest progress, so a resume truncates what a crash left
past it. The raw text of rejected text-VCF lines is fetched in one extra pass at the end
(:func:`fill_raw_lines`), only when there are rejects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from exocortex.genomics.reader import FileInfo, raw_lines, record_line_problem
from exocortex.genomics.store import REJECTS_DIR, genomics_dir


def rejects_path(store: Path, info: FileInfo) -> Path:
    """Where ``info``'s rejects are written."""
    return genomics_dir(store) / REJECTS_DIR / f"{info.path.name}-{info.sha256[:8]}.tsv"


def write_rejects(path: Path, rows: Sequence[tuple[int | None, int, str, str]]) -> int:
    """Append ``rows`` to the rejects file (header first when new); fsync; return its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", encoding="utf-8") as fh:
        if new:
            fh.write("line\trecord\treason\traw\n")
        for line, record, reason, raw in rows:
            clean_reason = reason.replace("\t", " ").replace("\n", " ")
            fh.write(f"{'' if line is None else line}\t{record}\t{clean_reason}\t{raw}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path.stat().st_size


def fill_raw_lines(path: Path, info: FileInfo) -> None:
    """Put the original text of each rejected line of a text VCF into the rejects file."""
    if info.format == "bcf" or not path.exists():
        return
    rows = [r.split("\t", 3) for r in path.read_text(encoding="utf-8").splitlines()[1:]]
    wanted = {int(r[0]) for r in rows if r[0].isdigit() and (len(r) < 4 or not r[3])}
    if not wanted:
        return
    found = raw_lines(info.location, info.format == "vcf.gz", wanted)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("line\trecord\treason\traw\n")
        for r in rows:
            r = (r + ["", "", "", ""])[:4]
            if r[0].isdigit() and not r[3] and int(r[0]) in found:
                r[3] = found[int(r[0])]
                # a line that is not a record at all: the same reason as the columnar path gives
                # (htslib's is a bare return code, or a guess from the allele-less record it made)
                if problem := record_line_problem(r[3]):
                    r[2] = problem
            fh.write("\t".join(r) + "\n")
    os.replace(tmp, path)


def truncate_rejects(path: Path, size: int) -> None:
    """Cut the rejects file back to its committed ``size`` (lines a crash left after it go)."""
    if path.exists():
        with path.open("r+b") as fh:
            fh.truncate(size)
