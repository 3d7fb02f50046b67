"""Summary figures of the committed variant store, computed in streaming Arrow batches.

``variant_stats(store_dir)`` reads only the columns each figure needs, one batch at a time
(``BATCH_ROWS`` rows), so a 5M-allele store never sits in memory whole:

- ``by_type``, ``by_chrom`` (natural chromosome order), ``by_impact``, ``by_filter`` (PASS,
  failed, missing): allele counts;
- ``ti``, ``tv``, ``ti_tv``: transitions (A<->G, C<->T) and transversions over single-base
  alleles whose REF and ALT are both one of A, C, G, T;
- ``samples``: per sample, how many alleles it carries as ``het``, ``hom_alt``, ``hemi`` and
  ``het_alt`` (from ``calls``);
- ``field_missing``: per annotation field, the fraction of alleles where it is null;
- ``ref_blocks``: gVCF reference blocks stored (their own table: never counted as variants);
- ``incomplete``: files whose ingest was interrupted (a kill, a crash): the figures count what
  they had committed, and a note says how to finish them (``vcf ingest --resume FILE``);
- ``genotype_missingness``: per sample, the share of its file's stored records where its GT is a
  no-call (``./.`` or ``.``; a half call such as ``0/.`` counts as called, as in cyvcf2's
  ``gt_types``). ``calls`` keeps carriers only, so the ingest counts no-calls per batch into
  the ``no_calls`` table; stores written before that table existed report None and a note.
  Records without a GT field (a file with PL but no GT) are left out of the share: a sample
  there is not missing, its genotype is unknown. A sample whose file has no GT at all gets
  None and ``"no_gt": true``, never "100% missing".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.query import chrom_order
from exocortex.genomics.schema import NO_GT_SAMPLE, ZYGOSITIES
from exocortex.genomics.store import VariantStore

BATCH_ROWS = 65_536
TRANSITIONS = ("AG", "GA", "CT", "TC")
TRANSVERSIONS = ("AC", "CA", "AT", "TA", "GC", "CG", "GT", "TG")
MISSING_FIELDS = ("af", "qual", "filter", "rsid", "gene", "consequence", "impact", "clnsig")
GENOTYPE_MISSINGNESS_NOTE = (
    "unknown: this store was written before the ingest counted no-calls (no `no_calls` table); re-ingest to get it"
)


@dataclass
class VariantStats:
    variants: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_chrom: dict[str, int] = field(default_factory=dict)
    by_impact: dict[str, int] = field(default_factory=dict)
    by_filter: dict[str, int] = field(default_factory=dict)
    ti: int = 0
    tv: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    field_missing: dict[str, float] = field(default_factory=dict)
    genotype_missingness: dict[str, float] | None = None
    ref_blocks: int = 0
    """gVCF reference block rows (``ref_blocks``): not variants, so in none of the figures above."""
    notes: list[str] = field(default_factory=list)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    """Files whose ingest was interrupted (counted here as far as they were committed): see
    :meth:`VariantStore.incomplete_ingests`; each also gives a line in ``notes``."""

    @property
    def ti_tv(self) -> float | None:
        return self.ti / self.tv if self.tv else None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["ti_tv"] = self.ti_tv
        return data


def iter_batches(
    store: VariantStore, name: str, columns: list[str], batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The committed rows of ``name``, only ``columns``, in batches."""
    if not store.has(name):
        return
    yield from store.table(name).batches(columns, batch_rows=batch_rows)


def _count(counter: Counter[str], values: pa.Array, null_label: str = "(none)") -> None:
    for item in pc.value_counts(values).to_pylist():
        key = item["values"]
        counter[null_label if key is None else str(key)] += int(item["counts"])


