"""Inheritance queries over the trios of the stored pedigree: de novo, homozygous recessive, compound het.

A trio is a child of the pedigree (``vcf samples --ped``) whose father and mother are both samples
of the store. The child is the proband when one is named; else every trio child the PED marks
affected, or every trio child when it marks none. Per child allele row, each parent's status is the
one :mod:`exocortex.genomics.cohort` gives (carrier with zygosity, another ALT of the record,
hom-ref, no-call, half call, no GT, absent from the parent's files), computed for all the child's
alleles at once from ``calls`` and ``missing_calls``:

- ``de_novo``: the child carries the allele, both parents are hom-ref. A parent that is a no-call,
  a half call, without GT or absent does not count as hom-ref: "not seen in the parent" is not
  "the parent is reference", and that difference is the whole point of a de novo call.
- ``recessive``: the child is hom-alt, each parent a het carrier (``het`` or ``het_alt``).
- ``compound_het``: the child is ``het`` for at least two alleles of one gene, at least one
  inherited only from the father (father carrier, mother hom-ref) and one only from the mother; the
  rows are those alleles, with their ``origin``. Genes are the allele row's ``genes`` list, else
  its ``gene``: an allele in two genes counts in both.

Rows come in (child, chromosome, position) order; ``matched`` counts them all, ``limit`` cuts the
returned list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from exocortex.errors import NoMatchesError, UsageError
from exocortex.genomics.cohort import sample_sources, sites_held
from exocortex.genomics.filters import sql_string
from exocortex.genomics.layout import chrom_order
from exocortex.genomics.pedigree import read_pedigree, store_names
from exocortex.genomics.query import sample_ids
from exocortex.genomics.schema import NO_GT_SAMPLE, ZYGOSITIES
from exocortex.genomics.store import VariantStore

MODES = ("de_novo", "recessive", "compound_het")
ONE_COPY = ("het", "het_alt")
VID_IN_CHUNK = 2_000
"""Vids per ``vid IN (...)`` read of variant rows."""


@dataclass(frozen=True)
class Trio:
    child: str
    father: str
    mother: str
    family: str


@dataclass
class InheritanceResult:
    mode: str
    trios: list[Trio]
    rows: list[dict[str, Any]]
    """Up to ``limit`` matching allele rows, each with the trio's genotypes (and ``origin`` for compound hets)."""
    matched: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "trios": [t.__dict__ for t in self.trios],
            "matched": self.matched,
            "returned": len(self.rows),
            "rows": self.rows,
            "notes": self.notes,
        }


def find_trios(store: VariantStore, family: str | None = None, proband: str | None = None) -> list[Trio]:
    """The trios to ask about (see the module docstring); ``UsageError`` without a pedigree,
    ``NoMatchesError`` when the family or proband has no trio."""
    pedigree = read_pedigree(store)
    if not pedigree:
        raise UsageError("the variant store has no pedigree: give one with `exocortex vcf samples --ped FILE`")
    known = set(store_names(store))
    trios = [
        (row, Trio(row.name, row.father, row.mother, row.family))
        for row in pedigree.values()
        if row.father in known and row.mother in known and row.father is not None and row.mother is not None
    ]
    if family is not None:
        trios = [t for t in trios if t[1].family == family]
        if not trios:
            raise NoMatchesError(f"family {family!r} has no child with both parents in the variant store")
    if proband is not None:
        trios = [t for t in trios if t[1].child == proband]
        if not trios:
            raise NoMatchesError(f"sample {proband!r} has no father and mother in the store's pedigree")
        return [t for _, t in trios]
    affected = [t for row, t in trios if row.phenotype == 2]
    if not trios:
        raise NoMatchesError("no child of the pedigree has both parents in the variant store")
    return affected or [t for _, t in trios]


@dataclass
class _Parent:
    """One parent's calls and missing cells, for status lookups over the child's vids."""

    vids: np.ndarray  # sorted vids of its calls
    zygosity: np.ndarray
    gt: np.ndarray
    missing_vids: np.ndarray  # sorted vids of its missing_calls rows
    missing_gt: np.ndarray
    sources: set[int]


def _in_list(column: str, values: list[int]) -> str:
    return f"{column} IN ({', '.join(str(int(v)) for v in values)})"


