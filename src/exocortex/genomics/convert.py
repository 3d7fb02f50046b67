"""A cyvcf2 record into rows of a batch: one row per ALT allele, its genotypes kept for the calls.

cyvcf2 (htslib) parses records at C speed. Per record the converter keeps one short tuple of the
columns that vary (:data:`~exocortex.genomics.batch.ROW_COLUMNS`), writes the INFO JSON in the same
pass that reads INFO, and keeps only ``genotype.array()`` and the DP/GQ/AD arrays, which
:class:`~exocortex.genomics.calls.CallBuilder` turns into calls. Single-sample files skip the
arrays when ``gt_types`` (computed in C) says the call is 0/0, which is what keeps a gVCF fast
(so a single sample's half call ``0/.`` counts as hom-ref there, as ``gt_types`` has it; in a
multi-sample file it is a ``missing_calls`` row). No-calls (GT ``./.`` or ``.``) are found in the
genotype matrix with the carriers (:mod:`~exocortex.genomics.calls`), not from ``gt_types``, which
calls a haploid ``2`` UNKNOWN. A record without GT is not a no-call: its genotypes are unknown
(:meth:`~exocortex.genomics.batch.Batch.add_no_gt`), and missingness leaves it out.

Alleles. Each row's REF/ALT is the allele's minimal representation
(:func:`~exocortex.genomics.normalize.trim_alleles`: common suffix, then prefix, trimmed; POS,
END, type and length follow), so ``CAG -> GAG,C`` gives ``C>G`` and ``CAG>C``, the keys
``bcftools norm`` writes; with a reference (``--fasta``) indels are also left-aligned
(:func:`~exocortex.genomics.normalize.left_align`). Annotations are matched on the record's
untrimmed alleles: VEP and snpEff name alleles relative to the record.

gVCF. A record whose only ALTs are ``<NON_REF>``/``<*>`` is a reference block, not a variant: it
gives ``ref_blocks`` rows (one per sample: GT, GQ, DP, MIN_DP) and no allele row. At a variant
site, trailing ``<NON_REF>``/``<*>`` alleles are no rows (``n_alts`` counts the real ALTs); the
real ones keep their index, so per-allele INFO and AD are split by the record's allele index.

Per-allele INFO. For a split allele, ``Number=A`` fields keep that allele's value, ``Number=R``
keep ``[ref, allele]``, ``Number=G`` keep the diploid genotype values made of REF and the allele
(``0/0, 0/i, i/i``) when the value count matches, else all; other fields are kept whole. Floats
are rounded to float32 precision (7 significant digits) so ``0.3`` stays ``0.3``. The raw
``ANN``/``EFF``/``CSQ`` strings are left out of ``info`` once parsed: their entries, split per
allele, are in ``annotations`` (the scalar columns take the most severe one; ``consequence`` is
its first ``&``-joined term, ``consequences`` every term of every entry).

A record that cannot be stored (no REF, an empty line, a line that is not a record) raises
:class:`Reject` with the reason for the rejects file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from exocortex.genomics.annotations import (
    CLINVAR_FIELDS,
    HEADER_FIELDS,
    AnnotationMismatch,
    AnnotationParser,
    row_summary,
)
from exocortex.genomics.batch import ANN_COLUMNS, NO_ANNOTATION, Batch
from exocortex.genomics.calls import GENOTYPE_CHUNK_CELLS, CallBuilder
from exocortex.genomics.clinical import (
    as_frequency,
    best_frequency,
    clnsig_terms,
    decode_clnsig,
    population_field,
    review_stars,
)
from exocortex.genomics.normalize import Reference, is_sequence, left_align, trim_alleles
from exocortex.genomics.reader import FieldSpec, FileInfo, allele_less_problem, header_fields
from exocortex.genomics.schema import REF_BLOCK_ALLELES, info_float, make_vid, variant_type

_RS = re.compile(r"^rs\d+$")

_encode_json = json.JSONEncoder(separators=(",", ":")).encode
_encode_str = json.encoder.encode_basestring_ascii  # what the encoder above does with a str (ensure_ascii)
_KEY_PREFIX: dict[str, str] = {}


def _info_json(info: dict[str, Any]) -> str:
    """``_encode_json(info)``, byte for byte, without the encoder's per-call machinery.

    Scalars (int, str, finite float, bool, None) are written here; anything else (lists, NaN)
    goes through the encoder, so the text is the same as ``json.dumps`` with compact separators.
    """
    parts = []
    prefixes = _KEY_PREFIX
    for key, val in info.items():
        prefix = prefixes.get(key)
        if prefix is None:
            if type(key) is not str:
                return _encode_json(info)
            prefix = prefixes[key] = _encode_str(key) + ":"
        t = type(val)
        if t is int:
            parts.append(prefix + int.__repr__(val))
        elif t is str:
            parts.append(prefix + _encode_str(val))
        elif t is float and math.isfinite(val):
            parts.append(prefix + float.__repr__(val))
        elif val is None:
            parts.append(prefix + "null")
        elif t is bool:
            parts.append(prefix + ("true" if val else "false"))
        else:
            parts.append(prefix + _encode_json(val))
    return "{" + ",".join(parts) + "}"


def _clean(value: Any) -> Any:
    """A JSON-safe copy of a cyvcf2 INFO value (tuples -> lists, NaN -> null, float32 noise off)."""
    if isinstance(value, float):
        return info_float(value)
    if isinstance(value, tuple | list):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _for_allele(number: str, value: Any, i: int, n_alts: int) -> Any:
    """The part of an INFO value that belongs to ALT ``i`` (1-based) of ``n_alts``. cyvcf2 hands a
    String/Character list over as one comma-joined string: split here for A, R and G."""
    if isinstance(value, str) and number in ("A", "R", "G") and "," in value:
        value = value.split(",")
    if not isinstance(value, list):
        return value
    if number == "A" and len(value) == n_alts:
        return value[i - 1]
    if number == "R" and len(value) == n_alts + 1:
        return [value[0], value[i]]
    if number == "G" and len(value) == (n_alts + 1) * (n_alts + 2) // 2:
        het = i * (i + 1) // 2
        return [value[0], value[het], value[het + i]]
    return value


def _first_int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return None


def _rs_number(value: Any) -> int | None:
    """ClinVar's ``RS`` (a String in its header, an Integer in others; several joined by ``|``)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        head = value.split("|")[0].strip()
        return int(head) if head.isdigit() else None
    return _first_int(value)


