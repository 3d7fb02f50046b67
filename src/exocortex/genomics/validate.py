"""Validate a VCF/BCF file by streaming it: header and record problems, with line numbers.

``validate_vcf(path)`` reads plain, gzip or bgzip VCF one line at a time (bounded memory: a
few caches of bounded size, never the file) and BCF one record at a time through cyvcf2. The
format is told by the file's magic bytes, not its name. An ``http(s)://`` URL is streamed the same
way (text through ``urllib``, BCF through htslib's libcurl), never saved to disk. It does not stop at the first problem:
every problem is counted per code, and the first ``max_problems`` are kept in detail.

Positions: for text VCF every problem carries its 1-based line number in the (decompressed)
file. For BCF, which has no text lines, header problems carry their line in the text header
and record problems the 1-based record number (``ValidationReport.position`` says which).

Problems about the header's *definitions* seen from records (``INFO_UNDEFINED``,
``FORMAT_UNDEFINED``, ``FILTER_UNDEFINED``, ``CONTIG_NOT_IN_HEADER``) are reported once per
tag or contig, at the first line that uses it: the fix is one header line. Every other record
problem is reported (and counted) each time it occurs.

A file that cannot be read as VCF at all (empty, not VCF, no ``#CHROM`` line, truncated or
corrupt compression) gives ``fatal``: one line saying why, with whatever was read before it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from exocortex.errors import InputPathError
from exocortex.genomics.reader import is_url, open_bytes

#: Problem codes and what each means (the CLI's help and the docs list these).
PROBLEM_CODES: dict[str, str] = {
    "FILEFORMAT": "the first line is not ##fileformat=VCFv4.x",
    "HEADER_MALFORMED": "a ##INFO/FORMAT/FILTER/contig line that is not <key=value,...> or has no ID",
    "HEADER_MISSING_FIELD": "a ##INFO/FORMAT line without Number or Type",
    "HEADER_BAD_TYPE": "a Type that is not Integer, Float, Flag, Character or String (Flag only in INFO)",
    "HEADER_BAD_NUMBER": "a Number that is not an integer, A, R, G or . (or a Flag with Number other than 0)",
    "HEADER_NUMBER_G": "the reserved FORMAT tags GL, PL, GP not declared Number=G",
    "HEADER_BAD_ID": "an INFO/FORMAT ID that is not [A-Za-z_][0-9A-Za-z_.]* (or 1000G)",
    "HEADER_DUPLICATE_ID": "the same ID defined twice for INFO, FORMAT, FILTER or contig",
    "CHROM_LINE": "the #CHROM line lacks the fixed columns, or has samples without FORMAT",
    "DUPLICATE_SAMPLE": "a sample name appears twice in the #CHROM line",
    "MISPLACED_HEADER": "a header line after the #CHROM line",
    "TOO_FEW_COLUMNS": "a record with fewer than the 8 fixed columns",
    "SAMPLE_COUNT": "a record with more or fewer sample columns than the #CHROM line names",
    "CONTIG_NOT_IN_HEADER": "a CHROM with no ##contig line (reported once per contig)",
    "BAD_POS": "POS is not a non-negative integer",
    "UNSORTED": "POS decreases within a contig, or a contig reappears after another began",
    "BAD_REF": "REF is not a string of A, C, G, T, N (any case)",
    "BAD_ALT": "an ALT allele that is not bases, *, ., <ID>, or a breakend",
    "BAD_QUAL": "QUAL is neither . nor a number",
    "FILTER_UNDEFINED": "a FILTER with no ##FILTER line (reported once per filter)",
    "INFO_UNDEFINED": "an INFO key with no ##INFO line (reported once per key)",
    "INFO_TYPE": "an INFO value that does not match its declared Type",
    "INFO_NUMBER": "an INFO field with the wrong number of values for Number=n/A/R",
    "FORMAT_UNDEFINED": "a FORMAT key with no ##FORMAT line (reported once per key)",
    "FORMAT_MISMATCH": "a sample column with more fields than FORMAT names",
    "GT": "a malformed genotype, an allele index beyond ALT, or GT not first in FORMAT",
}

DEFAULT_MAX_PROBLEMS = 1000

_INFO_TYPES = frozenset({"Integer", "Float", "Flag", "Character", "String"})
_FORMAT_TYPES = frozenset({"Integer", "Float", "Character", "String"})
_FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_BASES = "ACGTNacgtn"
_CACHE_MAX = 4096  # entries per lookup cache; bounded so memory stays flat on any file

_TAG_ID_RE = re.compile(r"[A-Za-z_][0-9A-Za-z_.]*|1000G")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[Nn]a[Nn]|[Ii]nf(?:inity)?)")
_BREAKEND_RE = re.compile(
    r"[ACGTNacgtn]+[\[\]](?:<[^<>\[\]]+>|[^\[\]:]+):\d+[\[\]]"
    r"|[\[\]](?:<[^<>\[\]]+>|[^\[\]:]+):\d+[\[\]][ACGTNacgtn]+"
    r"|\.[ACGTNacgtn]+|[ACGTNacgtn]+\."
)
_SYMBOLIC_RE = re.compile(r"<[^<>\s,]+>")
_GT_RE = re.compile(r"[|/]?(?:\.|\d+)(?:[|/](?:\.|\d+))*")
_GT_SPLIT_RE = re.compile(r"[|/]")


@dataclass(frozen=True)
class Problem:
    """One problem: where (line, or record for BCF records), a short code, and a message."""

    line: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass
class ValidationReport:
    """What ``validate_vcf`` found in one file."""

    path: str
    format: str  # "vcf", "vcf.gz" (gzip or bgzip) or "bcf"; "unknown" when unreadable
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    seconds: float = 0.0
    max_problems: int = DEFAULT_MAX_PROBLEMS

    @property
    def position(self) -> str:
        """What ``Problem.line`` counts for record problems: ``line`` (text VCF) or ``record`` (BCF)."""
        return "record" if self.format == "bcf" else "line"

    @property
    def total_problems(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.counts

    @property
    def truncated(self) -> bool:
        """More problems were found than are kept in detail."""
        return self.total_problems > len(self.problems)

    def codes(self) -> set[str]:
        return set(self.counts)

    def add(self, line: int, code: str, message: str) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(line, code, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "position": self.position,
            "records": self.records,
            "ok": self.ok,
            "fatal": self.fatal,
            "total_problems": self.total_problems,
            "counts": dict(sorted(self.counts.items())),
            "problems": [p.to_dict() for p in self.problems],
            "problems_truncated": self.truncated,
            "seconds": round(self.seconds, 3),
        }


def sniff_format(path: str | Path) -> str:
    """``vcf``, ``vcf.gz``, ``bcf`` or ``empty`` from the magic bytes (gzip ``1f8b``; BCF ``BCF\\x02``)."""
    with open_bytes(path) as fh:
        head = fh.read(5)
    if not head:
        return "empty"
    if head[:2] == b"\x1f\x8b":
        try:
            with open_bytes(path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                inner = gz.read(5)
        except (OSError, EOFError, zlib.error):
            return "vcf.gz"  # the stream reader reports the corruption as fatal
        return "bcf" if inner[:4] == b"BCF\x02" else "vcf.gz"
    if head[:4] == b"BCF\x02":
        return "bcf"
    return "vcf"


def validate_vcf(path: str | Path, max_problems: int = DEFAULT_MAX_PROBLEMS) -> ValidationReport:
    """Stream ``path`` (a local file or an ``http(s)://`` URL) and report its header and record problems
    (see the module docstring)."""
    p: str | Path = str(path) if is_url(path) else Path(path)
    if isinstance(p, Path) and not p.exists():
        raise InputPathError(f"no such file: {p}")
    if isinstance(p, Path) and not p.is_file():
        raise InputPathError(f"not a file: {p}")
    started = time.perf_counter()
    try:
        fmt = sniff_format(p)
    except OSError as exc:
        raise InputPathError(f"cannot read {p}: {exc.strerror or exc}") from None
    report = ValidationReport(path=str(p), format=fmt if fmt != "empty" else "unknown",
                              max_problems=max(0, max_problems))
    if fmt == "empty":
        report.fatal = "empty file: not a VCF"
    elif fmt == "bcf":
        _validate_bcf(p, report)
    else:
        _validate_text(p, fmt, report)
    report.seconds = time.perf_counter() - started
    return report


# --- header ---------------------------------------------------------------------------------


def _split_structured(body: str) -> dict[str, str] | None:
    """``<ID=x,Number=1,Description="a, b">`` -> dict, or None when it is not that shape."""
    if not (body.startswith("<") and body.endswith(">")):
        return None
    inner = body[1:-1]
    out: dict[str, str] = {}
    i, n = 0, len(inner)
    while i < n:
        eq = inner.find("=", i)
        if eq < 0:
            return None
        key = inner[i:eq].strip()
        j = eq + 1
        if j < n and inner[j] == '"':
            k = j + 1
            while k < n and inner[k] != '"':
                k += 2 if inner[k] == "\\" else 1
            if k >= n:
                return None
            value = inner[j + 1:k]
            k += 1
        else:
            k = inner.find(",", j)
            k = n if k < 0 else k
            value = inner[j:k]
        if not key:
            return None
        out[key] = value
        if k < n and inner[k] != ",":
            return None
        i = k + 1
    return out


@dataclass
class _Header:
    """What records are checked against: definitions from the header lines."""

    info: dict[str, tuple[str, str]] = field(default_factory=dict)  # ID -> (Number, Type)
    fmt: dict[str, tuple[str, str]] = field(default_factory=dict)
    filters: set[str] = field(default_factory=lambda: {"PASS"})
    contigs: set[str] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    has_format_column: bool = False
    seen_chrom_line: bool = False


def _check_number(number: str) -> bool:
    return number in ("A", "R", "G", ".") or number.isdigit()


def _header_line(line: str, lineno: int, hdr: _Header, report: ValidationReport) -> None:
    """Check one ``##`` line after the first and record its definitions."""
    eq = line.find("=")
    if eq < 0:
        return
    kind = line[2:eq]
    if kind not in ("INFO", "FORMAT", "FILTER", "contig"):
        return
    fields = _split_structured(line[eq + 1:])
    if fields is None or not fields.get("ID"):
        what = "no ID" if fields is not None else "not <key=value,...>"
        report.add(lineno, "HEADER_MALFORMED", f"##{kind} line is malformed ({what})")
        return
    ident = fields["ID"]
    if kind == "contig":
        if ident in hdr.contigs:
            report.add(lineno, "HEADER_DUPLICATE_ID", f"contig {ident} is defined twice")
        hdr.contigs.add(ident)
        return
    if kind == "FILTER":
        if ident in hdr.filters and ident != "PASS":
            report.add(lineno, "HEADER_DUPLICATE_ID", f"FILTER {ident} is defined twice")
        hdr.filters.add(ident)
        return
    table = hdr.info if kind == "INFO" else hdr.fmt
    if _TAG_ID_RE.fullmatch(ident) is None:
        report.add(lineno, "HEADER_BAD_ID", f"{kind} ID {ident!r} is not a valid tag name")
    missing = [k for k in ("Number", "Type") if k not in fields]
    if missing:
        report.add(lineno, "HEADER_MISSING_FIELD", f"{kind} {ident} has no {' or '.join(missing)}")
    number, typ = fields.get("Number", "."), fields.get("Type", "String")
    allowed = _INFO_TYPES if kind == "INFO" else _FORMAT_TYPES
    if "Type" in fields and typ not in allowed:
        report.add(lineno, "HEADER_BAD_TYPE", f"{kind} {ident} has Type={typ} (allowed: {', '.join(sorted(allowed))})")
        typ = "String"
    if "Number" in fields and not _check_number(number):
        report.add(lineno, "HEADER_BAD_NUMBER", f"{kind} {ident} has Number={number} (allowed: an integer, A, R, G, .)")
        number = "."
    elif typ == "Flag" and number != "0":
        report.add(lineno, "HEADER_BAD_NUMBER", f"INFO {ident} is a Flag with Number={number} (must be 0)")
        number = "0"
    if kind == "FORMAT" and ident in ("GL", "PL", "GP") and number != "G":
        report.add(lineno, "HEADER_NUMBER_G", f"FORMAT {ident} should be declared Number=G (is {number})")
    if ident in table:
        report.add(lineno, "HEADER_DUPLICATE_ID", f"{kind} {ident} is defined twice")
    table[ident] = (number, typ)


def _chrom_line(line: str, lineno: int, hdr: _Header, report: ValidationReport) -> None:
    cols = line.split("\t")
    rest = cols[8:]
    if cols[:8] != _FIXED_COLUMNS:
        report.add(lineno, "CHROM_LINE", "the #CHROM line must start with the tab-separated columns "
                                         + " ".join(_FIXED_COLUMNS))
        if "FORMAT" in cols:  # read the samples after FORMAT, wherever it is
            rest = cols[cols.index("FORMAT"):]
    if rest and rest[0] == "FORMAT":
        hdr.has_format_column = True
        rest = rest[1:]
    elif rest:
        report.add(lineno, "CHROM_LINE", f"column 9 is {rest[0]!r}: sample columns need a FORMAT column first")
        hdr.has_format_column = True
        rest = rest[1:]
    seen: set[str] = set()
    for name in rest:
        if name in seen:
            report.add(lineno, "DUPLICATE_SAMPLE", f"sample {name} appears twice in the #CHROM line")
        seen.add(name)
    hdr.samples = rest
    hdr.seen_chrom_line = True


def _check_fileformat(line: str, report: ValidationReport) -> None:
    if not re.fullmatch(r"##fileformat=VCFv4\.\d+", line):
        report.add(1, "FILEFORMAT", f"the first line should be ##fileformat=VCFv4.x, not {line[:60]!r}")


# --- values ---------------------------------------------------------------------------------


def _is_int(v: str) -> bool:
    return v.isdigit() or _INT_RE.fullmatch(v) is not None


def _is_float(v: str) -> bool:
    return _FLOAT_RE.fullmatch(v) is not None


def _value_checker(typ: str) -> Callable[[str], bool] | None:
    if typ == "Integer":
        return _is_int
    if typ == "Float":
        return _is_float
    if typ == "Character":
        return lambda v: len(v) == 1
    return None  # String: anything goes


def _alt_ok(allele: str) -> bool:
    if not allele.strip(_BASES) or allele == "*":
        return True
    if allele.startswith("<"):
        return _SYMBOLIC_RE.fullmatch(allele) is not None
    return _BREAKEND_RE.fullmatch(allele) is not None


def _bounded_put(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


# --- records --------------------------------------------------------------------------------


class _RecordChecker:
    """Checks shared by text and BCF records: contig order, REF, ALT, GT."""

    def __init__(self, report: ValidationReport, hdr: _Header) -> None:
        self.report = report
        self.hdr = hdr
        self.chrom: str | None = None
        self.last_pos = -1
        self.done_contigs: set[str] = set()
        self.missing_contigs: set[str] = set()
        self.alt_cache: dict[str, tuple[int, str | None]] = {}  # ALT -> (count, first bad allele)
        self.gt_cache: dict[str, tuple[bool, int]] = {}  # GT -> (well formed, largest allele index)

    def position(self, lineno: int, chrom: str, pos: int) -> None:
        if chrom != self.chrom:
            if chrom in self.done_contigs:
                self.report.add(lineno, "UNSORTED", f"contig {chrom} reappears after {self.chrom} began")
            if self.chrom is not None:
                self.done_contigs.add(self.chrom)
            self.chrom = chrom
            self.last_pos = pos
            if chrom not in self.hdr.contigs and chrom not in self.missing_contigs:
                self.missing_contigs.add(chrom)
                self.report.add(lineno, "CONTIG_NOT_IN_HEADER", f"contig {chrom} has no ##contig line")
            return
        if pos < self.last_pos:
            self.report.add(lineno, "UNSORTED", f"{chrom}:{pos} comes after {chrom}:{self.last_pos}")
        self.last_pos = pos

    def ref(self, lineno: int, ref: str) -> None:
        if not ref or ref.strip(_BASES):
            self.report.add(lineno, "BAD_REF", f"REF {ref[:40]!r} is not a string of A, C, G, T, N")

    def alt(self, lineno: int, alt: str) -> int:
        """Check ALT; return the number of ALT alleles (0 for ``.``)."""
        hit = self.alt_cache.get(alt)
        if hit is None:
            if alt == ".":
                hit = (0, None)
            else:
                alleles = alt.split(",")
                bad = next((a for a in alleles if not _alt_ok(a)), None)
                hit = (len(alleles), bad)
            _bounded_put(self.alt_cache, alt, hit)
        if hit[1] is not None:
            self.report.add(lineno, "BAD_ALT", f"ALT allele {hit[1][:40]!r} is not bases, *, <ID> or a breakend")
        return hit[0]

    def gt(self, lineno: int, gt: str, n_alt: int, sample: str) -> None:
        hit = self.gt_cache.get(gt)
        if hit is None:
            if _GT_RE.fullmatch(gt) is None:
                hit = (False, -1)
            else:
                idx = [int(a) for a in _GT_SPLIT_RE.split(gt) if a and a != "."]
                hit = (True, max(idx, default=-1))
            _bounded_put(self.gt_cache, gt, hit)
        if not hit[0]:
            self.report.add(lineno, "GT", f"sample {sample}: GT {gt[:40]!r} is malformed")
        elif hit[1] > n_alt:
            self.report.add(lineno, "GT", f"sample {sample}: GT {gt} refers to allele {hit[1]} "
                                          f"but there are {n_alt} ALT alleles")


@contextlib.contextmanager
def _open_text(path: str | Path, fmt: str) -> Iterator[IO[str]]:
    """The file's text, decompressed when ``fmt`` is ``vcf.gz`` (local or a URL; every stream closed after)."""
    with contextlib.ExitStack() as stack:
        raw: IO[bytes] = stack.enter_context(open_bytes(path))
        if fmt == "vcf.gz":
            raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[arg-type]
        yield stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))


