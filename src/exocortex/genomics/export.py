"""The variant store out again: VCF, BCF, Parquet or VCF Zarr (``exocortex vcf export``).

VCF and BCF. One record per stored allele row: the store keeps alleles split and trimmed to their
minimal REF/ALT, so the file is what ``bcftools norm -m-`` makes of the sources, alleles trimmed
(``tests/test_vcf_export.py`` compares the two), less the gVCF reference blocks and ``<NON_REF>``
ALTs, which are no allele rows (the blocks are in ``ref_blocks``: the Parquet export carries them;
the VCF does not write them back as ``<NON_REF>`` records). The header is merged from the sources'
stored headers: ``##contig`` lines in the order first seen (with one added for any chromosome the
headers lack, so a BCF can name it), ``##INFO``, ``##FORMAT``, ``##FILTER`` and ``##ALT``
definitions by ID, the first source's winning. Records are sorted by that contig order, then
position, then store order (a split site keeps its alleles' order). INFO is rebuilt from the row's
``info`` JSON, which holds the split allele's part of ``Number=A/R/G`` values (String and Character
ones whole: their part is taken here). The raw ``ANN``/``EFF``/``CSQ`` strings are not in it (their
parsed entries are, in ``annotations``: the Parquet export carries them) and their definitions are
left out. FORMAT is ``GT`` plus ``GQ``, ``DP`` and ``AD`` (this allele's ``ref,alt`` depths) when a
source header defines them, for every sample of the store:

- a carrier (a ``calls`` row) gets its genotype re-coded for the split allele as ``bcftools
  norm -m-`` does: this allele is 1, REF and every other ALT 0 (``1/2`` is ``1/0`` on the first
  allele's record and ``0/1`` on the second's), phase and ``.`` kept;
- a ``missing_calls`` row gives its GT as written (``./.``, ``.``, ``0/.``); its ``sample = -1``
  row (the record had no GT) makes every sample of the row's file ``.``, as bcftools writes a
  missing GT;
- any other sample of a file that holds the site (the row's own file, or one whose record of the
  same key was merged into it: ``merged_sites``) is hom-ref, ``0/0``, or ``0`` where that
  sample's calls on the chromosome are haploid;
- a sample none of whose files holds the site is ``./.``: those files say nothing about it.

Calls are read from ``calls`` by (vid, sample) whatever file they came from: at a merged site a
row's calls come from several files. One column per sample id (files of the same samples are merged
into one sample); sample names are the stored ones, and a name held by several ids (files ingested
with ``merge=False``) is written as ``NAME_sourceN`` for the later ones (a VCF cannot name a column
twice). The records are written by htslib through cyvcf2 (``Writer.variant_from_string``): text,
BGZF when the name ends ``.gz``, or BCF. Memory: the sort keys (chromosome, position, row id) of the
exported rows are read once; the rows, their calls and no-calls are then read a chunk of
:data:`CHUNK_ROWS` at a time.

Parquet. A folder with one file per table the store has (``variants``, ``calls``, ``samples``,
``sources``, and where present ``annotations``, ``missing_calls``, ``no_calls``, ``ref_blocks``,
``merged_sites``, ``pedigree``: every table of ``schema.TABLES``), every column the store holds
(whatever other columns are added later come along), streamed a record batch at a time in store
order; a region or sample choice keeps the rows that belong to it (:func:`_write_parquet`). A
folder, not one file: the tables have different rows, and readers (DuckDB, Polars, pandas) open
each file or the folder directly.

Zarr. VCF Zarr (the sgkit/VCF Zarr layout) made by bio2zarr (``bio2zarr.vcf.convert``) from a BCF
export in a scratch folder beside the output, indexed first (bio2zarr needs an index for more
than one contig) with htslib's ``bcf_index_build3``, which cyvcf2's extension module carries and
exports: called through ``ctypes``, so no pysam or bcftools at run time. ``verify=True`` then runs
bio2zarr's own check, ``bio2zarr.vcz_verification.verify`` (every record's position, alleles,
ID, genotypes, INFO and FORMAT values against the BCF).

The output is written under a temporary name beside ``output`` and renamed into place at the
end, so an interrupted export leaves no half file under the asked name.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import NoMatchesError, VcfFormatError
from exocortex.genomics.filters import VariantQuery, variant_predicate
from exocortex.genomics.schema import NO_GT_SAMPLE, TABLES, VID_SOURCE_SHIFT
from exocortex.genomics.store import VariantStore

CHUNK_ROWS = 16_384
"""Variant rows read, with their calls, per step of a VCF/BCF export."""
ANNOTATION_FIELDS = frozenset({"ANN", "EFF", "CSQ"})
"""INFO fields whose raw strings the store does not keep (parsed into ``annotations``)."""
EXPORT_FORMAT_FIELDS = ("GQ", "DP", "AD")
"""FORMAT fields written beside GT when a source header defines them."""
_DEFINITIONS = ("INFO", "FORMAT", "FILTER", "ALT", "contig")
_DEFAULT_FORMAT_LINES = {
    "GT": '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    "GQ": '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
    "DP": '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read Depth">',
    "AD": '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles">',
}
_ID = re.compile(r"ID=([^,>]+)")
_IDX = re.compile(r",IDX=\d+")
_GT_SPLIT = re.compile(r"([/|])")
VARIANT_COLUMNS = ["vid", "chrom", "pos", "id", "ref", "alt", "qual", "filter", "info", "allele_index", "n_alts"]
CALL_COLUMNS = ["vid", "sample", "gt", "dp", "gq", "ad_ref", "ad_alt"]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: str
    format: str
    variants: int  # variant (allele) rows written
    samples: int  # sample columns (VCF/BCF/Zarr) or sample rows (Parquet)
    calls: int  # carrier calls written
    seconds: float
    files: tuple[str, ...] = field(default_factory=tuple)  # the files of a Parquet export
    verified: bool = False  # bio2zarr's verify passed (Zarr with verify=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "format": self.format, "variants": self.variants, "samples": self.samples,
            "calls": self.calls, "seconds": round(self.seconds, 3), "files": list(self.files),
            "verified": self.verified,
        }  # fmt: skip


def export_store(
    store_dir: Path,
    output: Path,
    fmt: str,
    *,
    region: str | None = None,
    samples: list[str] | None = None,
    force: bool = False,
    verify: bool = False,
) -> ExportSummary:
    """Write the store (or the variants overlapping ``region``; only ``samples``' columns) to ``output``.

    The arguments are checked by :meth:`exocortex.genomics.variants.Variants.export`; see the
    module docstring for what each format holds.
    """
    started = time.perf_counter()
    store = VariantStore(store_dir)
    predicate = variant_predicate(VariantQuery(region=region)) if region else None
    n_variants = store.table("variants").count_rows(predicate) if store.has("variants") else 0
    if n_variants == 0:
        if region:
            raise NoMatchesError(f"no variants in {region} in the variant store at {store_dir}: nothing exported")
        raise NoMatchesError(f"the variant store at {store_dir} holds no variants: nothing to export")
    chosen = _chosen_samples(store, samples)
    tmp = output.with_name(f".{output.name}.partial-{os.getpid()}")
    _remove(tmp)
    try:
        if fmt == "parquet":
            variants, calls, files = _write_parquet(store, tmp, predicate, chosen)
            n_samples = chosen.num_rows
        elif fmt == "zarr":
            variants, calls, n_samples = _write_zarr(store, tmp, predicate, chosen, verify)
            files = ()
        else:
            variants, calls, n_samples = write_vcf(store, tmp, fmt, predicate, chosen, bgzf=output.name.endswith(".gz"))
            files = ()
        if force:
            _remove(output)
        os.replace(tmp, output)
    finally:
        _remove(tmp)
    files = tuple(str(output / Path(f).name) for f in files)
    return ExportSummary(
        path=str(output), format=fmt, variants=variants, samples=n_samples, calls=calls,
        seconds=time.perf_counter() - started, files=files, verified=fmt == "zarr" and verify,
    )  # fmt: skip


def is_export_folder(path: Path) -> bool:
    """Whether the folder ``path`` holds nothing but an earlier export's files (what ``force`` may replace):
    Parquet files, or a Zarr store's root metadata (``zarr.json`` or ``.zgroup``)."""
    names = {p.name for p in path.iterdir()}
    if "zarr.json" in names or ".zgroup" in names:
        return True
    return bool(names) and all(n.endswith(".parquet") for n in names)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _chosen_samples(store: VariantStore, names: list[str] | None) -> pa.Table:
    """The samples exported (all, or those named, in store order), one per sample id, with the name
    each column gets and its first source (the ``samples`` table has a row per file of a merged sample)."""
    table = store.read("samples", ["sample", "name", "source"])
    if names is not None:
        held = set(table["name"].to_pylist())
        unknown = [n for n in names if n not in held]
        if unknown:
            raise NoMatchesError(f"the variant store holds no sample {', '.join(unknown)}")
        table = table.filter(pc.is_in(table["name"], pa.array(names, pa.string())))
    table = table.group_by(["sample", "name"]).aggregate([("source", "min")]).rename_columns(
        ["sample", "name", "source"]
    )
    table = table.select(["sample", "name", "source"]).sort_by("sample")
    seen: set[str] = set()
    columns = []
    for name, source in zip(table["name"].to_pylist(), table["source"].to_pylist(), strict=True):
        column = name if name not in seen else f"{name}_source{source}"
        seen.add(column)
        columns.append(column)
    return table.append_column("column", pa.array(columns, pa.string()))


# --- VCF / BCF --------------------------------------------------------------------------------


def merged_header(headers: list[str], chroms: list[str], sample_columns: list[str], format_ids: list[str]) -> str:
    """One VCF header from the sources' headers (see the module docstring), naming ``sample_columns``."""
    definitions: dict[tuple[str, str], str] = {}
    contigs: list[str] = []
    for text in headers:
        for raw in text.splitlines():
            line = _IDX.sub("", raw.rstrip("\r"))
            kind = line[2:].split("=", 1)[0] if line.startswith("##") else ""
            if kind not in _DEFINITIONS or not (m := _ID.search(line)):
                continue
            ident = m.group(1)
            if kind == "INFO" and ident in ANNOTATION_FIELDS or kind == "FORMAT" and ident not in format_ids:
                continue
            if (kind, ident) not in definitions:
                definitions[(kind, ident)] = line
                if kind == "contig":
                    contigs.append(ident)
    for ident in format_ids:
        definitions.setdefault(("FORMAT", ident), _DEFAULT_FORMAT_LINES[ident])
    for chrom in chroms:
        if ("contig", chrom) not in definitions:
            definitions[("contig", chrom)] = f"##contig=<ID={chrom}>"
            contigs.append(chrom)
    lines = ["##fileformat=VCFv4.2"]
    for kind in ("FILTER", "INFO", "FORMAT", "ALT"):
        lines += [line for (k, _), line in definitions.items() if k == kind]
    lines += [definitions[("contig", c)] for c in contigs]
    lines.append("##source=exocortex vcf export")
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if sample_columns:
        columns += ["FORMAT", *sample_columns]
    lines.append("\t".join(columns))
    return "\n".join(lines) + "\n"


def contig_order(header: str) -> dict[str, int]:
    """Each ``##contig`` ID of ``header`` to its rank."""
    ids = [m.group(1) for line in header.splitlines() if line.startswith("##contig=") and (m := _ID.search(line))]
    return {c: i for i, c in enumerate(ids)}


def _format_ids(headers: list[str]) -> list[str]:
    """GT, then the :data:`EXPORT_FORMAT_FIELDS` some source header defines; none when no source defines GT
    (the store's calls come from GT: without it there are none, and the export is sites only)."""
    defined = {m.group(1) for text in headers for line in text.splitlines()
               if line.startswith("##FORMAT=") and (m := _ID.search(line))}  # fmt: skip
    if "GT" not in defined:
        return []
    return ["GT", *(f for f in EXPORT_FORMAT_FIELDS if f in defined)]


def _number(value: float) -> str:
    """A float as VCF text: 7 significant digits (float32's), integers without a fraction."""
    if not math.isfinite(value):
        return "."
    short = float(f"{value:.7g}")
    if short == 0 and math.copysign(1.0, short) < 0:
        return "-0"  # as htslib writes it
    return str(int(short)) if short.is_integer() and abs(short) < 1e15 else repr(short)


def info_text(
    info_json: str | None, numbers: dict[str, str] | None = None, allele: int = 1, n_alts: int = 1
) -> str:
    """The INFO column from a row's ``info`` JSON (``.`` when empty).

    ``numbers`` (INFO ID -> ``Number``) with the row's ``allele`` of ``n_alts``: a String or
    Character value of a ``Number=A``/``R`` field is kept whole by the store (cyvcf2 reads it as one
    comma-joined string), so its allele's part is taken here, as ``bcftools norm -m-`` does.
    """
    if not info_json:
        return "."
    info: dict[str, Any] = json.loads(info_json)
    parts = []
    for key, value in info.items():
        if key in ANNOTATION_FIELDS:
            continue
        if n_alts > 1 and numbers and isinstance(value, str) and "," in value:
            value = _allele_part(value, numbers.get(key, "."), allele, n_alts)
        if value is True:
            parts.append(key)
        elif value is False:
            continue
        elif value is None:
            parts.append(f"{key}=.")
        elif isinstance(value, list):
            parts.append(f"{key}=" + ",".join(_value(v) for v in value))
        else:
            parts.append(f"{key}={_value(value)}")
    return ";".join(parts) if parts else "."


def _allele_part(value: str, number: str, allele: int, n_alts: int) -> str:
    """The part of a comma-joined ``Number=A``/``R`` string that belongs to ALT ``allele`` (1-based)."""
    items = value.split(",")
    if number == "A" and len(items) == n_alts:
        return items[allele - 1]
    if number == "R" and len(items) == n_alts + 1:
        return f"{items[0]},{items[allele]}"
    return value


def info_numbers(header: str) -> dict[str, str]:
    """Each ``##INFO`` ID of ``header`` to its ``Number``."""
    numbers = {}
    for line in header.splitlines():
        if line.startswith("##INFO=") and (m := _ID.search(line)):
            n = re.search(r"Number=([^,>]+)", line)
            numbers[m.group(1)] = n.group(1) if n else "."
    return numbers


def _value(value: Any) -> str:
    if value is None:
        return "."
    if isinstance(value, float):  # stored already rounded to float32's digits: written as stored
        if value == 0 and math.copysign(1.0, value) < 0:
            return "-0"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class GenotypeCoder:
    """A stored genotype re-coded for one split allele, as ``bcftools norm -m-`` writes it (cached)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int], str] = {}

    def __call__(self, gt: str, allele: int) -> str:
        key = (gt, allele)
        text = self.cache.get(key)
        if text is None:
            parts = _GT_SPLIT.split(gt)
            for i in range(0, len(parts), 2):
                a = parts[i]
                if a != ".":
                    parts[i] = "1" if a.isdigit() and int(a) == allele else "0"
            text = self.cache[key] = "".join(parts)
        return text


def _vid_ranges(vids: np.ndarray) -> str:
    """A predicate on ``vid`` covering ``vids``: one range per source."""
    sources = vids >> VID_SOURCE_SHIFT
    parts = []
    for s in np.unique(sources):
        own = vids[sources == s]
        parts.append(f"(vid >= {int(own.min())} AND vid <= {int(own.max())})")
    return " OR ".join(parts)


def _rows_for(
    store: VariantStore, name: str, columns: list[str], vids: np.ndarray, samples: pa.Array | None
) -> pa.Table:
    """Rows of ``name`` (a table with ``vid``) for ``vids`` and, where it has a ``sample`` column, the
    exported ``samples`` (and :data:`NO_GT_SAMPLE`, the row of a record without GT)."""
    table = store.table(name)
    wanted = [c for c in columns if c in table.schema.names]
    rows = table.scan(wanted, _vid_ranges(vids))
    keep = pc.is_in(rows["vid"], pa.array(vids))
    if samples is not None and "sample" in rows.column_names:
        keep = pc.and_(keep, pc.is_in(rows["sample"], _with_no_gt(samples)))
    return rows.filter(keep)


def _with_no_gt(samples: pa.Array) -> pa.Array:
    return pa.concat_arrays([samples.cast(pa.int32()), pa.array([NO_GT_SAMPLE], pa.int32())])


def _sample_sources(store: VariantStore, chosen: pa.Table) -> list[frozenset[int]]:
    """Per exported column: the sources (files) its sample comes from (several for a merged sample)."""
    rows = store.read("samples", ["sample", "source"])
    of: dict[int, set[int]] = {}
    for sample, source in zip(rows["sample"].to_pylist(), rows["source"].to_pylist(), strict=True):
        of.setdefault(int(sample), set()).add(int(source))
    return [frozenset(of.get(int(s), ())) for s in chosen["sample"].to_pylist()]


def _haploid(store: VariantStore, chosen: pa.Table) -> set[tuple[int, str]]:
    """(sample, chrom) pairs whose calls are haploid: their non-carriers are written ``0``, not ``0/0``."""
    if not store.has("calls"):
        return set()
    calls = store.table("calls")
    if "ploidy" not in calls.schema.names or calls.count_rows("ploidy = 1") == 0:
        return set()
    haploid = calls.scan(["vid", "sample"], "ploidy = 1")
    haploid = haploid.filter(pc.is_in(haploid["sample"], chosen["sample"]))
    vids = pc.unique(haploid["vid"])
    chroms = store.table("variants").scan(["vid", "chrom"], _vid_ranges(vids.to_numpy()))
    joined = haploid.join(chroms, "vid")
    pairs = joined.group_by(["sample", "chrom"]).aggregate([])
    return set(zip(pairs["sample"].to_pylist(), pairs["chrom"].to_pylist(), strict=True))


def _sort_keys(store: VariantStore, predicate: str | None) -> tuple[pa.Table, list[str]]:
    """Row ids of the exported variants in store order, with chromosome and position; the chromosomes."""
    keys = store.table("variants").scan(["vid", "chrom", "pos"], predicate, row_id=True)
    chroms = pc.unique(keys["chrom"]).to_pylist()
    return keys, [c for c in chroms if c is not None]


def _ordered(keys: pa.Table, ranks: dict[str, int]) -> np.ndarray:
    """Indexes of ``keys`` by contig rank, position, vid."""
    chrom = keys["chrom"].combine_chunks().dictionary_encode()
    rank_of = np.array([ranks.get(c, len(ranks)) for c in chrom.dictionary.to_pylist()], dtype=np.int64)
    rank = rank_of[chrom.indices.to_numpy(zero_copy_only=False)] if len(rank_of) else np.zeros(0, np.int64)
    return np.lexsort((keys["vid"].to_numpy(), keys["pos"].to_numpy(), rank))


CACHE_ENTRIES = 1 << 16
"""Distinct INFO (and QUAL) values whose VCF text an export keeps for the next row with the same value."""


def _cached(cache: dict[Any, str], key: Any, make: Any) -> str:
    text: str = make(key)
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[key] = text
    return text


def _cyvcf2_mode(fmt: str, bgzf: bool) -> str:
    return "wb" if fmt == "bcf" else "wz" if bgzf else "w"


def write_vcf(
    store: VariantStore, path: Path, fmt: str, predicate: str | None, chosen: pa.Table, *, bgzf: bool
) -> tuple[int, int, int]:
    """Write the VCF (``fmt`` ``vcf``; BGZF with ``bgzf``) or BCF of the exported rows; (records, carrier
    calls, sample columns)."""
    from cyvcf2 import Writer

    from exocortex.genomics.reader import apply_htslib_level

    sources = store.read("sources", ["source", "header"]).sort_by("source")
    headers = [h or "" for h in sources["header"].to_pylist()]
    keys, chroms = _sort_keys(store, predicate)
    format_ids = _format_ids(headers) if chosen.num_rows else []
    if not format_ids:
        chosen = chosen.slice(0, 0)
    header = merged_header(headers, chroms, chosen["column"].to_pylist(), format_ids)
    order = _ordered(keys, contig_order(header))
    row_ids = keys["_rowid"].to_numpy()[order]
    sorted_vids = keys["vid"].to_numpy()[order]
    del keys, order

    sample_ids = chosen["sample"].to_numpy()
    sources_of = _sample_sources(store, chosen) if chosen.num_rows else []
    column_of = {int(s): i for i, s in enumerate(sample_ids)}
    haploid = _haploid(store, chosen) if chosen.num_rows else set()
    has_calls = store.has("calls") and chosen.num_rows > 0
    has_missing = store.has("missing_calls") and chosen.num_rows > 0
    has_merged = store.has("merged_sites") and chosen.num_rows > 0
    empty = ":".join("." for _ in format_ids[1:])
    tail = ":" + empty if empty else ""
    defaults: dict[tuple[frozenset[int], str], list[str]] = {}
    columns_of_source: dict[int, list[int]] = {}

    def default(holders: frozenset[int], chrom: str) -> list[str]:
        """Every column's text at a site the files ``holders`` hold on ``chrom``, before its calls are put
        in: hom-ref for a sample of one of those files, ``./.`` for a sample no file of which holds it."""
        got = defaults.get((holders, chrom))
        if got is None:
            got = []
            for s, srcs in zip(sample_ids.tolist(), sources_of, strict=True):
                if srcs.isdisjoint(holders):
                    got.append("./." + tail)
                else:
                    got.append(("0" if (s, chrom) in haploid else "0/0") + tail)
            defaults[(holders, chrom)] = got
        return got

    def columns_of(source: int) -> list[int]:
        """The columns whose sample comes from ``source`` (what a record without GT speaks for)."""
        got = columns_of_source.get(source)
        if got is None:
            got = columns_of_source[source] = [i for i, srcs in enumerate(sources_of) if source in srcs]
        return got

    unknown = "." + tail  # a record without GT: GT missing, as bcftools writes it (no ploidy known)

    recode = GenotypeCoder()
    # INFO and QUAL texts repeat (gVCF blocks, a cohort's common values): each is made once per value
    infos: dict[Any, str] = {}
    quals: dict[float | None, str] = {None: "."}
    numbers = info_numbers(header)

    def info_of(info: str | None, allele: int, n_alts: int) -> str:
        key = info if n_alts == 1 else (info, allele, n_alts)
        text = infos.get(key)
        if text is None:
            text = _cached(infos, key, lambda _: info_text(info, numbers, allele, n_alts))
        return text

    apply_htslib_level()
    writer = Writer.from_string(str(path), header, _cyvcf2_mode(fmt, bgzf))
    table = store.table("variants")
    samples_arr = pa.array(sample_ids, pa.int32())
    n_calls = 0
    written = 0
    try:
        for start in range(0, len(row_ids), CHUNK_ROWS):
            part = row_ids[start : start + CHUNK_ROWS]
            rows = table.take(pa.array(part, pa.uint64()), columns=VARIANT_COLUMNS)
            # take's order is not promised: put the rows back in the sorted order, by vid
            position = {v: i for i, v in enumerate(sorted_vids[start : start + CHUNK_ROWS].tolist())}
            rows = rows.take(pa.array(np.argsort([position[v] for v in rows["vid"].to_pylist()])))
            vids = rows["vid"].to_numpy()
            # per vid: (sample, text): "\x00" + GT a no-call or half call of missing_calls (empty when
            # its record had no GT), else GT "\x00" FORMAT text of a carrier; applied in that order
            by_vid: dict[int, list[tuple[int, str]]] = {}
            no_gt: set[int] = set()
            holders: dict[int, set[int]] = {}
            if has_merged:
                merged = _rows_for(store, "merged_sites", ["vid", "source"], vids, None)
                for vid, source in zip(merged["vid"].to_pylist(), merged["source"].to_pylist(), strict=True):
                    holders.setdefault(vid, set()).add(source)
            if has_missing:
                missing = _rows_for(store, "missing_calls", ["vid", "sample", "gt"], vids, samples_arr)
                for vid, sample, gt in zip(*(missing[c].to_pylist() for c in ("vid", "sample", "gt")), strict=True):
                    if sample == NO_GT_SAMPLE:
                        no_gt.add(vid)
                    else:
                        by_vid.setdefault(vid, []).append((sample, "\x00" + (gt or "")))
            if has_calls:
                calls = _rows_for(store, "calls", CALL_COLUMNS, vids, samples_arr)
                n_calls += calls.num_rows
                columns = {c: calls[c].to_pylist() if c in calls.column_names else [None] * calls.num_rows
                           for c in CALL_COLUMNS}  # fmt: skip
                for k, (vid, sample, gt) in enumerate(
                    zip(columns["vid"], columns["sample"], columns["gt"], strict=True)
                ):
                    values = {"GQ": columns["gq"][k], "DP": columns["dp"][k]}
                    ad_ref, ad_alt = columns["ad_ref"][k], columns["ad_alt"][k]
                    values["AD"] = None if ad_ref is None or ad_alt is None else f"{ad_ref},{ad_alt}"
                    text = "".join(":" + ("." if values[f] is None else str(values[f])) for f in format_ids[1:])
                    by_vid.setdefault(vid, []).append((sample, gt + "\x00" + text))
            for vid, chrom, pos, ident, ref, alt, qual, filt, info, allele, n_alts in zip(
                *(rows[c].to_pylist() for c in VARIANT_COLUMNS), strict=True
            ):
                fields = [
                    chrom, str(pos), ident or ".", ref, alt or ".", quals.get(qual) or _cached(quals, qual, _number),
                    filt or ".", info_of(info, allele or 1, n_alts or 1),
                ]  # fmt: skip
                if chosen.num_rows:
                    source = vid >> VID_SOURCE_SHIFT
                    merged_in = holders.get(vid)
                    cells = default(frozenset({source, *merged_in}) if merged_in else frozenset((source,)), chrom)
                    own = by_vid.get(vid)
                    if own or vid in no_gt:
                        cells = list(cells)
                        if vid in no_gt:  # the row's own file had no GT there: its samples unknown
                            for i in columns_of(source):
                                cells[i] = unknown
                        for sample, value in own or ():
                            i = column_of[sample]
                            gt, text = value.split("\x00", 1)
                            if not gt:  # missing_calls: a no-call or half call as written, else unknown
                                cells[i] = recode(text, allele or 1) + tail if text else unknown
                            else:
                                cells[i] = recode(gt, allele or 1) + text
                    fields.append(":".join(format_ids))
                    fields.extend(cells)
                line = "\t".join(fields)
                try:
                    writer.write_record(writer.variant_from_string(line))
                except Exception as exc:
                    raise VcfFormatError(f"htslib refused the exported record {line[:120]!r} ({exc})") from None
                written += 1
    finally:
        writer.close()
    return written, n_calls, chosen.num_rows


# --- Parquet ------------------------------------------------------------------------------------


def _write_parquet(
    store: VariantStore, folder: Path, predicate: str | None, chosen: pa.Table
) -> tuple[int, int, tuple[str, ...]]:
    """One Parquet file per table the store has in ``folder``, streamed; (variant rows, call rows, the files).

    The rows kept: ``variants`` (those of ``predicate``); the tables keyed by ``vid`` (:data:`VID_TABLES`)
    for those variants; ``ref_blocks`` over the region; of the tables with a ``sample`` column, the
    exported samples' rows (and the ``sample = -1`` rows of records without GT; a sites-only file's
    reference blocks, ``sample`` null); ``pedigree``, the exported samples' rows; ``sources`` whole.
    """
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    samples = _with_no_gt(pa.array(chosen["sample"].to_numpy(), pa.int32()))
    names = pa.array(chosen["name"].to_pylist(), pa.string())
    files: list[str] = []
    counts = {"variants": 0, "calls": 0}

    @contextlib.contextmanager
    def parquet(name: str, schema: pa.Schema) -> Iterator[Any]:
        path = folder / f"{name}.parquet"
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            yield writer
        files.append(str(path))

    def own_samples(name: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        if "sample" in batch.schema.names:
            column = batch.column(batch.schema.get_field_index("sample"))
            return batch.filter(pc.or_kleene(pc.is_in(column, samples), pc.is_null(column)))
        if name == "pedigree":
            return batch.filter(pc.is_in(batch.column(batch.schema.get_field_index("name")), names))
        return batch

    def write(name: str, rows: pa.Table | pa.RecordBatch) -> None:
        out[name].write_table(rows) if isinstance(rows, pa.Table) else out[name].write_batch(rows)
        counts["calls"] += rows.num_rows if name == "calls" else 0

    present = [n for n in TABLES if store.has(n)]
    linked = [n for n in present if n in VID_TABLES]
    writers = contextlib.ExitStack()
    with writers:
        out = {n: writers.enter_context(parquet(n, store.table(n).schema)) for n in present}
        for batch in store.table("variants").batches(where=predicate):
            if batch.num_rows == 0:
                continue
            write("variants", batch)
            counts["variants"] += batch.num_rows
            if predicate is None:
                continue
            vids = batch.column(batch.schema.get_field_index("vid")).to_numpy()
            for name in linked:
                write(name, _rows_for(store, name, store.table(name).schema.names, vids, samples))
        for name in present:
            if name == "variants" or (name in linked and predicate is not None):
                continue
            where = predicate if name == "ref_blocks" else None  # blocks have chrom_norm, pos and end too
            for batch in store.table(name).batches(where=where):
                write(name, own_samples(name, batch))
    return counts["variants"], counts["calls"], tuple(files)


VID_TABLES = frozenset({"calls", "missing_calls", "annotations", "merged_sites"})
"""The tables whose rows belong to a variant row (by ``vid``): a region's export keeps those of its rows."""


