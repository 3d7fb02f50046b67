"""A sample's genotype at a site, told apart: a carrier, hom-ref, a no-call, or unknown.

``calls`` keeps carriers only, so "not in calls" alone cannot tell a sample that is hom-ref from
one that was not called: a clinician asking "is the mother hom-ref here?" needs the difference.
The ingest therefore writes ``missing_calls`` (:mod:`exocortex.genomics.schema`): per allele row,
the samples whose GT has no called allele (``./.``), a half call without an ALT (``0/.``), and
one ``sample = -1`` row when the record has no GT at all. A sample is then, at an allele row:

- a carrier (``status`` ``carrier``, with its GT, zygosity, GQ, DP) when ``calls`` has it;
- ``other_alt`` when it carries another ALT of the same record (``1/1`` seen from ALT 2): not a
  carrier of this allele, and not hom-ref either;
- ``no_call`` / ``partial`` when ``missing_calls`` has it (``./.``, ``0/.``);
- ``no_gt`` when the record had no GT (a file with PL but no GT): unknown, never hom-ref;
- ``absent`` when none of the files the sample comes from holds a record at this site (a VCF's
  absence says nothing; a gVCF's reference blocks would);
- ``hom_ref`` otherwise: its file holds the site and its GT called no ALT there.

The files that hold a site are the allele row's own source and those whose record of the same key
was merged into it (:func:`site_sources`, the ``merged_sites`` table of
:mod:`exocortex.genomics.merge`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.query import sample_ids
from exocortex.genomics.schema import NO_GT_SAMPLE, VID_SOURCE_SHIFT
from exocortex.genomics.similar import resolve_variant
from exocortex.genomics.store import VariantStore

STATUSES = ("carrier", "other_alt", "hom_ref", "no_call", "partial", "no_gt", "absent")
"""What :func:`genotype` answers per sample and allele row (see the module docstring)."""


@dataclass(frozen=True)
class GenotypeAnswer:
    """One sample at one allele row."""

    variant: str  # the key CHROM:POS:REF:ALT
    vid: int
    sample: str
    status: str  # one of STATUSES
    gt: str | None = None  # as written: "0/1", "./.", "0/."; None for hom_ref (not stored), no_gt, absent
    zygosity: str | None = None  # of a carrier
    gq: int | None = None
    dp: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _in_list(column: str, values: Iterable[int]) -> str:
    return f"{column} IN ({', '.join(str(int(v)) for v in values)})"


def sample_sources(store: VariantStore, ids: Iterable[int]) -> set[int]:
    """The sources (files) the sample ids come from."""
    samples = store.read("samples", ["sample", "source"])
    wanted = pa.array(list(ids), pa.int32())
    return set(samples.filter(pc.is_in(samples["sample"], wanted))["source"].to_pylist())


def site_sources(store: VariantStore, vids: np.ndarray) -> dict[int, set[int]]:
    """vid -> the sources holding a record at its site: its own, and those merged into it."""
    out: dict[int, set[int]] = {int(v): {int(v) >> VID_SOURCE_SHIFT} for v in vids.tolist()}
    if store.has("merged_sites") and len(vids):
        merged = store.read("merged_sites", ["vid", "source"], _in_list("vid", vids.tolist()))
        for vid, source in zip(merged["vid"].to_pylist(), merged["source"].to_pylist(), strict=True):
            out[int(vid)].add(int(source))
    return out


def sites_held(store: VariantStore, vids: np.ndarray, sources: set[int]) -> np.ndarray:
    """Per vid: whether one of ``sources`` holds a record at its site (its own source, or one merged into it)."""
    wanted = np.array(sorted(sources), dtype=np.int64)
    held = np.isin(vids >> VID_SOURCE_SHIFT, wanted)
    if store.has("merged_sites") and wanted.size and not held.all():
        merged = store.read("merged_sites", ["vid"], _in_list("source", wanted.tolist()))
        held |= np.isin(vids, merged["vid"].to_numpy())
    return held


def genotype(store_dir: str | Path | VariantStore, variant: str | int, sample: str) -> GenotypeAnswer:
    """``sample``'s genotype at ``variant`` (a key, vid or rsid); see the module docstring.

    Raises ``NoMatchesError`` for a variant or sample the store does not hold.
    """
    store = store_dir if isinstance(store_dir, VariantStore) else VariantStore(store_dir)
    vid = resolve_variant(store, variant)
    ids = sample_ids(store, sample)
    row = store.read("variants", ["key", "source", "record", "n_alts"], f"vid = {vid}").to_pylist()[0]
    base: dict[str, Any] = {"variant": str(row["key"]), "vid": vid, "sample": sample}
    calls = store.read("calls", ["gt", "zygosity", "gq", "dp"], f"vid = {vid} AND {_in_list('sample', ids)}")
    if calls.num_rows:
        c = calls.to_pylist()[0]
        return GenotypeAnswer(**base, status="carrier", gt=c["gt"], zygosity=c["zygosity"], gq=c["gq"], dp=c["dp"])
    if (row["n_alts"] or 0) > 1:  # a call of a sibling allele row: another ALT of the record
        siblings = store.read("variants", ["vid"], f"source = {row['source']} AND record = {row['record']}")
        other = store.read(
            "calls", ["gt", "gq", "dp"], f"{_in_list('vid', siblings['vid'].to_pylist())} AND {_in_list('sample', ids)}"
        )
        if other.num_rows:
            c = other.to_pylist()[0]
            return GenotypeAnswer(**base, status="other_alt", gt=c["gt"], gq=c["gq"], dp=c["dp"])
    mine = sample_sources(store, ids)
    holders = site_sources(store, np.array([vid], dtype=np.int64))[vid]
    if not mine & holders:
        return GenotypeAnswer(**base, status="absent")
    missing = store.read(
        "missing_calls", ["sample", "gt"], f"vid = {vid} AND {_in_list('sample', [*ids, NO_GT_SAMPLE])}"
    )
    for m in missing.to_pylist():
        if m["sample"] != NO_GT_SAMPLE and m["gt"] is not None:  # gt null: a merged record without GT
            gt = str(m["gt"])
            called = any(a not in (".", "") for a in gt.replace("|", "/").split("/"))
            return GenotypeAnswer(**base, status="partial" if called else "no_call", gt=gt)
    if missing.num_rows:
        return GenotypeAnswer(**base, status="no_gt")
    return GenotypeAnswer(**base, status="hom_ref")


__all__ = ["STATUSES", "GenotypeAnswer", "genotype", "sample_sources", "site_sources"]
