"""The variant store's tables: what one row of each means, as Arrow schemas.

One row per ALT allele (``variants``): a multiallelic site ``A -> C,T`` becomes two rows with
``allele_index`` 1 and 2, so every filter (type, frequency, consequence) is about one allele.
Genotypes (``calls``) are kept only where a sample carries the allele: a 1,000-sample cohort
does not store 1,000 rows of ``0/0`` per site, and "which samples carry X" is a lookup.

Keys:

- ``vid``: int64, unique in the store: ``source << 40 | allele_row``, where ``allele_row`` counts
  the source file's allele rows from 0 in file order. Deterministic, so a resumed ingest gives
  the same ids.
- ``key``: ``"<chrom_norm>:<pos>:<ref>:<alt>"``, what an agent sees and can ask for again.
- ``chrom_norm``: the chromosome without a ``chr`` prefix, ``MT`` for ``M``/``MT``/``chrM``, so
  ``chr1`` and ``1`` match. ``chrom`` keeps the file's spelling.
"""

from __future__ import annotations

import math

import pyarrow as pa

SCHEMA_VERSION = 2
"""2: per-entry ``annotations`` table, clinical and population columns (issue 17)."""

VARIANT_TYPES = ("SNV", "MNV", "insertion", "deletion", "indel", "symbolic", "breakend", "no_alt")
IMPACTS = ("HIGH", "MODERATE", "LOW", "MODIFIER")
ZYGOSITIES = ("het", "hom_alt", "hemi", "het_alt")
"""Of a sample's call relative to one ALT allele: ``het`` (the allele and REF), ``hom_alt`` (the
allele on every copy), ``hemi`` (haploid, the allele), ``het_alt`` (the allele and another ALT)."""

VARIANTS = pa.schema(
    [
        ("vid", pa.int64()),
        ("key", pa.string()),
        ("source", pa.int32()),
        ("record", pa.int64()),  # 0-based index of the record in its file
        ("line", pa.int64()),  # 1-based line number in a text VCF; null for BCF
        ("chrom", pa.string()),
        ("chrom_norm", pa.string()),
        ("pos", pa.int64()),  # 1-based, as in the file
        ("end", pa.int64()),  # 1-based inclusive: INFO/END when given, else pos + len(ref) - 1
        ("ref", pa.string()),
        ("alt", pa.string()),
        ("allele_index", pa.int16()),  # 1-based index of this ALT in the record
        ("n_alts", pa.int16()),
        ("vtype", pa.string()),  # one of VARIANT_TYPES
        ("length", pa.int64()),  # len(alt) - len(ref) for sequence alleles, SVLEN for symbolic; 0 for SNV
        ("id", pa.string()),  # the ID column, null when "."
        ("rsid", pa.string()),  # the first rs identifier in ID, e.g. "rs6054257"
        ("qual", pa.float32()),
        ("filter", pa.string()),  # "PASS", or the failed filters joined by ";", null when "."
        ("ac", pa.int64()),  # INFO/AC for this allele, when present
        ("an", pa.int64()),
        ("af", pa.float64()),  # INFO/AF for this allele, else AC/AN, else null
        ("info", pa.string()),  # JSON object of every INFO field, typed from the header, per allele
        # the summary: the most severe annotation entry of this allele (annotations.most_severe)
        ("gene", pa.string()),
        ("consequence", pa.string()),  # that entry's most severe term
        ("impact", pa.string()),  # that entry's impact, one of IMPACTS
        ("transcript", pa.string()),
        ("hgvs_c", pa.string()),
        ("hgvs_p", pa.string()),
        # any entry: one filter alone is exact on these; several go to the annotations table
        ("genes", pa.list_(pa.string())),  # every gene any entry names
        ("consequences", pa.list_(pa.string())),  # every consequence term
        ("impacts", pa.list_(pa.string())),  # every entry's impact
        ("lof", pa.bool_()),  # some entry is loss-of-function (annotations.is_lof)
        ("clnsig", pa.string()),  # ClinVar CLNSIG (numeric codes decoded), else VEP's CLIN_SIG terms
        ("clinvar_stars", pa.int8()),  # ClinVar review status as 0-4 stars (CLNREVSTAT)
        ("clnrevstat", pa.string()),
        ("pop_af", pa.float64()),  # reference-population allele frequency (genomics.clinical)
        ("pop_af_source", pa.string()),  # the field it came from, e.g. "CSQ:MAX_AF", "INFO:ExAC_AF"
        ("n_carriers", pa.int32()),  # samples whose call carries this allele
        ("batch", pa.int64()),  # the ingest batch that wrote the row
    ]
)