# --- Zarr ---------------------------------------------------------------------------------------


def build_index(path: Path) -> Path:
    """A CSI index beside a BCF (or BGZF VCF) through htslib's ``bcf_index_build3`` in cyvcf2's module."""
    import ctypes

    from cyvcf2 import cyvcf2

    lib = ctypes.CDLL(cyvcf2.__file__)
    build = lib.bcf_index_build3
    build.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    build.restype = ctypes.c_int
    index = path.with_name(path.name + ".csi")
    code = build(os.fsencode(path), os.fsencode(index), 14, 1)  # min_shift 14: CSI, htslib's default
    if code != 0:
        raise VcfFormatError(f"htslib could not index {path} (bcf_index_build3 returned {code})")
    return index


def _write_zarr(
    store: VariantStore, out: Path, predicate: str | None, chosen: pa.Table, verify: bool
) -> tuple[int, int, int]:
    """VCF Zarr at ``out`` through bio2zarr from an indexed BCF export; (records, carrier calls, samples)."""
    from bio2zarr import vcf as b2z

    scratch = out.with_name(out.name + ".scratch")
    _remove(scratch)
    scratch.mkdir(parents=True)
    try:
        bcf = scratch / "export.bcf"
        records, calls, n_samples = write_vcf(store, bcf, "bcf", predicate, chosen, bgzf=False)
        build_index(bcf)
        b2z.convert([str(bcf)], str(out), worker_processes=0, icf_path=str(scratch / "icf"))
        if verify:
            from bio2zarr.vcz_verification import verify as vcz_verify

            try:
                vcz_verify(str(bcf), str(out))
            except AssertionError as exc:
                raise VcfFormatError(f"bio2zarr's verify found the Zarr store differs from the export: {exc}") from None
    finally:
        _remove(scratch)
    return records, calls, n_samples
