"""Opening a VCF/BCF safely: sniff the bytes, hash them, refuse file-level problems in one line.

cyvcf2 (htslib underneath) is the record reader: it decodes text VCF, BGZF and plain gzip VCF
and BCF at C speed, types INFO/FORMAT values from the header, and hands genotypes over as NumPy
arrays. What htslib does not do well is *say why* a file is unreadable: an empty file, a text
file and a truncated gzip all come back as "not valid bcf or vcf", and a truncated BGZF stream
shows up only as a parse error per record near the end. So before cyvcf2 sees a file,
:func:`inspect_file` reads it once (the sha256 needs every byte anyway) and decides:

- empty file, not gzip/BGZF/BCF/VCF text, records with no ``#CHROM`` header -> ``VcfFormatError``;
- gzip without the BGZF end-of-file block (plain gzip, or a cut BGZF file) is decompressed
  once through ``zlib`` (a streaming pass, constant memory), and a stream that ends early ->
  ``VcfFormatError``. BGZF files that end with the EOF block skip that pass.

It also reads the header of a text VCF verbatim (kept in ``sources``) and counts its lines, so
a rejected record can be reported by its line number (header lines + record index + 1).
BCF headers are kept as htslib writes them (``raw_header``): BCF stores no header text.

URLs. An ``http://`` or ``https://`` location is read the same way: its bytes are streamed once
through ``urllib`` (the sha256 of the content is the duplicate check, so every byte is needed, and
an HTTP error is one clear ``InputPathError`` here rather than htslib's bare "could not open"),
then the records are streamed from the same URL: text blocks through ``urllib``
(:func:`open_decompressed`), BCF and single lines through htslib (cyvcf2's wheel has libcurl).
cyvcf2 holds the GIL while htslib waits on the network, so a server in the same process cannot
answer it (the tests serve from a child process). Nothing is saved to disk.
:attr:`FileInfo.location` is the URL, which the store records as the source's path.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from exocortex.errors import InputPathError, VcfFormatError

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
READ_CHUNK_BYTES = 1 << 20
SNIFF_BYTES = 1 << 16
URL_SCHEMES = ("http://", "https://")
URL_TIMEOUT_S = 60.0
"""Seconds a URL may stay silent (connecting, or between reads) before the read fails."""


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is an ``http(s)://`` URL (a ``str``; a path object never is)."""
    return isinstance(location, str) and location[:8].lower().startswith(URL_SCHEMES)