def variant_stats(store_dir: str | Path, batch_rows: int = BATCH_ROWS) -> VariantStats:
    """Counts by type, chromosome, impact and filter; Ti/Tv; per-sample zygosity counts; missingness."""
    store = VariantStore(store_dir)
    store.table("variants")  # IndexNotFoundError when nothing was ingested
    by_type: Counter[str] = Counter()
    by_chrom: Counter[str] = Counter()
    by_impact: Counter[str] = Counter()
    by_filter: Counter[str] = Counter()
    nulls: Counter[str] = Counter()
    stats = VariantStats()
    columns = ["vtype", "chrom_norm", "ref", "alt", *MISSING_FIELDS]
    for batch in iter_batches(store, "variants", columns, batch_rows):
        stats.variants += batch.num_rows
        _count(by_type, batch.column("vtype"))
        _count(by_chrom, batch.column("chrom_norm"))
        _count(by_impact, batch.column("impact"))
        flt = batch.column("filter")
        is_pass = pc.equal(flt, "PASS")
        by_filter["PASS"] += int(pc.sum(is_pass).as_py() or 0)
        by_filter["missing"] += flt.null_count
        by_filter["failed"] += int(pc.sum(pc.invert(is_pass)).as_py() or 0)
        for name in MISSING_FIELDS:
            nulls[name] += batch.column(name).null_count
        ref, alt = pc.utf8_upper(batch.column("ref")), pc.utf8_upper(batch.column("alt"))
        single = pc.and_(pc.equal(pc.utf8_length(ref), 1), pc.equal(pc.utf8_length(alt), 1))
        pair = pc.binary_join_element_wise(pc.filter(ref, single), pc.filter(alt, single), "")
        stats.ti += int(pc.sum(pc.is_in(pair, pa.array(TRANSITIONS))).as_py() or 0)
        stats.tv += int(pc.sum(pc.is_in(pair, pa.array(TRANSVERSIONS))).as_py() or 0)
    rank = chrom_order(by_chrom)
    stats.by_type = dict(by_type.most_common())
    stats.by_chrom = {c: by_chrom[c] for c in sorted(by_chrom, key=rank.__getitem__)}
    stats.by_impact = dict(by_impact.most_common())
    stats.by_filter = dict(by_filter)
    stats.field_missing = {name: (nulls[name] / stats.variants if stats.variants else 0.0) for name in MISSING_FIELDS}
    stats.samples = _sample_counts(store, batch_rows)
    if store.has("ref_blocks"):
        stats.ref_blocks = store.table("ref_blocks").count_rows()
    if store.has("no_calls"):
        stats.genotype_missingness = {row["sample"]: row["missing_rate"] for row in stats.samples}
        no_gt = sorted({row["sample"] for row in stats.samples if row["no_gt"]})
        if no_gt:
            shown = ", ".join(no_gt[:10]) + (", ..." if len(no_gt) > 10 else "")
            stats.notes.append(f"genotype missingness unknown (no GT in the file) for {len(no_gt)} samples: {shown}")
    else:
        stats.notes.append(f"genotype missingness {GENOTYPE_MISSINGNESS_NOTE}")
    stats.incomplete = store.incomplete_ingests()
    stats.notes.extend(entry["note"] for entry in stats.incomplete)
    return stats


def _sample_counts(store: VariantStore, batch_rows: int) -> list[dict[str, Any]]:
    """Per sample: carried alleles by zygosity, in sample-id order (samples with no calls included)."""
    counts: dict[int, Counter[str]] = {}
    for batch in iter_batches(store, "calls", ["sample", "zygosity"], batch_rows):
        grouped = pa.Table.from_batches([batch]).group_by(["sample", "zygosity"]).aggregate([([], "count_all")])
        for group in grouped.to_pylist():
            counts.setdefault(int(group["sample"]), Counter())[str(group["zygosity"])] += int(group["count_all"])
    samples = store.read("samples", ["sample", "name", "source"]).sort_by("sample")
    no_calls: dict[int, int] = {}
    no_gt: dict[int, int] = {}  # per source: records without GT
    if store.has("no_calls"):
        table = store.read("no_calls", ["sample", "source", "no_calls"])
        grouped = table.group_by("sample").aggregate([("no_calls", "sum")])
        no_calls = dict(zip(grouped["sample"].to_pylist(), grouped["no_calls_sum"].to_pylist(), strict=True))
        no_calls.pop(NO_GT_SAMPLE, None)
        rows = table.filter(pc.equal(table["sample"], NO_GT_SAMPLE)).group_by("source").aggregate([("no_calls", "sum")])
        no_gt = dict(zip(rows["source"].to_pylist(), rows["no_calls_sum"].to_pylist(), strict=True))
    sources = store.read("sources", ["source", "records", "rejected"])
    stored = {  # records each source stored: the denominator of a sample's missingness
        s: r - j
        for s, r, j in zip(
            sources["source"].to_pylist(), sources["records"].to_pylist(), sources["rejected"].to_pylist(), strict=True
        )
    }
    sources_of: dict[int, list[int]] = {}  # a sample in several (merged) files: its records in all of them
    for sid, source in zip(samples["sample"].to_pylist(), samples["source"].to_pylist(), strict=True):
        sources_of.setdefault(int(sid), []).append(int(source))
    out = []
    seen: set[int] = set()
    for sid, name in zip(samples["sample"].to_pylist(), samples["name"].to_pylist(), strict=True):
        if sid in seen:
            continue
        seen.add(sid)
        c = counts.get(int(sid), Counter())
        row: dict[str, Any] = {"sample": name, "id": sid}
        row.update({z: c.get(z, 0) for z in ZYGOSITIES})
        row["carried"] = sum(c.values())
        missing = int(no_calls.get(int(sid), 0))
        row["no_calls"] = missing
        records = sum(stored.get(s, 0) for s in sources_of[int(sid)])
        with_gt = records - sum(int(no_gt.get(s, 0)) for s in sources_of[int(sid)])
        row["missing_rate"] = round(missing / with_gt, 6) if with_gt > 0 else None
        row["no_gt"] = records > 0 and with_gt <= 0
        out.append(row)
    return out
