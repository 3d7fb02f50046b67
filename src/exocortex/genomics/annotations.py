"""Functional annotations in INFO: SnpEff ``ANN`` and ``EFF``, VEP ``CSQ``, ClinVar ``CLNSIG``.

Each annotator writes a comma-separated list of entries in one INFO string; an entry says which
ALT allele it is about in its own way:

- ``ANN`` (SnpEff >= 4.1): ``Allele|Annotation|Annotation_Impact|Gene_Name|Gene_ID|Feature_Type|
  Feature_ID|Transcript_BioType|Rank|HGVS.c|HGVS.p|...``; the first field is the ALT sequence.
- ``EFF`` (older SnpEff): ``Effect(Impact|Functional_Class|Codon_Change|Amino_Acid_Change|...)``;
  the field order comes from the header's ``Format: 'Effect ( ... )'`` description, and the
  optional ``Genotype``/``Genotype_Number`` field is the ALT index (1-based).
- ``CSQ`` (VEP): the field order comes only from the header's ``Format: Allele|Consequence|...``
  description. ``Allele`` is the ALT with VEP's trimming (the shared first base of an indel is
  dropped, a pure deletion becomes ``-``); ``ALLELE_NUM`` when present is the ALT index.

:class:`AnnotationParser` is built once per file from the header and turns one record's INFO
strings into, per ALT allele, a list of uniform dicts (``source, allele, gene, gene_id,
consequence, consequences, impact, transcript, biotype, hgvs_c, hgvs_p``). :func:`most_severe`
picks the entry for the scalar columns (HIGH > MODERATE > LOW > MODIFIER, first wins a tie).
Entries whose allele matches no ALT are kept on every allele rather than dropped. Parsing runs
only on records that carry one of these fields, so files without annotations pay nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

IMPACT_RANK = {"HIGH": 0, "MODERATE": 1, "LOW": 2, "MODIFIER": 3}
ANNOTATION_FIELDS = ("ANN", "EFF", "CSQ")

ANN_DEFAULT = (
    "Allele|Annotation|Annotation_Impact|Gene_Name|Gene_ID|Feature_Type|Feature_ID|Transcript_BioType|"
    "Rank|HGVS.c|HGVS.p|cDNA.pos / cDNA.length|CDS.pos / CDS.length|AA.pos / AA.length|Distance|"
    "ERRORS / WARNINGS / INFO"
)
EFF_DEFAULT = (
    "Effect_Impact|Functional_Class|Codon_Change|Amino_Acid_Change|Amino_Acid_Length|Gene_Name|"
    "Transcript_BioType|Gene_Coding|Transcript_ID|Exon_Rank|Genotype_Number|ERRORS|WARNINGS"
)
CSQ_DEFAULT = "Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|HGVSp"

# VEP's terms ranked by severity (Ensembl's table) to infer IMPACT when CSQ has no IMPACT field.
_HIGH_TERMS = (
    "transcript_ablation",
    "splice_acceptor_variant",
    "splice_donor_variant",
    "stop_gained",
    "frameshift_variant",
    "stop_lost",
    "start_lost",
    "transcript_amplification",
    "feature_elongation",
    "feature_truncation",
)
_MODERATE_TERMS = ("inframe_insertion", "inframe_deletion", "missense_variant", "protein_altering_variant")
_LOW_TERMS = (
    "splice_donor_5th_base_variant",
    "splice_region_variant",
    "splice_donor_region_variant",
    "splice_polypyrimidine_tract_variant",
    "incomplete_terminal_codon_variant",
    "start_retained_variant",
    "stop_retained_variant",
    "synonymous_variant",
)
_VEP_IMPACT = {
    **dict.fromkeys(_HIGH_TERMS, "HIGH"),
    **dict.fromkeys(_MODERATE_TERMS, "MODERATE"),
    **dict.fromkeys(_LOW_TERMS, "LOW"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def format_fields(description: str | None, default: str) -> list[str]:
    """The ``|``-separated field names of a header ``Description="...Format: A|B|C"``."""
    text = (description or "").strip().strip('"')
    match = re.search(r"Format:\s*(.*)$", text, flags=re.IGNORECASE)
    layout = match.group(1) if match else default
    layout = layout.strip().strip("'\"")
    eff = re.match(r"\s*Effect\s*\((.*)\)\s*$", layout)
    if eff:
        layout = eff.group(1)
    layout = layout.replace("[", "").replace("]", "")
    return [part.strip() for part in layout.split("|")]


def _index(fields: Sequence[str], *names: str) -> int | None:
    wanted = [_norm(n) for n in names]
    normed = [_norm(f) for f in fields]
    for name in wanted:
        if name in normed:
            return normed.index(name)
    return None


def _field(parts: Sequence[str], idx: int | None) -> str | None:
    if idx is None or idx >= len(parts):
        return None
    value = parts[idx].strip()
    return value or None


def _vep_allele(ref: str, alt: str) -> str:
    """The allele string VEP writes for ``ref -> alt`` (shared first base trimmed, ``-`` if empty)."""
    if alt.startswith("<") or len(ref) == len(alt) == 1 or not ref or not alt or ref[0] != alt[0]:
        return alt
    return alt[1:] or "-"


class AnnotationParser:
    """Parses a file's ANN/EFF/CSQ strings, with layouts taken from the file's header."""

    def __init__(self, descriptions: Mapping[str, str | None]) -> None:
        self.present = tuple(f for f in ANNOTATION_FIELDS if f in descriptions)
        ann = format_fields(descriptions.get("ANN"), ANN_DEFAULT)
        if _index(ann, "Allele") is None:
            ann = format_fields(None, ANN_DEFAULT)
        self._ann = {
            "allele": _index(ann, "Allele"),
            "consequence": _index(ann, "Annotation"),
            "impact": _index(ann, "Annotation_Impact"),
            "gene": _index(ann, "Gene_Name"),
            "gene_id": _index(ann, "Gene_ID"),
            "transcript": _index(ann, "Feature_ID"),
            "biotype": _index(ann, "Transcript_BioType"),
            "hgvs_c": _index(ann, "HGVS.c"),
            "hgvs_p": _index(ann, "HGVS.p"),
        }
        eff = format_fields(descriptions.get("EFF"), EFF_DEFAULT)
        self._eff = {
            "impact": _index(eff, "Effect_Impact"),
            "gene": _index(eff, "Gene_Name"),
            "transcript": _index(eff, "Transcript_ID", "Transcript"),
            "biotype": _index(eff, "Transcript_BioType", "Gene_BioType"),
            "aa_change": _index(eff, "Amino_Acid_Change"),
            "codon_change": _index(eff, "Codon_Change"),
            "genotype": _index(eff, "Genotype_Number", "Genotype"),
        }
        csq = format_fields(descriptions.get("CSQ"), CSQ_DEFAULT)
        self._csq = {
            "allele": _index(csq, "Allele"),
            "allele_num": _index(csq, "ALLELE_NUM"),
            "consequence": _index(csq, "Consequence"),
            "impact": _index(csq, "IMPACT"),
            "gene": _index(csq, "SYMBOL", "Gene"),
            "gene_id": _index(csq, "Gene") if _index(csq, "SYMBOL") is not None else None,
            "transcript": _index(csq, "Feature"),
            "biotype": _index(csq, "BIOTYPE"),
            "hgvs_c": _index(csq, "HGVSc"),
            "hgvs_p": _index(csq, "HGVSp"),
        }

    def parse(self, info: Mapping[str, Any], ref: str, alts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Per ALT (index 0 = first ALT), the parsed entries that belong to it."""
        n = max(1, len(alts))
        out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for name in self.present:
            raw = info.get(name)
            if not isinstance(raw, str) or not raw or raw == ".":
                continue
            for entry in raw.split(","):
                if not entry:
                    continue
                if name == "ANN":
                    parsed, target = self._parse_ann(entry, alts)
                elif name == "EFF":
                    parsed, target = self._parse_eff(entry, n)
                else:
                    parsed, target = self._parse_csq(entry, ref, alts)
                if target is None:
                    for bucket in out:
                        bucket.append(parsed)
                else:
                    out[target].append(parsed)
        return out

    @staticmethod
    def _entry(source: str, allele: str | None, consequence: str | None, impact: str | None) -> dict[str, Any]:
        terms = [t for t in (consequence or "").split("&") if t]
        if impact is None and terms:
            ranks = [IMPACT_RANK[_VEP_IMPACT.get(t, "MODIFIER")] for t in terms]
            impact = list(IMPACT_RANK)[min(ranks)]
        return {
            "source": source,
            "allele": allele,
            "consequence": terms[0] if terms else None,
            "consequences": terms,
            "impact": impact.upper() if impact else None,
        }

    def _parse_ann(self, entry: str, alts: Sequence[str]) -> tuple[dict[str, Any], int | None]:
        parts = entry.split("|")
        f = self._ann
        allele = _field(parts, f["allele"])
        parsed = self._entry("ANN", allele, _field(parts, f["consequence"]), _field(parts, f["impact"]))
        for key in ("gene", "gene_id", "transcript", "biotype", "hgvs_c", "hgvs_p"):
            parsed[key] = _field(parts, f[key])
        target = None
        if len(alts) == 1:
            target = 0
        elif allele is not None:
            # ANN names compound-het alleles as "A-C"; only the plain ALT sequence is matched.
            target = next((i for i, a in enumerate(alts) if a == allele), None)
        return parsed, target

    def _parse_eff(self, entry: str, n_alts: int) -> tuple[dict[str, Any], int | None]:
        match = re.match(r"\s*([^(]*)\((.*)\)\s*$", entry)
        effect, body = (match.group(1), match.group(2)) if match else (entry, "")
        parts = body.split("|")
        f = self._eff
        parsed = self._entry("EFF", None, effect.strip().lower() or None, _field(parts, f["impact"]))
        parsed["gene"] = _field(parts, f["gene"])
        parsed["gene_id"] = None
        parsed["transcript"] = _field(parts, f["transcript"])
        parsed["biotype"] = _field(parts, f["biotype"])
        aa = _field(parts, f["aa_change"]) or ""
        hgvs_p = next((p for p in aa.split("/") if p.startswith("p.")), aa if aa and "/" not in aa else None)
        parsed["hgvs_p"] = hgvs_p or None
        parsed["hgvs_c"] = next((p for p in aa.split("/") if p.startswith("c.")), None)
        target = 0 if n_alts == 1 else None
        number = _field(parts, f["genotype"])
        if target is None and number and number.isdigit() and 1 <= int(number) <= n_alts:
            target = int(number) - 1
        parsed["allele"] = number
        return parsed, target

    def _parse_csq(self, entry: str, ref: str, alts: Sequence[str]) -> tuple[dict[str, Any], int | None]:
        parts = entry.split("|")
        f = self._csq
        allele = _field(parts, f["allele"])
        parsed = self._entry("CSQ", allele, _field(parts, f["consequence"]), _field(parts, f["impact"]))
        for key in ("gene", "gene_id", "transcript", "biotype", "hgvs_c", "hgvs_p"):
            parsed[key] = _field(parts, f[key])
        target: int | None = None
        number = _field(parts, f["allele_num"])
        if len(alts) == 1:
            target = 0
        elif number and number.isdigit() and 1 <= int(number) <= len(alts):
            target = int(number) - 1
        elif allele is not None:
            target = next((i for i, a in enumerate(alts) if a == allele), None)
            if target is None:
                target = next((i for i, a in enumerate(alts) if _vep_allele(ref, a) == allele), None)
        return parsed, target


def most_severe(entries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry with the most severe impact (HIGH > MODERATE > LOW > MODIFIER > none); first on ties."""
    best: dict[str, Any] | None = None
    best_rank = 99
    for entry in entries:
        rank = IMPACT_RANK.get(entry.get("impact") or "", 4)
        if rank < best_rank:
            best, best_rank = entry, rank
    return best