class _NotVcf(Exception):
    """Raised inside the stream when the file cannot be VCF at all."""


class _Cursor:
    """The last line number read, so a decompression error can say where it happened."""

    line = 0
    header_lines = 0


def _validate_text(path: str | Path, fmt: str, report: ValidationReport) -> None:
    cur = _Cursor()
    try:
        with _open_text(path, fmt) as fh:
            _stream_text(fh, report, cur)
    except EOFError:
        report.records = max(0, cur.line - cur.header_lines)
        report.fatal = f"truncated compressed file: the gzip stream ends early (after line {cur.line})"
    except (gzip.BadGzipFile, zlib.error) as exc:
        report.records = max(0, cur.line - cur.header_lines)
        report.fatal = f"corrupt compressed data after line {cur.line}: {exc}"
    except _NotVcf as exc:
        report.fatal = str(exc)


def _stream_text(fh: IO[str], report: ValidationReport, cur: _Cursor) -> None:
    """The hot loop: header, then one record per line."""
    lineno = 0
    hdr = _Header()
    lines: Iterator[str] = iter(fh)
    add = report.add
    # header
    first = True
    for raw in lines:
        lineno += 1
        cur.line = lineno
        line = raw.rstrip("\r\n")
        if first:
            first = False
            if "\x00" in line or not line.startswith("#"):
                raise _NotVcf("not a VCF file: the first line is not a ## header line")
            _check_fileformat(line, report)
            if line.startswith("##fileformat="):
                continue
        if line.startswith("#CHROM"):
            _chrom_line(line, lineno, hdr, report)
            break
        if line.startswith("##"):
            _header_line(line, lineno, hdr, report)
            continue
        if line.startswith("#"):
            continue
        raise _NotVcf(f"no #CHROM header line before the first record (line {lineno})")
    if first:
        raise _NotVcf("empty file: not a VCF")
    if not hdr.seen_chrom_line:
        raise _NotVcf("no #CHROM header line: the file ends inside the header")
    cur.header_lines = lineno

    check = _RecordChecker(report, hdr)
    info_defs = hdr.info
    fmt_defs = hdr.fmt
    filters = hdr.filters
    samples = hdr.samples
    n_samples = len(samples)
    n_cols = 9 + n_samples if (n_samples or hdr.has_format_column) else 8
    missing_info: set[str] = set()
    missing_filter: set[str] = set()
    info_rules: dict[str, tuple[str, Callable[[str], bool] | None, str]] = {
        key: (number, _value_checker(typ), typ) for key, (number, typ) in info_defs.items()
    }
    filter_ok: set[str] = {".", "PASS"}
    format_cache: dict[str, tuple[int, int]] = {}  # FORMAT -> (number of keys, index of GT or -1)
    qual_ok: set[str] = {"."}
    records = 0
    position, check_ref, check_alt, check_gt = check.position, check.ref, check.alt, check.gt

    for raw in lines:
        lineno += 1
        cur.line = lineno
        line = raw.rstrip("\r\n")
        if line.startswith("#"):  # a second #CHROM line too: its columns are not a record's
            add(lineno, "MISPLACED_HEADER", "a header line after the #CHROM line")
            continue
        cols = line.split("\t")
        records += 1
        if len(cols) < 8:
            spaces = " (its columns are separated by spaces, not tabs)" if len(line.split()) >= 8 else ""
            add(lineno, "TOO_FEW_COLUMNS", f"{len(cols)} tab-separated columns; a record needs at least 8{spaces}")
            continue
        if len(cols) != n_cols:
            add(lineno, "SAMPLE_COUNT", f"{len(cols) - 9 if len(cols) > 8 else 0} sample columns; "
                                        f"the #CHROM line names {n_samples}")
        chrom, pos_s, _id, ref, alt, qual, filt, info = cols[:8]
        if pos_s.isdigit():
            position(lineno, chrom, int(pos_s))
        else:
            add(lineno, "BAD_POS", f"POS {pos_s[:20]!r} is not a non-negative integer")
        check_ref(lineno, ref)
        n_alt = check_alt(lineno, alt)
        if qual not in qual_ok:
            if _is_float(qual):
                if len(qual_ok) < _CACHE_MAX:
                    qual_ok.add(qual)
            else:
                add(lineno, "BAD_QUAL", f"QUAL {qual[:20]!r} is neither . nor a number")
        if filt not in filter_ok:
            bad = [f for f in filt.split(";") if f not in filters]
            for f in bad:
                if f not in missing_filter:
                    missing_filter.add(f)
                    add(lineno, "FILTER_UNDEFINED", f"FILTER {f} has no ##FILTER line")
            if not bad and len(filter_ok) < _CACHE_MAX:
                filter_ok.add(filt)
        if info != ".":
            for item in info.split(";"):
                key, eq, value = item.partition("=")
                rule = info_rules.get(key)
                if rule is None:
                    if key not in missing_info:
                        missing_info.add(key)
                        add(lineno, "INFO_UNDEFINED", f"INFO {key} has no ##INFO line")
                    continue
                number, is_ok, typ = rule
                if typ == "Flag":
                    if eq:
                        add(lineno, "INFO_TYPE", f"INFO {key} is a Flag but has a value {value[:20]!r}")
                    continue
                if not eq:
                    add(lineno, "INFO_TYPE", f"INFO {key} has no value (Type={typ})")
                    continue
                if value == ".":
                    continue
                values = value.split(",")
                if is_ok is not None:
                    for v in values:
                        if v != "." and not is_ok(v):
                            add(lineno, "INFO_TYPE", f"INFO {key}={value[:30]} is not {typ}")
                            break
                if number != ".":
                    if number == "A":
                        want = n_alt if n_alt else -1
                    elif number == "R":
                        want = n_alt + 1 if n_alt else -1
                    elif number == "G":
                        want = -1
                    else:
                        want = int(number)
                    if want >= 0 and len(values) != want:
                        add(lineno, "INFO_NUMBER", f"INFO {key} has {len(values)} values; Number={number} "
                                                   f"expects {want}")
        if n_samples and len(cols) > 9 and cols[8] != ".":
            fmt = cols[8]
            shape = format_cache.get(fmt)
            if shape is None:
                keys = fmt.split(":")
                for k in keys:
                    if k not in fmt_defs:
                        fmt_defs[k] = (".", "String")  # report once
                        add(lineno, "FORMAT_UNDEFINED", f"FORMAT {k} has no ##FORMAT line")
                gt_at = keys.index("GT") if "GT" in keys else -1
                if gt_at > 0:
                    add(lineno, "GT", "GT must be the first FORMAT key")
                shape = (len(keys), gt_at)
                _bounded_put(format_cache, fmt, shape)
            n_keys, gt_at = shape
            for i in range(9, min(len(cols), n_cols)):
                sample = cols[i]
                if sample.count(":") >= n_keys:
                    add(lineno, "FORMAT_MISMATCH", f"sample {samples[i - 9]} has more fields than FORMAT {fmt}")
                if gt_at == 0:
                    cut = sample.find(":")
                    check_gt(lineno, sample if cut < 0 else sample[:cut], n_alt, samples[i - 9])
    report.records = records


