"""The columnar fast path for text VCF: whole blocks of lines tokenized with NumPy, columns built with Arrow.

cyvcf2 hands records over one Python object at a time, and the attribute reads on each record
cost more than htslib's parsing of it. For text VCF (plain, BGZF or plain gzip), most lines of
real files are simple: one ALT, INFO values of a few declared types, and either no samples, a
single sample with a reference or missing call (a gVCF's blocks), or diploid ``GT``-only
genotypes of one character per allele (a phased panel, a simulated cohort). This module turns
a block of such lines into the same rows the record converter writes, without a Python object
per line:

- :class:`TextBlocks` decompresses the file on a thread (zlib releases the GIL) and hands over
  blocks of whole lines after the header.
- :func:`parse_block` finds the lines and the first nine columns with ``np.flatnonzero`` over the
  bytes, gathers each column into an Arrow string array, and decides line by line whether the
  line is *fast*: every check below passes, so its row can be computed by column-wide
  operations with exactly the values cyvcf2 would give. Anything else (several ALTs, an
  annotation or CLNSIG field, an undeclared or oddly typed INFO value, a symbolic allele other
  than ``<NON_REF>``/``<*>``, a REF and ALT that share a first or last base (to be trimmed), a
  carrier with FORMAT fields beyond GT, a malformed line) is a
  *slow* line: the caller parses it with htslib (``Writer.variant_from_string``) and the record
  converter, so the slow path is the reference and the fast path only has to agree with it on
  the lines it accepts (``tests/test_vcf_textpath.py`` compares both on every real test file).

gVCF reference blocks (ALT ``<NON_REF>``/``<*>`` only) of a sites-only or single-sample file are
fast lines too: their GT, GQ, DP and MIN_DP (``.`` or plain digits, else the line is slow) go to
``Block.ref_blocks``, not to the rows the caller stores as variants. With several samples a block
line is slow (one row per sample, by the record converter).

INFO values, as cyvcf2 types them from the header: ``Integer`` as the integer (canonical digits
only, within int32), ``Flag`` as ``true``, ``String`` as the text (printable ASCII without
quotes or backslashes, so its JSON is the text in quotes), ``Float`` (and comma lists of
``Integer``) through a cache of the exact per-value conversion the converter applies (float32,
then 7 significant digits). ``END`` sets the row's end, ``AC``/``AN``/``AF`` its count columns.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.clinical import population_field
from exocortex.genomics.reader import FieldSpec, FileInfo, open_decompressed
from exocortex.genomics.schema import REF_BLOCK_ALLELES, info_float, variant_type

BLOCK_BYTES = 4 << 20
"""Decompressed bytes per block (whole lines; a longer line makes its block longer)."""
QUEUE_BLOCKS = 2
"""Blocks decompressed ahead of the parser."""
MIN_FAST_SHARE = 0.5
"""Below this share of fast lines in the first block, the file is read record by record instead."""
VALUE_CACHE_ENTRIES = 1 << 16
"""Distinct Float/list INFO value texts whose JSON is remembered (per file)."""

_INT32_MAX = 2**31 - 1
_INT32_MIN_VALUE = -(2**31) + 8  # htslib reserves the lowest int32 values for missing/end-of-vector
_encode_str = json.encoder.encode_basestring_ascii

# INFO value kinds
_UNKNOWN, _INT, _FLOAT, _FLAG, _STRING = 0, 1, 2, 3, 4
_SLOW_KEYS = frozenset({"ANN", "EFF", "CSQ", "CLNSIG", "CLNREVSTAT", "GENEINFO", "MC", "RS", "SVLEN"})
"""INFO keys whose lines take the slow path (parsed annotations, ClinVar, symbolic lengths); so do
reference-population frequencies (:func:`exocortex.genomics.clinical.population_field`)."""

_PAIR = r"^(?P<k>[A-Za-z_][0-9A-Za-z_.]*)(?P<eq>=?)(?P<v>.*)$"
_INT_TEXT = r"^(0|-?[1-9][0-9]{0,9})$"
_PLAIN_STRING = r"^[ !#-\[\]-~]+$"  # printable ASCII without '"' and '\'
_BASES = r"^[ACGTNacgtn]+$"
_ALT_SEQ = r"^[ACGTNacgtn*]+$"
_QUAL = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_RSID = r"(?:^|;)(?P<rs>rs[0-9]+)(?:;|$)"


class ValueJson:
    """JSON text (and first value) of Float and comma-list INFO values, computed once per distinct text."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], tuple[str, Any] | None] = {}

    def get(self, kind: int, text: str) -> tuple[str, Any] | None:
        key = (kind, text)
        hit = self._cache.get(key, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        result = self._convert(kind, text)
        if len(self._cache) < VALUE_CACHE_ENTRIES:
            self._cache[key] = result
        return result

    @staticmethod
    def _convert(kind: int, text: str) -> tuple[str, Any] | None:
        tokens = text.split(",")
        values: list[Any] = []
        try:
            for token in tokens:
                if kind == _INT:
                    if not token or token != str(int(token)):
                        return None
                    value: Any = int(token)
                    if not _INT32_MIN_VALUE <= value <= _INT32_MAX:
                        return None
                else:
                    if token in ("", ".") or token.strip() != token:
                        return None
                    value = info_float(float(np.float32(float(token))))  # htslib's float32, as cyvcf2 gives it
                    if value is None:
                        return None
                values.append(value)
        except ValueError:
            return None
        if len(values) == 1:
            return repr(values[0]), values[0]
        return "[" + ",".join(repr(v) for v in values) + "]", values[0]


@dataclass
class CarrierCells:
    """The (record, sample) cells of a block's fast genotype lines that carry an ALT, in record-major order."""

    line: np.ndarray  # the cell's line among the block's fast lines with calls
    sample: np.ndarray  # 0-based sample column
    first: np.ndarray  # first allele (int16; -1 missing)
    second: np.ndarray
    phased: np.ndarray  # bool

    def lines(self, start: int, stop: int) -> slice:
        """The cells of lines ``start`` to ``stop`` (exclusive)."""
        lo, hi = np.searchsorted(self.line, [start, stop])
        return slice(int(lo), int(hi))

    def part(self, cells: slice, first_line: int) -> CarrierCells:
        """Those cells, their lines counted from ``first_line``."""
        return CarrierCells(
            self.line[cells] - first_line, self.sample[cells], self.first[cells], self.second[cells], self.phased[cells]
        )


@dataclass
class Block:
    """One block of lines: which are fast, the rows of the lines with the right column count, and the text."""

    data: bytes
    starts: np.ndarray  # per line: first byte
    ends: np.ndarray  # per line: end (exclusive, before any \r\n)
    fast: np.ndarray  # per line: bool
    rows: pa.Table | None  # per candidate line (the right number of columns), in order: TEXT_COLUMNS
    genotypes: CarrierCells | None  # of the fast lines with calls
    has_calls: np.ndarray | None  # per row of ``rows``: whether its line has calls in ``genotypes``
    row_of_line: np.ndarray | None = None  # per line: its row in ``rows`` (meaningful for fast lines)
    no_call_line: np.ndarray | None = None  # the row of every missing cell (GT ./., . or 0/.) of a fast line, sorted
    no_call_sample: np.ndarray | None = None  # and its sample column
    ref_blocks: pa.Table | None = None  # gVCF reference blocks of fast lines (batch.ref_block_pieces' columns)
    ref_block_of_row: np.ndarray | None = None  # per row of ``rows``: its row in ``ref_blocks``, else -1
    ref_block_line: np.ndarray | None = None  # per line: a fast reference block
    no_call_code: np.ndarray | None = None  # and its GT text, up to 3 bytes in an int (:func:`gt_texts`)

    def no_calls(self, start: int, stop: int, n_samples: int) -> np.ndarray:
        """No-calls (no allele called: not ``0/.``) per sample among rows ``start`` to ``stop`` (exclusive)."""
        if self.no_call_line is None or self.no_call_sample is None or self.no_call_code is None:
            return np.zeros(n_samples, dtype=np.int64)
        lo, hi = np.searchsorted(self.no_call_line, [start, stop])
        full = (self.no_call_code[lo:hi] & 0xFF) == 46  # "./." or ".": the first allele missing
        full &= ((self.no_call_code[lo:hi] >> 16) & 0xFF) != 48  # and not "./0"
        return np.bincount(self.no_call_sample[lo:hi][full], minlength=n_samples)

    def missing(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """The missing cells of rows ``start`` to ``stop`` (exclusive): (row, sample column, GT text)."""
        if self.no_call_line is None or self.no_call_sample is None or self.no_call_code is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), pa.array([], pa.string())
        lo, hi = np.searchsorted(self.no_call_line, [start, stop])
        return self.no_call_line[lo:hi], self.no_call_sample[lo:hi], gt_texts(self.no_call_code[lo:hi])

    @property
    def lines(self) -> int:
        return int(self.starts.size)

    def line_text(self, i: int) -> str:
        return self.data[int(self.starts[i]) : int(self.ends[i])].decode("utf-8", "replace")


TEXT_COLUMNS = (
    "chrom", "pos", "end", "ref", "alt", "allele_index", "n_alts", "vtype", "length",
    "id", "rsid", "qual", "filter", "ac", "an", "af", "info",
)  # fmt: skip
"""The row columns a fast block computes (the converter adds vid, record and the rest)."""


class TextBlocks:
    """The record lines of a text VCF in blocks of whole lines, decompressed on a thread."""

    def __init__(self, info: FileInfo, block_bytes: int = BLOCK_BYTES) -> None:
        self.info = info
        self.block_bytes = block_bytes
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="vcf-text-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            # a local file or an http(s) URL (streamed by urllib), gzip/BGZF decompressed when it is vcf.gz
            with open_decompressed(self.info.location, self.info.format == "vcf.gz") as fh:
                skip = int(self.info.header_lines or 0)
                rest = b""
                while skip:  # the header: whole lines
                    line = fh.readline()
                    if not line:
                        break
                    skip -= 1
                while not self._stop.is_set():
                    chunk = fh.read(self.block_bytes)
                    if not chunk:
                        break
                    data = rest + chunk
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:
                        rest = data
                        continue
                    rest = data[cut:]
                    self._put(data[:cut])
                if rest and not self._stop.is_set():
                    self._put(rest + b"\n")
            self._put(None)
        except BaseException as exc:  # surfaced in the consumer
            self._put(exc)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()


def _gather(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.StringArray:
    """The byte ranges ``[starts, ends)`` of ``buf`` as one Arrow string array (UTF-8 checked by the caller)."""
    n = starts.size
    lengths = (ends - starts).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if total:
        index = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1] - starts, lengths)
        data = buf[index]
    else:
        data = np.zeros(0, dtype=np.uint8)
    if total >= 2**31:
        raise ValueError("a VCF block column over 2 GiB")
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def _reference_or_missing(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether the GT at ``start`` (up to ``:`` or ``end``) is ``0/0``, ``0|0``, ``./.``, ``.|.``, ``0`` or ``.``."""
    length = end - start
    at = [buf[np.minimum(start + k, buf.size - 1)] for k in range(4)]
    allele = (at[0] == 48) | (at[0] == 46)  # '0' or '.'
    one = allele & ((length == 1) | (at[1] == 58))  # haploid, then ':' or the end
    two = (
        allele
        & (at[2] == at[0])
        & ((at[1] == 47) | (at[1] == 124))  # '/' or '|'
        & ((length == 3) | ((length > 3) & (at[3] == 58)))
    )
    return np.asarray(one | two, dtype=bool)


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as NumPy, nulls as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


class BlockParser:
    """Parses blocks of one file (its header's INFO types, sample count and caches)."""

    def __init__(
        self,
        info_specs: dict[str, FieldSpec],
        n_samples: int,
        format_types: dict[str, str] | None = None,
        left_align: bool = False,
    ) -> None:
        self.n_samples = n_samples
        self.left_align = left_align  # indels are the record converter's: it left-aligns them
        self.specs = info_specs
        self.format_types = format_types or {}
        self.values = ValueJson()
        self._kinds: dict[str, int] = {}

    def _kind(self, key: str) -> int:
        kind = self._kinds.get(key)
        if kind is None:
            spec = self.specs.get(key)
            if spec is None or key in _SLOW_KEYS or population_field(key, in_csq=False):
                kind = _UNKNOWN
            elif spec.type == "Integer":
                kind = _INT
            elif spec.type == "Float":
                kind = _FLOAT
            elif spec.type == "Flag":
                kind = _FLAG
            elif spec.type == "String":
                kind = _STRING
            else:
                kind = _UNKNOWN
            if key in ("AC", "AN", "END") and kind != _INT or key == "AF" and kind != _FLOAT:
                kind = _UNKNOWN
            self._kinds[key] = kind
        return kind

    def parse(self, data: bytes) -> Block:
        buf = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(buf == 10)
        n = newlines.size
        starts = np.empty(n, dtype=np.int64)
        if n:
            starts[0] = 0
            starts[1:] = newlines[:-1] + 1
        ends = newlines.astype(np.int64)
        if n:
            cr = buf[np.maximum(ends - 1, 0)] == 13
            ends = ends - (cr & (ends > starts))
        tabs = np.flatnonzero(buf == 9)
        first = np.searchsorted(tabs, starts)
        ntabs = np.searchsorted(tabs, ends) - first
        n_cols = 8 if self.n_samples == 0 else 9 + self.n_samples
        candidate = ntabs == n_cols - 1
        fast = candidate.copy()
        block = Block(data, starts, ends, fast, None, None, None)
        if not fast.any():
            return block
        lines = np.flatnonzero(fast)
        f_first = first[lines]
        f_starts, f_ends = starts[lines], ends[lines]
        bounds = [f_starts]
        for k in range(min(n_cols - 1, 9)):
            bounds.append(tabs[f_first + k])
        cols: list[pa.StringArray] = []
        for k in range(8 if self.n_samples == 0 else 9):
            s = bounds[k] if k == 0 else bounds[k] + 1
            e = bounds[k + 1] if k + 1 < len(bounds) else f_ends
            cols.append(_gather(buf, s, e))
        try:
            for c in cols:
                c.validate(full=True)
        except pa.ArrowInvalid:  # not UTF-8: every line of the block goes the careful way
            block.fast = np.zeros(n, dtype=bool)
            return block
        ok = np.ones(lines.size, dtype=bool)
        rows, ok = self._columns(cols, ok)
        genotypes: CarrierCells | None = None
        has_calls = None
        no_calls = None
        ref_block = _np(pc.is_in(cols[4], _REF_BLOCK_ALLELES))
        if self.n_samples > 1:
            ok &= ~ref_block  # a block row per sample: the record converter's
        if self.n_samples:
            no_alt = rows["n_alts"].to_numpy() == 0  # ALT ".": htslib's reading keeps no calls either
            genotypes, has_calls, ok, no_calls = self._genotypes(buf, cols[8], bounds[9] + 1, f_ends, ok, no_alt)
        block_rows = np.flatnonzero(ok & ref_block)
        if block_rows.size:
            sample = None
            if self.n_samples == 1:
                sample = _gather(buf, bounds[9][block_rows] + 1, f_ends[block_rows])
            fmt = cols[8].take(pa.array(block_rows)) if sample is not None else None
            fields, good = self._block_fields(fmt, sample, block_rows.size)
            ok[block_rows[~good]] = False
            kept = block_rows[good]
            block.ref_blocks = pa.table(
                {
                    "column": pa.array(np.zeros(kept.size, np.int32), mask=np.full(kept.size, sample is None)),
                    "chrom": rows["chrom"].take(pa.array(kept)),
                    "pos": rows["pos"].take(pa.array(kept)),
                    "end": rows["end"].take(pa.array(kept)),
                    **{name: column.filter(pa.array(good)) for name, column in fields.items()},
                }
            )
            block.ref_block_of_row = np.full(ok.size, -1, dtype=np.int64)
            block.ref_block_of_row[kept] = np.arange(kept.size)
            block.ref_block_line = np.zeros(n, dtype=bool)
            block.ref_block_line[lines[kept]] = True
        block.fast[lines] = ok
        if not ok.any():
            return block
        # Rows stay those of every candidate line (no copy of the fast ones): fast lines are
        # found by ``row_of_line``, and a run of fast lines is a run of rows.
        block.rows = rows
        block.row_of_line = np.cumsum(candidate) - 1
        if no_calls is not None:
            block.no_call_line, block.no_call_sample, block.no_call_code = no_calls
        if genotypes is not None and has_calls is not None:
            # ``genotypes`` rows are the candidate lines with calls, in order; all of them stayed fast
            block.has_calls = has_calls
            block.genotypes = genotypes
        return block

    # ----------------------------------------------------------------- fixed columns

    def _columns(self, cols: list[pa.StringArray], ok: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        chrom, pos_s, ident, ref, alt, qual_s, filt, info = cols[:8]
        n = len(chrom)
        ok &= _np(pc.match_substring_regex(pos_s, r"^[0-9]{1,10}$"))
        ok &= _np(pc.match_substring_regex(ref, _BASES))
        ok &= _np(pc.greater(pc.utf8_length(chrom), 0))
        alt_dot = _np(pc.equal(alt, "."))
        alt_seq = _np(pc.match_substring_regex(alt, _ALT_SEQ))
        alt_star = _np(pc.equal(alt, "*"))
        alt_sym = _np(pc.is_in(alt, pa.array(["<NON_REF>", "<*>"]))) | alt_star
        ok &= alt_dot | alt_seq | alt_sym
        qual_dot = _np(pc.equal(qual_s, "."))
        ok &= qual_dot | _np(pc.match_substring_regex(qual_s, _QUAL))
        ok &= _np(pc.greater(pc.utf8_length(filt), 0)) & _np(pc.greater(pc.utf8_length(ident), 0))

        pos = pc.cast(pc.if_else(pa.array(ok), pos_s, "0"), pa.int64()).to_numpy()
        ref_len = pc.utf8_length(ref).to_numpy(zero_copy_only=False).astype(np.int64)
        alt_len = pc.utf8_length(alt).to_numpy(zero_copy_only=False).astype(np.int64)

        if self.left_align:
            ok &= ~(alt_seq & ~alt_star & (ref_len != alt_len))
        # alleles with a common first or last base are trimmed (normalize.trim_alleles): the slow path's business
        long_pair = np.flatnonzero(ok & alt_seq & ~alt_star & (ref_len > 1) & (alt_len > 1))
        if long_pair.size:
            take = pa.array(long_pair)
            r, a = pc.utf8_upper(ref.take(take)), pc.utf8_upper(alt.take(take))
            same_first = pc.equal(pc.utf8_slice_codeunits(r, 0, 1), pc.utf8_slice_codeunits(a, 0, 1))
            same_last = pc.equal(pc.utf8_slice_codeunits(r, -1), pc.utf8_slice_codeunits(a, -1))
            ok[long_pair[_np(pc.or_(same_first, same_last))]] = False

        info_cols = self._info(info, ok)
        ok = info_cols.pop("ok")
        end = np.where(info_cols["has_end"], info_cols["end"], pos + ref_len - 1)
        ok &= ~info_cols["has_end"] | (end >= pos)  # an END before POS: htslib's business

        # variant type and length, as the record converter computes them (schema.variant_type)
        vtype = np.full(n, "indel", dtype=object)
        length = alt_len - ref_len
        length_null = np.zeros(n, dtype=bool)
        same = ref_len == alt_len
        vtype[same] = "MNV"
        vtype[same & (ref_len == 1)] = "SNV"
        other = np.flatnonzero(~same & alt_seq & ~alt_star)
        if other.size:
            refs = ref.take(pa.array(other)).to_pylist()
            alts = alt.take(pa.array(other)).to_pylist()
            for i, r, a in zip(other.tolist(), refs, alts, strict=True):
                vtype[i] = variant_type(r, a)
        vtype[alt_sym] = "symbolic"
        vtype[alt_dot] = "no_alt"
        length_null |= alt_sym | alt_dot
        n_alts = np.where(alt_dot, 0, 1).astype(np.int16)

        id_null = pa.array(_np(pc.equal(ident, ".")))
        id_col = pc.if_else(id_null, pa.scalar(None, pa.string()), ident)
        rsid = pc.struct_field(pc.extract_regex(id_col, _RSID), [0])
        rsid = pc.if_else(pc.is_valid(rsid), rsid, pa.scalar(None, pa.string()))
        qual = pc.cast(pc.if_else(pa.array(qual_dot | ~ok), "0", qual_s), pa.float32())
        qual = pc.if_else(pa.array(qual_dot), pa.scalar(None, pa.float32()), qual)
        filt_col = pc.if_else(pa.array(_np(pc.equal(filt, "."))), pa.scalar(None, pa.string()), filt)

        ac, an, af = info_cols["ac"], info_cols["an"], info_cols["af"]
        af_from_counts = np.isnan(af) & info_cols["has_ac"] & info_cols["has_an"] & (an != 0)
        af = np.where(af_from_counts, ac / np.where(an == 0, 1, an), af)
        table = pa.table(
            {
                "chrom": chrom,
                "pos": pa.array(pos),
                "end": pa.array(end),
                "ref": ref,
                "alt": pc.if_else(pa.array(alt_dot), pa.scalar(None, pa.string()), alt),
                "allele_index": pa.array(n_alts),
                "n_alts": pa.array(n_alts),
                "vtype": pa.array(vtype, type=pa.string()),
                "length": pa.array(length, mask=length_null),
                "id": id_col,
                "rsid": rsid,
                "qual": qual,
                "filter": filt_col,
                "ac": pa.array(ac, mask=~info_cols["has_ac"]),
                "an": pa.array(an, mask=~info_cols["has_an"]),
                "af": pa.array(af, mask=np.isnan(af)),
                "info": info_cols["json"],
            }
        )
        return table, ok

    # ----------------------------------------------------------------- INFO

    def _info(self, info: pa.StringArray, ok: np.ndarray) -> dict[str, Any]:
        n = len(info)
        dot = _np(pc.equal(info, "."))
        lists = pc.split_pattern(pc.if_else(pa.array(dot), pa.scalar(None, pa.string()), info), ";")
        pairs = pc.list_flatten(lists)
        parent = pc.list_parent_indices(lists).to_numpy()
        counts = np.bincount(parent, minlength=n) if parent.size else np.zeros(n, dtype=np.int64)
        out: dict[str, Any] = {
            "has_end": np.zeros(n, dtype=bool),
            "end": np.zeros(n, dtype=np.int64),
            "has_ac": np.zeros(n, dtype=bool),
            "ac": np.zeros(n, dtype=np.int64),
            "has_an": np.zeros(n, dtype=bool),
            "an": np.zeros(n, dtype=np.int64),
            "af": np.full(n, np.nan),
        }
        parts = pc.extract_regex(pairs, _PAIR)
        matched = _np(pc.is_valid(parts))
        keys = pc.struct_field(parts, [0])
        has_eq = _np(pc.equal(pc.struct_field(parts, [1]), "="))
        values = pc.struct_field(parts, [2])
        encoded = pc.dictionary_encode(pc.fill_null(keys, ""))
        key_names = encoded.dictionary.to_pylist()
        key_idx = encoded.indices.to_numpy(zero_copy_only=False)
        kind_of = np.array([self._kind(k) for k in key_names] or [_UNKNOWN], dtype=np.int8)
        kinds = kind_of[key_idx]
        bad_pairs = ~matched | (kinds == _UNKNOWN)
        # JSON of each value, as Arrow: an integer's text as it is, a string quoted, a flag `true`,
        # the rest (floats, lists) from the per-value cache; `firsts` only where END/AC/AN/AF need it.
        firsts: dict[int, Any] = {}
        flag = kinds == _FLAG
        bad_pairs |= flag & has_eq
        is_int_text = _np(pc.match_substring_regex(values, _INT_TEXT))
        simple_int = (kinds == _INT) & has_eq & is_int_text
        int_values = np.zeros(len(pairs), dtype=np.int64)
        if simple_int.any():
            whole = bool(simple_int.all())
            sel = None if whole else np.flatnonzero(simple_int)
            texts = values if sel is None else values.take(pa.array(sel))
            v = pc.cast(texts, pa.int64()).to_numpy()
            in_range = (v >= _INT32_MIN_VALUE) & (v <= _INT32_MAX)
            if sel is None:
                bad_pairs |= ~in_range
                int_values = v.copy()
            else:
                bad_pairs[sel[~in_range]] = True
                int_values[sel] = v
        json_values = pc.if_else(pa.array(flag), pa.scalar("true"), values)

        string = kinds == _STRING
        if string.any():
            plain = _np(pc.match_substring_regex(values, _PLAIN_STRING))
            bad_pairs |= string & ~(plain & has_eq)
            quoted = pc.binary_join_element_wise('"', values, '"', "")
            json_values = pc.if_else(pa.array(string), quoted, json_values)

        cached = ((kinds == _FLOAT) | ((kinds == _INT) & ~is_int_text)) & has_eq
        if cached.any():
            sel = np.flatnonzero(cached)
            texts = values.take(pa.array(sel)).to_pylist()
            get = self.values.get
            replacements: list[str] = []
            for i, kind, text in zip(sel.tolist(), kinds[sel].tolist(), texts, strict=True):
                result = get(int(kind), text)
                if result is None:
                    bad_pairs[i] = True
                    replacements.append("")
                else:
                    replacements.append(result[0])
                    firsts[i] = result[1]
            json_values = pc.replace_with_mask(json_values, pa.array(cached), pa.array(replacements, pa.string()))
        bad_pairs |= ((kinds == _INT) | (kinds == _FLOAT) | (kinds == _STRING)) & ~has_eq

        if parent.size:  # a key twice in one line: leave it to htslib
            line_key = parent * max(len(key_names), 1) + key_idx
            bad_pairs |= np.bincount(line_key, minlength=n * max(len(key_names), 1))[line_key] > 1
        bad_lines = np.zeros(n, dtype=bool)
        if bad_pairs.any():
            bad_lines[np.unique(parent[bad_pairs])] = True
        ok = ok & ~bad_lines
        good_pairs = ~bad_lines[parent] if parent.size else np.zeros(0, dtype=bool)

        for key, column in (("END", "end"), ("AC", "ac"), ("AN", "an"), ("AF", "af")):
            if key not in key_names:
                continue
            sel = np.flatnonzero((key_idx == key_names.index(key)) & good_pairs)
            if not sel.size:
                continue
            rows = parent[sel]
            if key == "AF":
                out["af"][rows] = np.array([float(firsts[i]) for i in sel.tolist()])
            else:  # a plain integer, or the first of a list
                out[column][rows] = np.array(
                    [firsts[i] if i in firsts else int_values[i] for i in sel.tolist()], dtype=np.int64
                )
                if key == "END":
                    out["has_end"][rows] = True
                else:
                    out[f"has_{column}"][rows] = True

        prefix_of = pa.array([_encode_str(k) + ":" for k in key_names], type=pa.string())
        fragments = pc.binary_join_element_wise(
            prefix_of.take(pa.array(key_idx)) if len(key_names) else pa.array([], pa.string()),
            pc.if_else(pa.array(good_pairs), json_values, pa.scalar("")),
            "",
        )
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), fragments), ",")
        out["json"] = pc.binary_join_element_wise("{", joined, "}", "")
        out["ok"] = ok
        return out

    # ----------------------------------------------------------------- reference blocks

    def _block_fields(
        self, fmt: pa.StringArray | None, sample: pa.StringArray | None, n: int
    ) -> tuple[dict[str, pa.Array], np.ndarray]:
        """GT, GQ, DP and MIN_DP of ``n`` single-sample reference blocks (all null without a sample), and
        which rows parsed: a value that is not ``.`` or plain digits (within int32) is left to htslib."""
        if fmt is None or sample is None:
            return {k: pa.nulls(n, pa.string() if k == "gt" else pa.int32()) for k in _BLOCK_FIELDS}, np.ones(n, bool)
        good = np.ones(n, dtype=bool)
        encoded = pc.dictionary_encode(fmt)
        formats = [f.split(":") for f in encoded.dictionary.to_pylist()]
        which = encoded.indices.to_numpy(zero_copy_only=False)
        parts = pc.split_pattern(sample, ":")
        offsets = parts.offsets.to_numpy()
        counts = np.diff(offsets)
        flat = parts.flatten()
        out: dict[str, pa.Array] = {}
        for key, name in zip(("GT", "GQ", "DP", "MIN_DP"), _BLOCK_FIELDS, strict=True):
            declared = key == "GT" or self.format_types.get(key) in ("Integer", "Float")
            at = np.array([f.index(key) if declared and key in f else -1 for f in formats] or [-1], dtype=np.int64)
            index = at[which]
            present = (index >= 0) & (index < counts)
            values = (
                flat.take(pa.array(np.where(present, offsets[:-1] + index, 0))) if flat else pa.nulls(n, pa.string())
            )
            values = pc.if_else(pa.array(present), values, pa.scalar(None, pa.string()))
            if key == "GT":
                out[name] = values
                continue
            missing = _np(pc.equal(values, "."))
            digits = _np(pc.match_substring_regex(values, r"^[0-9]{1,9}$"))
            good &= ~present | missing | digits
            numbers = pc.if_else(pa.array(digits), values, pa.scalar(None, pa.string()))
            out[name] = pc.cast(numbers, pa.int32())
        return out, good

    # ----------------------------------------------------------------- genotypes

    def _genotypes(
        self,
        buf: np.ndarray,
        fmt: pa.StringArray,
        sample_start: np.ndarray,
        line_end: np.ndarray,
        ok: np.ndarray,
        no_alt: np.ndarray,
    ) -> tuple[CarrierCells | None, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Calls of the lines whose genotypes are one-character diploid GT only, or a single non-carrying sample.

        Returns (the carrier cells of the lines with calls, which lines have calls, the updated fast
        mask, and the missing cells, no-calls and half calls without an ALT such as ``0/.``, as
        (line, sample, GT text code) arrays sorted by line).
        """
        n_smp = self.n_samples
        n = ok.size
        has_calls = np.zeros(n, dtype=bool)
        gt_only = _np(pc.equal(fmt, "GT"))
        width = 4 * n_smp  # "a|b\t" per sample; the last one ends the line
        fixed = ok & gt_only & (line_end - sample_start == width - 1)
        cells = None
        no_call_lines: list[np.ndarray] = []
        no_call_samples: list[np.ndarray] = []
        no_call_codes: list[np.ndarray] = []
        if fixed.any():
            sel = np.flatnonzero(fixed)
            raw = np.empty((sel.size, width), dtype=np.uint8)
            for r, start in enumerate(sample_start[sel].tolist()):  # one copy per line: a line is thousands of bytes
                raw[r, : width - 1] = buf[start : start + width - 1]
            raw[:, -1] = 9
            # A cell is 4 bytes; the reference calls ("0|0\t", "0/0\t") are most of a cohort and need no decoding.
            codes = raw.view("<u4").reshape(-1)
            other = np.flatnonzero((codes != _HOM_REF_PHASED) & (codes != _HOM_REF))
            b = raw.reshape(-1, 4)[other]
            first, second = _ALLELE[b[:, 0]], _ALLELE[b[:, 2]]
            bad = _BAD_SEPARATOR[b[:, 1]] | (b[:, 3] != 9) | (first < -1) | (second < -1)
            line = other // n_smp
            bad_line = np.zeros(sel.size, dtype=bool)
            bad_line[line[bad]] = True
            carrier = (first > 0) | (second > 0)
            with_calls = np.zeros(sel.size, dtype=bool)
            with_calls[line[carrier]] = True
            with_calls &= ~bad_line & ~no_alt[sel]
            fixed[sel[bad_line]] = False
            no_call = np.flatnonzero(((first == -1) | (second == -1)) & ~carrier & ~bad_line[line])
            no_call_lines.append(sel[line[no_call]])
            no_call_samples.append(other[no_call] % n_smp)
            cell = b[no_call].astype(np.int64)
            no_call_codes.append(cell[:, 0] | cell[:, 1] << 8 | cell[:, 2] << 16)
            has_calls[sel[with_calls]] = True
            keep = np.flatnonzero(carrier & with_calls[line])
            call_row = np.cumsum(with_calls) - 1
            cells = CarrierCells(
                line=call_row[line[keep]],
                sample=(other[keep] % n_smp).astype(np.int64),
                first=first[keep],
                second=second[keep],
                phased=b[keep, 1] == 124,
            )
        rest = ok & ~fixed
        if n_smp == 1 and rest.any():
            sel = np.flatnonzero(rest)
            gt_first = _np(pc.match_substring_regex(fmt.take(pa.array(sel)), "^GT(:|$)"))
            non_carrier = gt_first & _reference_or_missing(buf, sample_start[sel], line_end[sel])
            missing = np.flatnonzero(non_carrier & (buf[sample_start[sel]] == 46))  # "./.", ".|.", "."
            no_call_lines.append(sel[missing])
            no_call_samples.append(np.zeros(missing.size, dtype=np.int64))
            start, end = sample_start[sel[missing]], line_end[sel[missing]]
            at = [buf[np.minimum(start + k, buf.size - 1)].astype(np.int64) for k in range(3)]
            haploid = (end - start == 1) | (at[1] == 58)
            no_call_codes.append(np.where(haploid, 46, at[0] | at[1] << 8 | at[2] << 16))
            rest[sel[non_carrier]] = False
        ok = ok & ~rest
        lines_of = np.concatenate(no_call_lines) if no_call_lines else np.zeros(0, np.int64)
        samples_of = np.concatenate(no_call_samples) if no_call_samples else np.zeros(0, np.int64)
        codes_of = np.concatenate(no_call_codes) if no_call_codes else np.zeros(0, np.int64)
        order = np.argsort(lines_of, kind="stable")
        no_calls = (lines_of[order].astype(np.int64), samples_of[order].astype(np.int64), codes_of[order])
        return cells, has_calls, ok, no_calls


_REF_BLOCK_ALLELES = pa.array(sorted(REF_BLOCK_ALLELES))
_BLOCK_FIELDS = ("gt", "gq", "dp", "min_dp")
def gt_texts(codes: np.ndarray) -> pa.Array:
    """GT texts of up to 3 bytes packed in integers (first byte lowest), e.g. ``./.``, ``.``, ``0|.``."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    texts = [
        bytes(b for b in (int(c) & 0xFF, int(c) >> 8 & 0xFF, int(c) >> 16 & 0xFF) if b).decode("ascii", "replace")
        for c in uniq.tolist()
    ]
    return pa.array(texts, pa.string()).take(pa.array(inverse.reshape(-1)))


_ALLELE = np.full(256, -3, dtype=np.int16)
_ALLELE[48:58] = np.arange(10, dtype=np.int16)
_ALLELE[46] = -1  # '.': missing, as cyvcf2's genotype.array() writes it
_HOM_REF_PHASED = int.from_bytes(b"0|0\t", "little")
_HOM_REF = int.from_bytes(b"0/0\t", "little")
_BAD_SEPARATOR = np.ones(256, dtype=bool)
_BAD_SEPARATOR[[47, 124]] = False  # '/' and '|'