def _first_float(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


class RecordConverter:
    """Turns cyvcf2 records into rows of a :class:`Batch` (one object per file)."""

    def __init__(
        self, vcf: Any, source: int, sample_ids: np.ndarray, info: FileInfo, fasta: Reference | None = None
    ) -> None:
        self.source = source
        self.fasta = fasta  # indels are left-aligned against it (``--fasta``)
        self.n_samples = len(vcf.samples)
        self.single_sample = self.n_samples == 1
        self.line_base = info.header_lines
        self.info_specs: dict[str, FieldSpec] = header_fields(vcf, "INFO")
        self.format_specs = header_fields(vcf, "FORMAT")
        self.numbers = {k: s.number for k, s in self.info_specs.items()}
        self.annotations = AnnotationParser(
            {k: s.description for k, s in self.info_specs.items() if k in HEADER_FIELDS}
        )
        self.ann_fields = self.annotations.present
        """ANN/EFF/CSQ: parsed into entries and left out of the row's INFO JSON."""
        self.parse_fields = (*self.ann_fields, *(f for f in CLINVAR_FIELDS if f in self.info_specs))
        """A record holding one of these gets its annotation entries parsed."""
        self.has_clnsig = "CLNSIG" in self.info_specs
        self.clnsig_codes = self.annotations.clnsig_codes
        self.has_revstat = "CLNREVSTAT" in self.info_specs
        self.has_rs = "RS" in self.info_specs
        self.pop_fields = [k for k in self.info_specs if population_field(k, in_csq=False)]
        """INFO keys of reference-population frequencies (gnomAD_AF, ExAC_AF, ...)."""
        self.clinical = self.has_clnsig or self.has_revstat or bool(self.pop_fields)
        self.calls = CallBuilder(self.n_samples, sample_ids)
        self.gt_texts: dict[tuple[Any, ...], str] = {}  # cyvcf2 genotype -> GT text, for reference blocks
        self.float_cache: dict[float, tuple[float | None, str]] = {}
        # The FORMAT types are passed to ``format()``: a record parsed from a line (``Writer.variant_from_string``)
        # cannot look them up itself.
        self.format_types: dict[str, str] = {
            k: self.format_specs[k].type for k in ("DP", "GQ", "AD", "MIN_DP") if k in self.format_specs
        }

    def add(self, v: Any, record: int, allele_row: int, batch: Batch) -> int:
        """Append ``v``'s allele rows (and calls) to ``batch``; return how many allele rows."""
        chrom: str = v.CHROM
        if not chrom:
            # htslib hands an empty line over as a record without a CHROM or alleles, whose REF/ID
            # cyvcf2 would read through a null pointer (a segfault): checked before touching them
            raise Reject("the line is empty")
        alts: list[str] = v.ALT  # safe without alleles: an empty list
        if not alts and (problem := allele_less_problem(v)) is not None:
            # a header line among the records or space-separated columns reach cyvcf2 as a record
            # without alleles, whose REF it would read through a null pointer (a segfault)
            raise Reject(problem)
        ref: str = v.REF
        if not ref or ref == ".":
            raise Reject("REF is missing")
        n_record_alts = n_alts = len(alts)
        while n_alts and alts[n_alts - 1] in REF_BLOCK_ALLELES:  # gVCF <NON_REF>/<*>: not an allele row
            n_alts -= 1
        # cyvcf2's POS is a 32-bit int (10,009,999,919 reads as 1,420,065,327); its start is htslib's 64-bit
        pos: int = v.start + 1
        end: int = v.end
        if n_record_alts and not n_alts:
            self._ref_block(v, record, chrom, pos, end, batch)
            return 0
        vid_id: str | None = v.ID
        rsid = None
        if vid_id and "rs" in vid_id:
            rsid = next((t for t in vid_id.split(";") if _RS.match(t)), None)
        filters = v.FILTERS
        filt = ";".join(filters) if filters else None
        qual = v.QUAL
        info: dict[str, Any] = {}
        parts: list[str] = []  # the JSON of `info`, as _info_json writes it, built in the same pass
        floats = self.float_cache
        prefixes = _KEY_PREFIX
        for key, val in v.INFO:
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = _encode_str(key) + ":"
            t = type(val)
            if t is int:
                info[key] = val
                parts.append(prefix + int.__repr__(val))
            elif t is float:
                cached = floats.get(val)
                if cached is None:
                    clean = _clean(val)
                    cached = (clean, "null" if clean is None else float.__repr__(clean))
                    if val and len(floats) < 1 << 16:  # not 0.0: -0.0 == 0.0 as a key
                        floats[val] = cached
                info[key] = cached[0]
                parts.append(prefix + cached[1])
            elif t is str:
                info[key] = val
                parts.append(prefix + _encode_str(val))
            elif t is bool:
                info[key] = val
                parts.append(prefix + ("true" if val else "false"))
            else:
                info[key] = clean = _clean(val)
                parts.append(prefix + _encode_json(clean))

        per_allele_ann: list[list[dict[str, Any]]] | None = None
        if self.parse_fields and any(f in info for f in self.parse_fields):
            try:
                per_allele_ann = self.annotations.parse(info, ref, alts)
            except AnnotationMismatch as exc:
                raise Reject(str(exc)) from None
            if any(f in info for f in self.ann_fields):
                info = {k: val for k, val in info.items() if k not in self.ann_fields}  # kept as entries
        if rsid is None and self.has_rs and (rs := _rs_number(info.get("RS"))) is not None:
            rsid = f"rs{rs}"  # ClinVar's dbSNP number

        rows = batch.rows
        source = self.source
        vid0 = make_vid(source, allele_row)
        if n_record_alts <= 1:
            allele_infos: list[dict[str, Any]] = [info]
            jsons = ["{" + ",".join(parts) + "}" if per_allele_ann is None else _info_json(info)]
        else:
            numbers = self.numbers
            allele_infos = [
                {key: _for_allele(numbers.get(key, "."), val, i, n_record_alts) for key, val in info.items()}
                for i in range(1, n_alts + 1)
            ]
            jsons = [_info_json(d) for d in allele_infos]
        has_end = "END" in info
        for k in range(n_alts or 1):
            alt = alts[k] if n_alts else None
            allele_info = allele_infos[k]
            row_pos, row_ref, row_end = pos, ref, end
            if alt is not None and len(alt) > 1 and len(ref) > 1:  # the split allele's minimal REF/ALT
                row_pos, row_ref, alt = trim_alleles(pos, ref, alt)
                if not has_end:
                    row_end = row_pos + len(row_ref) - 1
            if self.fasta is not None and alt is not None and len(alt) != len(row_ref) and is_sequence(alt):
                row_pos, row_ref, alt = left_align(self.fasta, chrom, row_pos, row_ref, alt)
                if not has_end:
                    row_end = row_pos + len(row_ref) - 1
            if alt is None:
                vtype, length = "no_alt", None
            elif len(row_ref) == 1 and len(alt) == 1 and alt != "*" and alt != ".":
                vtype, length = "SNV", 0
            else:
                vtype = variant_type(row_ref, alt)
                if vtype == "symbolic":
                    svlen = allele_info.get("SVLEN")
                    length = None if svlen is None else _first_int(svlen)
                elif vtype == "breakend":
                    length = None
                else:
                    length = len(alt) - len(row_ref)
            ac = allele_info.get("AC")
            if ac is not None and type(ac) is not int:
                ac = _first_int(ac)
            an = allele_info.get("AN")
            if an is not None and type(an) is not int:
                an = _first_int(an)
            af = allele_info.get("AF")
            if af is not None and type(af) is not float:
                af = _first_float(af)
            if af is None and ac is not None and an:
                af = ac / an
            entries = per_allele_ann[k] if per_allele_ann is not None else []
            clnsig = None
            if self.clinical or entries:
                ann, clnsig = self._clinical(allele_info, entries, vid0 + k, batch)
                if ann is not NO_ANNOTATION:
                    batch.ann[len(rows)] = ann
            rows.append(
                (vid0 + k, record, chrom, row_pos, row_end, row_ref, alt, k + 1 if n_alts else 0, n_alts, vtype, length,
                 vid_id, rsid, qual, filt, ac, an, af, jsons[k], clnsig)
            )  # fmt: skip
        if self.n_samples:
            if self.single_sample:
                types = _gt_types(v)  # computed in C: a 0/0 (a gVCF block) is never decoded
                if types is None:
                    batch.add_no_gt(vid0, n_alts or 1)
                elif types[0] != 0:  # HET, HOM_ALT, UNKNOWN: a no-call, or a haploid 2 that cyvcf2 calls UNKNOWN
                    self._buffer_genotypes(v, n_alts, vid0, batch)
            elif not self._buffer_genotypes(v, n_alts, vid0, batch):
                batch.add_no_gt(vid0, n_alts or 1)
        return n_alts or 1

    def _clinical(
        self, allele_info: dict[str, Any], entries: list[dict[str, Any]], vid: int, batch: Batch
    ) -> tuple[tuple[Any, ...], str | None]:
        """One allele's annotation columns (:data:`~exocortex.genomics.batch.ANN_COLUMNS`) and CLNSIG;
        its entries are appended to ``batch.entries``."""
        clnsig = decode_clnsig(allele_info.get("CLNSIG"), self.clnsig_codes) if self.has_clnsig else None
        if clnsig is None:  # VEP's CLIN_SIG, when the file has no ClinVar INFO
            terms = dict.fromkeys(t for e in entries if e["clin_sig"] for t in clnsig_terms(e["clin_sig"]))
            clnsig = "/".join(terms) or None
        revstat = allele_info.get("CLNREVSTAT") if self.has_revstat else None
        if isinstance(revstat, list):
            revstat = ",".join(str(r) for r in revstat)
        candidates = [(f"INFO:{key}", as_frequency(allele_info.get(key))) for key in self.pop_fields]
        candidates += [p for e in entries for p in e["pop"]]
        pop_af, pop_source = best_frequency((s, v) for s, v in candidates if v is not None)
        if not entries and revstat is None and pop_af is None:
            return NO_ANNOTATION, clnsig
        for i, e in enumerate(entries):
            batch.entries.append(
                (vid, i, e["source"], e["allele"], e["gene"], e["gene_id"], e["transcript"], e["biotype"],
                 e["consequence"], e["consequences"], e["impact"], e["hgvs_c"], e["hgvs_p"], e["canonical"],
                 e["mane"], e["lof"], e["is_lof"], e["nmd"], e["clin_sig"])
            )  # fmt: skip
        summary = row_summary(entries)
        summary.update(clinvar_stars=review_stars(revstat), clnrevstat=revstat, pop_af=pop_af, pop_af_source=pop_source)
        return tuple(summary[name] for name in ANN_COLUMNS), clnsig

    def _ref_block(self, v: Any, record: int, chrom: str, pos: int, end: int, batch: Batch) -> None:
        """A gVCF reference block: one ``ref_blocks`` row per sample (one without a sample in a sites-only file)."""
        n = self.n_samples
        if not n:
            batch.ref_blocks.append((record, None, chrom, pos, end, None, None, None, None))
            return
        types = _gt_types(v)
        genotypes = None
        if types is not None:
            try:
                genotypes = v.genotypes
            except Exception:  # cyvcf2: "error parsing genotypes" when the record has no GT
                genotypes = None
        fmt = self.format_types
        values: list[list[Any] | None] = []
        for name in _BLOCK_FORMAT:
            array = None
            if name in fmt:
                try:
                    array = v.format(name, fmt[name])
                except Exception:  # a field the record does not have, in some cyvcf2 versions
                    array = None
            if array is None or array.ndim != 2 or not array.shape[1] or array.dtype.kind not in "iuf":
                values.append(None)
            else:  # the first value per sample, as Python numbers (missing: negative sentinel or NaN)
                values.append(array[:, 0].tolist())
        gq, dp, min_dp = values
        texts = self.gt_texts
        blocks = batch.ref_blocks
        for i in range(n):
            gt = None
            if genotypes is not None:
                call = tuple(genotypes[i])
                gt = texts.get(call)
                if gt is None:
                    gt = texts[call] = _gt_text(call)
            blocks.append(
                (record, i, chrom, pos, end, gt,
                 None if gq is None else _format_int(gq[i]),
                 None if dp is None else _format_int(dp[i]),
                 None if min_dp is None else _format_int(min_dp[i]))
            )  # fmt: skip
        batch.count_no_calls(np.ones(n, np.int64) if types is None else (types == 2).astype(np.int64))

    def _buffer_genotypes(self, v: Any, n_alts: int, vid0: int, batch: Batch) -> bool:
        """Keep ``v``'s genotype and FORMAT arrays for the next vectorized pass (one append: atomic);
        ``False`` when the record has no GT."""
        try:
            genotype = v.genotype  # each access decodes the record's genotypes again
            garr = genotype.array() if genotype is not None else None
        except Exception:  # cyvcf2: "error parsing genotypes" when the record has no GT
            return False
        if garr is None or garr.ndim != 2 or garr.shape[1] < 2:
            return False
        types = self.format_types
        dp = v.format("DP", types["DP"]) if "DP" in types else None
        gq = v.format("GQ", types["GQ"]) if "GQ" in types else None
        ad = v.format("AD", types["AD"]) if "AD" in types else None
        batch.pending.append((vid0, n_alts, garr, dp, gq, ad))
        batch.pending_cells += self.n_samples
        if batch.pending_cells >= GENOTYPE_CHUNK_CELLS:
            self.calls.flush_genotypes(batch)
        return True


def _gt_text(call: tuple[Any, ...]) -> str:
    """A cyvcf2 ``genotypes`` entry (``[0, 0, False]``) as GT text (``0/0``; ``.`` for a missing allele)."""
    *alleles, phased = call
    return ("|" if phased else "/").join("." if a < 0 else str(a) for a in alleles)


_BLOCK_FORMAT = ("GQ", "DP", "MIN_DP")


def _format_int(value: float) -> int | None:
    """One FORMAT value from cyvcf2 as an int: None where missing (htslib's negative sentinels, NaN)."""
    if type(value) is int:
        return value if value >= 0 else None
    return int(value) if math.isfinite(value) else None


def _gt_types(v: Any) -> np.ndarray | None:
    """cyvcf2's call types (HOM_REF 0, HET 1, UNKNOWN 2 for a no-call, HOM_ALT 3); None without GT."""
    try:
        types = v.gt_types
    except Exception:  # cyvcf2: "error parsing genotypes" when the record has no GT
        return None
    return None if types is None or len(types) == 0 else np.asarray(types)


class Reject(Exception):
    """A record that is not stored; the message is the reason in the rejects file."""