# --- BCF ------------------------------------------------------------------------------------


def _validate_bcf(path: str | Path, report: ValidationReport) -> None:
    import cyvcf2  # heavy: only when a BCF is validated

    from exocortex.genomics.reader import apply_htslib_level

    apply_htslib_level()  # htslib's own stderr lines are off unless --debug: the problems are the report
    try:
        vcf = cyvcf2.VCF(str(path))
    except Exception as exc:  # cyvcf2 raises a bare Exception for a header it cannot parse (a cut BCF)
        report.fatal = f"unreadable BCF: {exc}"
        return
    n = 0
    try:
        header_lines = vcf.raw_header.rstrip("\n").split("\n")
        hdr = _Header()
        for i, line in enumerate(header_lines, start=1):
            if i == 1:
                _check_fileformat(line, report)
            elif line.startswith("#CHROM"):
                _chrom_line(line, i, hdr, report)
            elif line.startswith("##"):
                _header_line(line, i, hdr, report)
        check = _RecordChecker(report, hdr)
        samples = hdr.samples
        for rec in vcf:
            n += 1
            check.position(n, rec.CHROM, rec.start + 1)  # rec.POS is 32-bit: wraps past 2^31
            check.ref(n, rec.REF)
            alts = rec.ALT
            n_alt = check.alt(n, ",".join(alts) if alts else ".")
            if samples and "GT" in rec.FORMAT:
                for name, gt in zip(samples, _bcf_gts(rec), strict=False):
                    check.gt(n, gt, n_alt, name)
        report.records = n
    except Exception as exc:  # cyvcf2 raises a bare Exception for a truncated or corrupt BCF
        report.records = n
        report.fatal = f"unreadable BCF after record {n}: {exc}"
    finally:
        vcf.close()


def _bcf_gts(rec: Any) -> list[str]:
    """Genotype strings (``0/1``, ``.|.``) of a cyvcf2 record, for the GT allele-index check."""
    out = []
    for g in rec.genotypes:
        *alleles, phased = g
        sep = "|" if phased else "/"
        out.append(sep.join("." if a < 0 else str(a) for a in alleles) or ".")
    return out