def _parent(store: VariantStore, name: str, lo: int, hi: int) -> _Parent:
    ids = sample_ids(store, name)
    calls = store.read("calls", ["vid", "zygosity", "gt"], _in_list("sample", ids))
    calls = calls.sort_by("vid")
    missing = store.read(
        "missing_calls", ["vid", "gt"], f"{_in_list('sample', ids)} AND vid >= {lo} AND vid <= {hi}"
    ).sort_by("vid")
    return _Parent(
        vids=calls["vid"].to_numpy(),
        zygosity=np.asarray(calls["zygosity"].to_pylist(), dtype=object),
        gt=np.asarray(calls["gt"].to_pylist(), dtype=object),
        missing_vids=missing["vid"].to_numpy(),
        missing_gt=np.asarray(missing["gt"].to_pylist(), dtype=object),
        sources=sample_sources(store, ids),
    )


def _lookup(sorted_vids: np.ndarray, vids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, position) of each of ``vids`` in ``sorted_vids``."""
    if not sorted_vids.size:
        return np.zeros(vids.size, dtype=bool), np.zeros(vids.size, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_vids, vids), sorted_vids.size - 1)
    return sorted_vids[at] == vids, at


def _statuses(
    store: VariantStore, parent: _Parent, vids: np.ndarray, no_gt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per vid: the parent's status (carrier zygosity, or a cohort status) and GT (None when not stored),
    in that order of precedence: a call, absent from its files, a missing cell, no GT, else hom-ref."""
    found, at = _lookup(parent.vids, vids)
    lost, lost_at = _lookup(parent.missing_vids, vids)
    held = sites_held(store, vids, parent.sources)
    status = np.full(vids.size, "hom_ref", dtype=object)
    gts = np.full(vids.size, None, dtype=object)
    status[no_gt] = "no_gt"
    if lost.any():
        lost_gt = parent.missing_gt[lost_at[lost]]
        kinds = [
            "no_gt" if g is None else "partial" if any(a not in (".", "") for a in g.replace("|", "/").split("/"))
            else "no_call"
            for g in lost_gt
        ]  # fmt: skip
        status[lost] = kinds
        gts[lost] = lost_gt
    status[~held] = "absent"
    gts[~held] = None
    status[found] = parent.zygosity[at[found]]
    gts[found] = parent.gt[at[found]]
    return status, gts


def _variant_rows(store: VariantStore, vids: np.ndarray) -> dict[int, dict[str, Any]]:
    columns = ["vid", "key", "chrom_norm", "pos", "allele_index", "n_alts", "gene", "genes"]
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, vids.size, VID_IN_CHUNK):
        chunk = vids[start : start + VID_IN_CHUNK].tolist()
        for row in store.read("variants", columns, _in_list("vid", chunk)).to_pylist():
            out[int(row["vid"])] = row
    return out


def _other_alt(parent: _Parent, row: dict[str, Any]) -> str | None:
    """The parent's GT when it carries another ALT of the row's record (its allele rows are consecutive vids)."""
    n_alts = int(row["n_alts"] or 0)
    if n_alts < 2:
        return None
    first = int(row["vid"]) - (int(row["allele_index"]) - 1)
    lo, hi = np.searchsorted(parent.vids, [first, first + n_alts])
    for k in range(int(lo), int(hi)):
        if int(parent.vids[k]) != int(row["vid"]):
            return str(parent.gt[k])
    return None