CALLS = pa.schema(
    [
        ("vid", pa.int64()),
        ("sample", pa.int32()),  # samples.sample
        ("gt", pa.string()),  # as written, e.g. "0/1", "1|1", "1"
        ("zygosity", pa.string()),  # one of ZYGOSITIES
        ("phased", pa.bool_()),
        ("ploidy", pa.int8()),
        ("dp", pa.int32()),
        ("gq", pa.int32()),
        ("ad_ref", pa.int32()),
        ("ad_alt", pa.int32()),  # AD of this allele
        ("batch", pa.int64()),
    ]
)

SAMPLES = pa.schema(
    [
        ("sample", pa.int32()),  # one id per name: a name in several files has a row per file, one id
        ("name", pa.string()),
        ("source", pa.int32()),
        ("column", pa.int32()),  # 0-based sample column in its file
    ]
)

SOURCES = pa.schema(
    [
        ("source", pa.int32()),
        ("path", pa.string()),
        ("sha256", pa.string()),  # of the file's bytes: a second ingest of the same content is refused
        ("format", pa.string()),  # "vcf", "vcf.gz", "bcf"
        ("header", pa.string()),  # verbatim
        ("n_samples", pa.int32()),
        ("records", pa.int64()),
        ("alleles", pa.int64()),
        ("calls", pa.int64()),
        ("rejected", pa.int64()),
        ("ingested_at", pa.float64()),
        ("reference", pa.string()),  # the --fasta indels were left-aligned on: JSON name/size/index sha256; else null
    ]
)

ANNOTATIONS = pa.schema(
    [
        ("vid", pa.int64()),
        ("entry", pa.int32()),  # 0-based order of the entry among its allele's
        ("source", pa.string()),  # "CSQ" (VEP), "ANN"/"EFF" (snpEff), "ClinVar" (GENEINFO/MC)
        ("allele", pa.string()),  # the allele as the annotator wrote it (VEP trims: "-" for a deletion)
        ("gene", pa.string()),
        ("gene_id", pa.string()),
        ("transcript", pa.string()),
        ("biotype", pa.string()),
        ("consequence", pa.string()),  # the entry's most severe term
        ("consequences", pa.list_(pa.string())),
        ("impact", pa.string()),  # one of IMPACTS
        ("hgvs_c", pa.string()),
        ("hgvs_p", pa.string()),
        ("canonical", pa.bool_()),  # VEP CANONICAL=YES
        ("mane", pa.string()),  # VEP MANE_SELECT transcript
        ("lof", pa.string()),  # why: LOFTEE "HC"/"LC", "snpEff", "consequence"
        ("is_lof", pa.bool_()),
        ("nmd", pa.bool_()),  # snpEff NMD
        ("clin_sig", pa.string()),  # VEP CLIN_SIG or ClinVar CLNSIG
        ("batch", pa.int64()),
    ]
)
"""One row per (allele, annotation entry): what ``--gene X --impact HIGH`` must find on one entry."""

NO_CALLS = pa.schema(
    [
        ("sample", pa.int32()),
        ("source", pa.int32()),
        ("batch", pa.int64()),
        ("no_calls", pa.int64()),  # records of this batch where the sample's GT is missing (./. or .)
    ]
)
"""Per ingest batch and sample with any: the no-calls, which ``calls`` (carriers only) cannot show.
Absent from stores written before it existed: their missingness is unknown. The row with
``sample = -1`` (:data:`NO_GT_SAMPLE`) counts the batch's records that have no GT at all (a file
with PL but no GT): every sample's genotype there is unknown, not missing, and those records are
left out of missingness."""

NO_GT_SAMPLE = -1
"""``sample`` of the ``no_calls`` and ``missing_calls`` rows about a record without GT (all samples)."""

MISSING_CALLS = pa.schema(
    [
        ("vid", pa.int64()),
        ("sample", pa.int32()),  # samples.sample; NO_GT_SAMPLE: the record has no GT for any sample
        ("gt", pa.string()),  # as written: "./.", ".", ".|." (a no-call) or "0/." (half called, no ALT)
        ("batch", pa.int64()),
    ]
)
"""Per allele row, the samples that are neither carriers (``calls``) nor called reference: GT with no
called allele, or a half call without an ALT (``0/.``). A sample of the row's file with no row here
or in ``calls`` is hom-ref there. Half calls with an ALT (``./1``) are carriers, in ``calls``."""

