"""``exocortex vcf annotate``: ClinVar and population frequencies from external VCFs, joined by key.

A store ingested from calls alone knows nothing of ClinVar or gnomAD. ``annotate_store`` reads an
external VCF (ClinVar's ``clinvar.vcf.gz``, a gnomAD or 1000 Genomes sites file), splits and trims
its alleles the way the store keeps its own (one ALT per row, ``normalize.trim_alleles``, the
chromosome without ``chr``) and joins on that key ``CHROM:POS:REF:ALT``:

- ``clinvar``: the allele's ``clnsig`` (numeric codes decoded from that file's header),
  ``clinvar_stars``/``clnrevstat`` from ``CLNREVSTAT``, and a ``ClinVar`` annotation entry
  (``GENEINFO`` gene, ``MC`` consequence terms) replacing any earlier ClinVar entry; the row's
  any-entry columns (``genes``, ``consequences``, ``impacts``, ``lof``) take it in, and a row with
  no annotation gets its summary from it.
- ``population``: ``pop_af`` from the file's ``field`` (``AF`` by default: in a population
  file, its own AF *is* the population's), named ``<file name>:<field>`` in ``pop_af_source``.
  As with annotation frequencies, the row keeps the larger of what it had and the new value
  (rare means rare in every population looked at).

The external file is read one chromosome at a time (it must be sorted by chromosome, as
released files are) and the store's keys of that chromosome are read once, so memory follows
the largest chromosome, not the file. Changed rows are rewritten (deleted, then appended) and
the whole run is one commit under the writer lock: a crash leaves the store as it was.

Bad input: a ClinVar file without ``CLNSIG``, a population file without the field (the error
names the frequency-like fields it has), or an unreadable file: ``VcfFormatError``/``ConfigError``
before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from exocortex.errors import ConfigError, VcfFormatError
from exocortex.genomics.annotations import AnnotationParser, row_summary
from exocortex.genomics.clinical import as_frequency, decode_clnsig, review_stars
from exocortex.genomics.normalize import trim_alleles
from exocortex.genomics.schema import ANNOTATIONS, VARIANTS, info_float, normalize_chrom

UPDATE_CHUNK = 2_000
"""Store rows rewritten per read/delete/append round."""


@dataclass
class AnnotateSummary:
    """What one ``vcf annotate`` run read and changed."""

    path: str
    kind: str  # "clinvar" or "population"
    records: int = 0
    alleles: int = 0
    matched: int = 0
    """Store alleles that got a value (one external allele can match alleles of several sources)."""
    unmatched: int = 0
    """External alleles no store allele has."""
    chromosomes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        names = ("path", "kind", "records", "alleles", "matched", "unmatched", "chromosomes")
        return {k: getattr(self, k) for k in names}


def _open(path: Path) -> Any:
    from exocortex.genomics.reader import inspect_file, open_vcf

    return open_vcf(inspect_file(path))


def _descriptions(vcf: Any) -> dict[str, str | None]:
    from exocortex.genomics.reader import header_fields

    return {k: s.description for k, s in header_fields(vcf, "INFO").items()}


def _by_chromosome(vcf: Any, payload: Any) -> Iterator[tuple[str, dict[str, Any], int, int]]:
    """(chrom_norm, key -> payload, records, alleles) per chromosome block of the file."""
    current: str | None = None
    block: dict[str, Any] = {}
    records = alleles = 0
    for v in vcf:
        chrom = normalize_chrom(v.CHROM)
        if chrom != current:
            if current is not None:
                yield current, block, records, alleles
            current, block, records, alleles = chrom, {}, 0, 0
        records += 1
        alts = v.ALT
        for i, alt in enumerate(alts):
            value = payload(v, i, len(alts))
            if value is None:
                continue
            pos, ref, alt_t = trim_alleles(v.start + 1, v.REF, alt)
            block[f"{chrom}:{pos}:{ref}:{alt_t}"] = value
            alleles += 1
    if current is not None:
        yield current, block, records, alleles


def annotate_store(
    store_dir: str | Path,
    path: str | Path,
    kind: str,
    *,
    population_field: str = "AF",
    wait_s: float = 0.0,
) -> AnnotateSummary:
    """Join ``path`` (a ClinVar VCF for ``kind="clinvar"``, a population VCF for ``"population"``)
    into the store at ``store_dir``; see the module."""
    from exocortex.genomics.filters import create_filter_indexes, sql_string
    from exocortex.genomics.store import VariantStore, VariantWriter

    if kind not in ("clinvar", "population"):
        raise ConfigError(f"unknown annotation kind {kind!r} (clinvar or population)")
    VariantStore(store_dir).table("variants")  # IndexNotFoundError before anything is read
    path = Path(path)
    vcf = _open(path)
    descriptions = _descriptions(vcf)
    summary = AnnotateSummary(path=os.fspath(path), kind=kind)
    if kind == "clinvar":
        if "CLNSIG" not in descriptions:
            raise VcfFormatError(f"{path}: not a ClinVar VCF (its header declares no INFO/CLNSIG)")
        parser = AnnotationParser({k: descriptions[k] for k in ("CLNSIG", "GENEINFO", "MC") if k in descriptions})
        payload = _clinvar_payload(parser)
    else:
        if population_field not in descriptions:
            freq = [k for k in descriptions if "AF" in k.upper()][:12]
            raise ConfigError(
                f"{path}: no INFO/{population_field} in its header to take the population frequency from "
                f"(--population-field; frequency-like fields there: {', '.join(freq) or 'none'})"
            )
        payload = _population_payload(population_field, f"{path.name}:{population_field}")
    with VariantWriter(Path(store_dir), lock_wait_s=wait_s) as writer:
        for chrom, block, records, alleles in _by_chromosome(vcf, payload):
            summary.records += records
            summary.alleles += alleles
            if not block:
                continue
            summary.chromosomes.append(chrom)
            known = writer.read("variants", ["vid", "key"], f"chrom_norm = {sql_string(chrom)}")
            keys = known["key"].to_pylist()
            hits = [(vid, block[key]) for vid, key in zip(known["vid"].to_pylist(), keys, strict=True) if key in block]
            summary.matched += len(hits)
            summary.unmatched += len(block.keys() - set(keys))
            for start in range(0, len(hits), UPDATE_CHUNK):
                _rewrite(writer, hits[start : start + UPDATE_CHUNK], kind)
        writer.commit()
    create_filter_indexes(store_dir, wait_s)
    return summary


def _clinvar_payload(parser: AnnotationParser) -> Any:
    def payload(v: Any, i: int, n: int) -> dict[str, Any] | None:
        info = dict(v.INFO)
        clnsig = decode_clnsig(info.get("CLNSIG"), parser.clnsig_codes)
        revstat = info.get("CLNREVSTAT")
        if isinstance(revstat, tuple | list):
            revstat = ",".join(str(r) for r in revstat)
        entries = parser.parse(info, v.REF, v.ALT)[i] if parser.clinvar else []
        if clnsig is None and not entries:
            return None
        return {"clnsig": clnsig, "clnrevstat": revstat, "stars": review_stars(revstat), "entries": entries}

    return payload


def _population_payload(name: str, source: str) -> Any:
    def payload(v: Any, i: int, n: int) -> tuple[float, str] | None:
        value = v.INFO.get(name)
        if isinstance(value, tuple | list):
            value = value[i] if len(value) == n else (max(value) if value else None)
        f = as_frequency(info_float(value) if isinstance(value, float) else value)  # float32 noise off
        return None if f is None else (f, source)

    return payload


def _rewrite(writer: Any, hits: list[tuple[int, Any]], kind: str) -> None:
    """Rewrite the variant rows of ``hits`` (vid -> payload) with their new values (and, for ClinVar, entries)."""
    vids = np.array([v for v, _ in hits], dtype=np.int64)
    where = f"vid IN ({', '.join(map(str, vids.tolist()))})"
    rows = writer.read("variants", None, where).to_pylist()
    new = dict(hits)
    entries_out: list[dict[str, Any]] = []
    if kind == "clinvar":
        old = writer.read("annotations", None, where).to_pylist()
        kept: dict[int, list[dict[str, Any]]] = {}
        for e in old:
            if e["source"] != "ClinVar":
                kept.setdefault(e["vid"], []).append(e)
        for row in rows:
            p = new[row["vid"]]
            row["clnsig"] = p["clnsig"] or row["clnsig"]
            row["clnrevstat"], row["clinvar_stars"] = p["clnrevstat"], p["stars"]
            mine = kept.get(row["vid"], [])
            start = max((e["entry"] for e in mine), default=-1) + 1
            added = [{**_entry_row(e), "vid": row["vid"], "entry": start + j, "batch": row["batch"]}
                     for j, e in enumerate(p["entries"])]  # fmt: skip
            entries_out += mine + added
            if mine or added:
                row.update(row_summary(mine + added))
        writer.delete("annotations", where)
    else:
        for row in rows:
            value, source = new[row["vid"]]
            if row["pop_af"] is None or value >= row["pop_af"]:
                row["pop_af"], row["pop_af_source"] = value, source
    writer.delete("variants", where)
    writer.append("variants", pa.Table.from_pylist(rows, schema=VARIANTS))
    if entries_out:
        writer.append("annotations", pa.Table.from_pylist(entries_out, schema=ANNOTATIONS))


def _entry_row(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e.get(k) for k in ANNOTATIONS.names if k not in ("vid", "entry", "batch")}


__all__ = ["AnnotateSummary", "annotate_store"]