def _trio_rows(store: VariantStore, trio: Trio, mode: str, gene: str | None) -> list[dict[str, Any]]:
    ids = sample_ids(store, trio.child)
    calls = store.read("calls", ["vid", "zygosity", "gt"], _in_list("sample", ids)).sort_by("vid")
    wanted = {"de_novo": None, "recessive": "hom_alt", "compound_het": "het"}[mode]
    if wanted is not None:
        calls = calls.filter(pc.equal(calls["zygosity"], wanted))
    if gene is not None:
        g = sql_string(gene)
        in_gene = store.read("variants", ["vid"], f"gene = {g} OR array_has_any(genes, [{g}])")["vid"]
        calls = calls.filter(pc.is_in(calls["vid"], in_gene))
    vids = calls["vid"].to_numpy()
    if not vids.size:
        return []
    lo, hi = int(vids.min()), int(vids.max())
    father, mother = _parent(store, trio.father, lo, hi), _parent(store, trio.mother, lo, hi)
    no_gt_vids = store.read("missing_calls", ["vid"], f"sample = {NO_GT_SAMPLE} AND vid >= {lo} AND vid <= {hi}")
    no_gt = np.isin(vids, no_gt_vids["vid"].to_numpy())
    f_status, f_gt = _statuses(store, father, vids, no_gt)
    m_status, m_gt = _statuses(store, mother, vids, no_gt)
    f_arr, m_arr = f_status.astype(str), m_status.astype(str)
    carrier_f = np.isin(f_arr, ZYGOSITIES)
    carrier_m = np.isin(m_arr, ZYGOSITIES)
    if mode == "de_novo":
        keep = (f_arr == "hom_ref") & (m_arr == "hom_ref")
    elif mode == "recessive":
        keep = np.isin(f_arr, ONE_COPY) & np.isin(m_arr, ONE_COPY)
    else:
        keep = (carrier_f & (m_arr == "hom_ref")) | (carrier_m & (f_arr == "hom_ref"))
    index = np.flatnonzero(keep)
    rows_of = _variant_rows(store, vids[index])
    child_gt = calls["gt"].to_pylist()
    child_zyg = calls["zygosity"].to_pylist()
    rows: list[dict[str, Any]] = []
    for k in index.tolist():
        vid = int(vids[k])
        v = rows_of[vid]
        fs, fg, ms, mg = f_status[k], f_gt[k], m_status[k], m_gt[k]
        if fs == "hom_ref" and (other := _other_alt(father, v)) is not None:
            fs, fg = "other_alt", other  # another ALT of the record: not hom-ref
        if ms == "hom_ref" and (other := _other_alt(mother, v)) is not None:
            ms, mg = "other_alt", other
        origin = None
        if mode == "de_novo" and (fs != "hom_ref" or ms != "hom_ref"):
            continue
        if mode == "compound_het":
            if ms == "hom_ref" and carrier_f[k]:
                origin = "father"
            elif fs == "hom_ref" and carrier_m[k]:
                origin = "mother"
            else:
                continue
        genes = list(v["genes"] or []) or ([v["gene"]] if v["gene"] else [])
        rows.append({
            "child": trio.child, "key": v["key"], "vid": vid, "chrom": v["chrom_norm"], "pos": v["pos"],
            "gene": v["gene"], "genes": genes, "child_gt": child_gt[k], "child_zygosity": child_zyg[k],
            "father_status": fs, "father_gt": fg, "mother_status": ms, "mother_gt": mg, "origin": origin,
        })  # fmt: skip
    if mode == "compound_het":
        rows = _compound_genes(rows, gene)
    return rows


def _compound_genes(rows: list[dict[str, Any]], gene: str | None) -> list[dict[str, Any]]:
    """The rows of genes with at least one allele from each parent only; ``gene`` set on each row."""
    by_gene: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for g in row["genes"]:
            if gene is None or g == gene:
                by_gene.setdefault(g, []).append(row)
    out: list[dict[str, Any]] = []
    for g, members in by_gene.items():
        origins = {r["origin"] for r in members}
        if origins == {"father", "mother"}:
            out.extend({**r, "gene": g} for r in members)
    return out


def inheritance(
    store_dir: str | Path | VariantStore,
    mode: str,
    *,
    family: str | None = None,
    proband: str | None = None,
    gene: str | None = None,
    limit: int = 20,
) -> InheritanceResult:
    """Allele rows that follow ``mode`` in the trios (see the module docstring)."""
    if mode not in MODES:
        raise UsageError(f"unknown inheritance mode {mode!r} (one of {', '.join(MODES)})")
    store = store_dir if isinstance(store_dir, VariantStore) else VariantStore(store_dir)
    store.table("variants")  # IndexNotFoundError when nothing was ingested
    trios = find_trios(store, family, proband)
    rows = [row for trio in trios for row in _trio_rows(store, trio, mode, gene)]
    rank = chrom_order(r["chrom"] for r in rows)
    rows.sort(key=lambda r: (r["child"], rank[str(r["chrom"])], r["pos"], r["gene"] or "", r["vid"]))
    notes = []
    if gene is not None and not rows:
        g = sql_string(gene)
        if not store.read("variants", ["vid"], f"gene = {g} OR array_has_any(genes, [{g}])").num_rows:
            notes.append(f"no variant of the store is annotated with gene {gene!r}")
    return InheritanceResult(mode=mode, trios=trios, rows=rows[:limit], matched=len(rows), notes=notes)


__all__ = ["MODES", "InheritanceResult", "Trio", "find_trios", "inheritance"]