MERGED_SITES = pa.schema(
    [
        ("vid", pa.int64()),  # the existing row (of another file) that this file's record was merged into
        ("source", pa.int32()),  # the file whose record it was
        ("record", pa.int64()),  # 0-based index of the record in that file
        ("batch", pa.int64()),
    ]
)
"""Per allele row of a file whose key the store already held (``genomics/merge.py``): its calls went to
the existing row; this row says the file holds the site too (its samples there are called, not absent)."""

PEDIGREE = pa.schema(
    [
        ("family", pa.string()),
        ("name", pa.string()),  # samples.name (a sample of any file of that name)
        ("father", pa.string()),  # a name, null when unknown ("0" in the PED file); may be unsequenced
        ("mother", pa.string()),
        ("sex", pa.int8()),  # 0 unknown, 1 male, 2 female
        ("phenotype", pa.int8()),  # 0 unknown (0 or -9 in the file), 1 unaffected, 2 affected
    ]
)
"""A PED file's rows of the samples the store holds (``vcf samples --ped``), replaced whole each time."""

REF_BLOCKS = pa.schema(
    [
        ("source", pa.int32()),
        ("record", pa.int64()),  # 0-based index of the record in its file
        ("sample", pa.int32()),  # samples.sample; null in a file without samples
        ("chrom", pa.string()),
        ("chrom_norm", pa.string()),
        ("pos", pa.int64()),  # 1-based, as in the file
        ("end", pa.int64()),  # 1-based inclusive: INFO/END, else pos + len(ref) - 1
        ("gt", pa.string()),  # as written, e.g. "0/0", "./."
        ("gq", pa.int32()),
        ("dp", pa.int32()),
        ("min_dp", pa.int32()),  # FORMAT/MIN_DP (GATK), the block's smallest depth
        ("batch", pa.int64()),
    ]
)
"""gVCF reference blocks: records whose only ALTs are ``<NON_REF>``/``<*>``, one row per sample.
They say "this sample was (or was not) confidently reference over [pos, end]"; they are not variants,
so they are kept out of ``variants`` (never counted, packed or typed as alleles)."""

TABLES: dict[str, pa.Schema] = {
    "variants": VARIANTS,
    "calls": CALLS,
    "samples": SAMPLES,
    "sources": SOURCES,
    "no_calls": NO_CALLS,
    "annotations": ANNOTATIONS,
    "ref_blocks": REF_BLOCKS,
    "missing_calls": MISSING_CALLS,
    "pedigree": PEDIGREE,
    "merged_sites": MERGED_SITES,
}
REF_BLOCK_ALLELES = frozenset({"<NON_REF>", "<*>"})
"""The gVCF "any other allele" symbols: a record with only these ALTs is a reference block, and at
a variant site they are not allele rows."""

VID_SOURCE_SHIFT = 40


def make_vid(source: int, allele_row: int) -> int:
    return (source << VID_SOURCE_SHIFT) | allele_row


def normalize_chrom(chrom: str) -> str:
    """``chr1`` -> ``1``, ``chrX`` -> ``X``, ``chrM``/``M``/``MT`` -> ``MT``; anything else unchanged."""
    name = chrom[3:] if chrom[:3].lower() == "chr" else chrom
    if name.upper() in ("M", "MT"):
        return "MT"
    return name.upper() if name.lower() in ("x", "y") else name


def variant_type(ref: str, alt: str | None) -> str:
    """One of :data:`VARIANT_TYPES` for ``ref -> alt``."""
    if alt is None or alt == ".":
        return "no_alt"
    if alt.startswith("<") or alt == "*":
        return "symbolic"
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "breakend"
    lr, la = len(ref), len(alt)
    if lr == la:
        return "SNV" if lr == 1 else "MNV"
    if la > lr and alt.startswith(ref):
        return "insertion"
    if lr > la and ref.startswith(alt):
        return "deletion"
    return "indel"


def info_float(value: float) -> float | None:
    """A Float INFO value as stored: None for NaN/infinity, else 7 significant digits (htslib keeps
    float32, so ``0.3`` arrives as 0.30000001192...; this gives 0.3 back)."""
    if math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.7g}")