def open_bytes(location: str | Path) -> IO[bytes]:
    """A binary stream of a local file or an ``http(s)://`` URL; ``InputPathError`` when it cannot be opened.

    URLs go through ``urllib`` (the standard library): an HTTP status (404, 403, ...) or a refused
    connection is one line naming the URL, before htslib is asked to read it.
    """
    if not is_url(location):
        return Path(location).open("rb")
    import urllib.error
    import urllib.request

    url = str(location)
    try:
        response: IO[bytes] = urllib.request.urlopen(url, timeout=URL_TIMEOUT_S)  # noqa: S310 (http(s) only)
    except urllib.error.HTTPError as exc:
        raise InputPathError(f"cannot read {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputPathError(f"cannot read {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise InputPathError(f"cannot read {url}: {exc}") from None
    return response


def url_name(url: str) -> str:
    """The last path component of ``url`` (``https://h/x/a.vcf.gz?t=1`` -> ``a.vcf.gz``), for file names."""
    from urllib.parse import urlsplit

    return PurePosixPath(urlsplit(url).path).name or "download"


@dataclass(frozen=True)
class FileInfo:
    path: Path  # a local file; for a URL, its last path component (what names the rejects file)
    sha256: str
    format: str  # "vcf", "vcf.gz", "bcf"
    size_bytes: int
    header_lines: int | None  # text VCF only
    header: str | None = None  # the header lines exactly as in a text VCF; None for BCF
    url: str | None = None  # the http(s) URL read, when not a local file

    @property
    def location(self) -> str:
        """What was read: the URL, or the local path as given (what ``sources.path`` records)."""
        return self.url if self.url is not None else str(self.path)


@dataclass(frozen=True)
class FieldSpec:
    """One INFO or FORMAT field as the header declares it."""

    id: str
    number: str  # "1", "A", "R", "G", ".", "0", ...
    type: str  # "Integer", "Float", "Flag", "String", "Character"
    description: str


def _decompress_head(head: bytes) -> bytes:
    """As much of a gzip stream's start as ``head`` gives (at most ``SNIFF_BYTES`` out)."""
    d = zlib.decompressobj(wbits=31)
    try:
        return d.decompress(head, SNIFF_BYTES)
    except zlib.error as exc:
        raise VcfFormatError(f"corrupt gzip data at the start of the file ({exc})") from None


def _gzip_complete(path: str | Path) -> bool:
    """Whether every gzip member in the file decompresses to its end (a streaming check)."""
    d = zlib.decompressobj(wbits=31)
    pending = False
    with open_bytes(path) as fh:
        while chunk := fh.read(READ_CHUNK_BYTES):
            data = chunk
            while data:
                pending = True
                try:
                    d.decompress(data)
                except zlib.error:
                    return False
                if not d.eof:
                    break
                data = d.unused_data
                d = zlib.decompressobj(wbits=31)
                pending = False
    return not pending


def _read_url(url: str) -> tuple[bytes, bytes, int, str]:
    """One streaming pass over a URL's bytes: (its first ``SNIFF_BYTES``, its last 28, its size, sha256)."""
    digest = hashlib.sha256()
    head = b""
    tail = b""
    size = 0
    with open_bytes(url) as fh:
        try:
            while chunk := fh.read(READ_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                tail = (tail + chunk)[-len(BGZF_EOF) :]
        except OSError as exc:  # a connection cut or a timeout mid-body
            raise InputPathError(f"cannot read {url}: {exc}") from None
    return head, tail, size, digest.hexdigest()


def inspect_file(path: str | Path) -> FileInfo:
    """Hash and sniff ``path`` (a local file or an ``http(s)://`` URL); ``InputPathError``/``VcfFormatError``
    for unusable ones."""
    url = str(path) if is_url(path) else None
    if url is not None:
        p = Path(url_name(url))
        head, tail, size, sha256 = _read_url(url)
        if size == 0:
            raise VcfFormatError(f"{url} is empty: a VCF needs at least a header")
    else:
        p = Path(path)
        head, tail, size, sha256 = _read_local(p)
    where = url if url is not None else p
    compressed = head[:2] == b"\x1f\x8b"
    text = _decompress_head(head) if compressed else head
    if text.startswith(b"BCF\x02"):
        fmt = "bcf"
    elif text.startswith(b"##fileformat=VCF") or text.startswith(b"#CHROM"):
        fmt = "vcf.gz" if compressed else "vcf"
    else:
        first = text.split(b"\n", 1)[0]
        if first.count(b"\t") >= 7 and not first.startswith(b"#"):
            raise VcfFormatError(f"{where} has records but no VCF header (##fileformat / #CHROM lines)")
        raise VcfFormatError(f"{where} is not a VCF or BCF file (it starts with {first[:40]!r})")
    if compressed and tail != BGZF_EOF and not _gzip_complete(url or p):
        raise VcfFormatError(f"{where} is truncated: its gzip stream ends early (an incomplete copy?)")
    header_lines, header = read_header(url or p, compressed) if fmt != "bcf" else (None, None)
    return FileInfo(
        path=p, sha256=sha256, format=fmt, size_bytes=size, header_lines=header_lines, header=header, url=url
    )


def _read_local(p: Path) -> tuple[bytes, bytes, int, str]:
    """A local file's first ``SNIFF_BYTES``, last 28 bytes, size and sha256; ``InputPathError`` when unusable."""
    if not p.exists():
        raise InputPathError(f"no such file: {p}")
    if not p.is_file():
        raise InputPathError(f"not a file: {p}")
    size = p.stat().st_size
    if size == 0:
        raise VcfFormatError(f"{p} is empty: a VCF needs at least a header")
    digest = hashlib.sha256()
    try:
        with p.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            digest.update(head)
            while chunk := fh.read(READ_CHUNK_BYTES):
                digest.update(chunk)
            fh.seek(max(0, size - len(BGZF_EOF)))
            tail = fh.read()
    except OSError as exc:
        raise InputPathError(f"cannot read {p}: {exc.strerror or exc}") from None
    return head, tail, size, digest.hexdigest()


@contextlib.contextmanager
def open_decompressed(path: str | Path, compressed: bool) -> Iterator[IO[bytes]]:
    """The decompressed bytes of a local file or URL (closing the stream underneath too)."""
    with open_bytes(path) as raw:
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
            yield fh  # type: ignore[misc]


def read_header(path: str | Path, compressed: bool) -> tuple[int, str]:
    """The ``#`` lines before the first record (count, verbatim text); ``VcfFormatError`` if no ``#CHROM``."""
    n = 0
    saw_chrom = False
    lines: list[bytes] = []
    try:
        with open_decompressed(path, compressed) as fh:
            for line in fh:
                if not line.startswith(b"#"):
                    break
                n += 1
                lines.append(line)
                if line.startswith(b"#CHROM"):
                    saw_chrom = True
                    break
    except (OSError, EOFError, zlib.error) as exc:
        raise VcfFormatError(f"{path} cannot be decompressed ({exc})") from None
    if not saw_chrom:
        raise VcfFormatError(f"{path} has no #CHROM header line: not a complete VCF header")
    return n, b"".join(lines).decode("utf-8", "replace")


def raw_lines(path: str | Path, compressed: bool, wanted: set[int]) -> dict[int, str]:
    """The text of the 1-based line numbers ``wanted`` (one streaming pass; for rejects)."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    last = max(wanted)
    with contextlib.suppress(OSError, EOFError, zlib.error, InputPathError), open_decompressed(path, compressed) as fh:
        for number, line in enumerate(fh, start=1):
            if number in wanted:
                found[number] = line.decode("utf-8", "replace").rstrip("\r\n")
            if number >= last:
                break
    return found


HTSLIB_QUIET = 0  # HTS_LOG_OFF
HTSLIB_DEFAULT = 3  # HTS_LOG_WARNING: what htslib prints unless told otherwise
_htslib_level = HTSLIB_QUIET


def show_htslib_messages(show: bool) -> None:
    """Let htslib print its own ``[W::...]``/``[E::...]`` lines on stderr (``--debug``), or not (the default).

    By default they are silenced: a command's stderr is its one-line error, and what htslib said
    about a line that is not stored is in the rejects file (``vcf ingest``) or the problem list
    (``vcf validate``). ``CYVCF2_HTSLIB_LOG_LEVEL`` in the environment overrides both.
    """
    global _htslib_level
    _htslib_level = HTSLIB_DEFAULT if show else HTSLIB_QUIET
    apply_htslib_level()


def apply_htslib_level() -> None:
    """Set htslib's log level (a process-wide setting) before it reads anything."""
    if os.environ.get("CYVCF2_HTSLIB_LOG_LEVEL"):
        return
    from cyvcf2 import cyvcf2

    setter = getattr(cyvcf2, "set_htslib_log_level", None)  # cyvcf2 >= 0.31
    if setter is not None:
        setter(_htslib_level)


def open_vcf(info: FileInfo) -> Any:
    """A cyvcf2 reader over the file (htslib's own messages silenced: :func:`show_htslib_messages`)."""
    from cyvcf2 import VCF

    apply_htslib_level()
    try:
        return VCF(info.location, threads=min(2, os.cpu_count() or 1) if info.format != "vcf" else None)
    except Exception as exc:  # htslib: "not valid bcf or vcf", "cannot parse VCF header"
        raise VcfFormatError(f"{info.location} is not a readable VCF/BCF ({exc})") from None


def header_fields(vcf: Any, kind: str) -> dict[str, FieldSpec]:
    """The ``kind`` ("INFO" or "FORMAT") fields the header declares."""
    fields: dict[str, FieldSpec] = {}
    for rec in vcf.header_iter():
        d = rec.info()
        if d.get("HeaderType") != kind or "ID" not in d:
            continue
        fields[d["ID"]] = FieldSpec(
            id=d["ID"],
            number=str(d.get("Number", ".")),
            type=str(d.get("Type", "String")),
            description=str(d.get("Description", "")).strip('"'),
        )
    return fields


def record_line_problem(text: str) -> str | None:
    """Why a record line cannot be a VCF record by its shape alone, or ``None``.

    htslib reads such lines as records without alleles (or refuses them with a bare return code),
    and cyvcf2 reads REF of an allele-less record through a null pointer: these lines are
    rejected before htslib sees them, with a reason a person can act on.
    """
    if not text.strip():
        return "the line is empty"
    if text.startswith("#"):
        return "a header line (starting with #) after the #CHROM line"
    tabs = text.count("\t")
    if tabs >= 7:
        return None
    columns = tabs + 1
    reason = f"{columns} tab-separated column{'s' if columns > 1 else ''}; a record needs at least 8"
    if len(text.split()) >= 8:
        reason += " (its columns are separated by spaces, not tabs)"
    return reason


def allele_less_problem(v: Any) -> str | None:
    """Why a cyvcf2 record that htslib parsed has no alleles at all, or ``None`` when it has them.

    Asked only of records without ALT: a record without alleles (htslib's reading of a line that
    is not a record: a header line among the records, space-separated columns) would make
    cyvcf2 read REF through a null pointer. ``str(v)`` is safe: htslib writes ``.`` for it.
    """
    try:
        fields = str(v).split("\t", 4)
    except Exception:
        return "htslib could not write the record back"
    if len(fields) > 3 and fields[3] != ".":
        return None
    chrom = fields[0]
    if chrom.startswith("#"):
        return "a header line (starting with #) after the #CHROM line"
    if len(chrom.split()) > 1:
        return "its columns are separated by spaces, not tabs"
    return "REF is missing"


def iter_records(vcf: Any, errors: list[str]) -> Iterator[Any]:
    """cyvcf2 records, ``None`` in place of a record htslib could not parse (reason appended)."""
    it = iter(vcf)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except Exception as exc:
            errors.append(str(exc) or type(exc).__name__)
            yield None
