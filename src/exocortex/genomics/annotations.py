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
strings into, per ALT allele, a list of uniform dicts (:data:`ENTRY_FIELDS`): gene, transcript,
consequence terms, impact, HGVS, canonical/MANE flags, loss-of-function flags, CSQ's CLIN_SIG and
its population frequencies. Each entry is one annotator's statement about one transcript, and
the store keeps it as one row (the ``annotations`` table), so a filter on gene *and* impact holds
on one and the same entry.

Within an entry, ``consequence`` is its most severe term (Ensembl's order, :data:`SO_TERMS`)
and ``impact`` is the annotator's own (ANN, CSQ's IMPACT, EFF) or, without one, the impact of
that most severe term: the term shown is the one the impact is about. :func:`most_severe`
picks the entry for the variant row's summary: by impact, then term severity, then MANE and
canonical transcripts, then file order.

Loss of function (``is_lof``): LOFTEE's ``LoF=HC`` when the CSQ layout has LOFTEE's ``LoF``
field (its ``LC`` and unflagged entries are then not LoF); snpEff's ``LOF`` INFO field (per gene)
for that gene's HIGH-impact entries when the file has it; otherwise, with no LoF tool run, an
entry whose most severe term is a predicted-LoF term (:data:`PLOF_TERMS`). ``lof`` says which
rule gave it (``HC``/``LC`` from LOFTEE, ``snpEff``, ``consequence``). snpEff's ``NMD`` marks
``nmd`` the same way.

ClinVar: a record with ``GENEINFO`` or ``MC`` gets one ``ClinVar`` entry per gene (its MC terms,
the decoded CLNSIG), see :mod:`exocortex.genomics.clinical`.

Entries whose allele matches no ALT are kept on every allele rather than dropped. Parsing runs
only on records that carry one of these fields, so files without annotations pay nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from exocortex.genomics.clinical import (
    as_frequency,
    clinvar_spelling,
    clnsig_codes,
    decode_clnsig,
    parse_geneinfo,
    parse_mc,
    population_field,
)

IMPACT_RANK = {"HIGH": 0, "MODERATE": 1, "LOW": 2, "MODIFIER": 3}
ANNOTATION_FIELDS = ("ANN", "EFF", "CSQ")
CLINVAR_FIELDS = ("GENEINFO", "MC")
"""INFO fields that make a record's ClinVar entry."""
HEADER_FIELDS = (*ANNOTATION_FIELDS, *CLINVAR_FIELDS, "CLNSIG", "LOF", "NMD")
"""The INFO fields whose header descriptions :class:`AnnotationParser` reads."""
ENTRY_FIELDS = (
    "source", "allele", "gene", "gene_id", "transcript", "biotype", "consequence", "consequences", "impact",
    "hgvs_c", "hgvs_p", "canonical", "mane", "lof", "is_lof", "nmd", "clin_sig",
)  # fmt: skip
"""The keys of a parsed entry (plus ``pop``: its population frequencies as (field, value) pairs)."""

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
SO_TERMS = (
    *_HIGH_TERMS, *_MODERATE_TERMS, *_LOW_TERMS, "coding_sequence_variant", "mature_miRNA_variant",
    "5_prime_UTR_variant", "3_prime_UTR_variant", "non_coding_transcript_exon_variant", "non_coding_exon_variant",
    "intron_variant", "NMD_transcript_variant", "non_coding_transcript_variant", "nc_transcript_variant",
    "coding_transcript_variant", "upstream_gene_variant", "downstream_gene_variant", "TFBS_ablation",
    "TFBS_amplification", "TF_binding_site_variant", "regulatory_region_ablation", "regulatory_region_amplification",
    "regulatory_region_variant", "intergenic_variant", "sequence_variant",
)  # fmt: skip
"""Consequence terms from most to least severe (Ensembl's order; snpEff's older spellings beside theirs)."""
_TERM_RANK = {t: i for i, t in enumerate(SO_TERMS)}
PLOF_TERMS = frozenset(
    {"transcript_ablation", "splice_acceptor_variant", "splice_donor_variant", "stop_gained", "frameshift_variant",
     "start_lost", "exon_loss_variant"}
)  # fmt: skip
"""Predicted loss-of-function terms (as gnomAD counts pLoF), used when no LoF tool annotated the file."""


def term_rank(term: str) -> int:
    """A consequence term's place in :data:`SO_TERMS` (unknown terms after every known one)."""
    return _TERM_RANK.get(term, len(SO_TERMS))


class AnnotationMismatch(ValueError):
    """An ANN/CSQ entry whose field count is not the one its header's ``Format:`` declares: the
    fields cannot be named, so the record is rejected (with this message) rather than misread."""


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
    """Parses a file's ANN/EFF/CSQ strings (and its ClinVar fields), with layouts taken from the file's header."""

    def __init__(self, descriptions: Mapping[str, str | None]) -> None:
        self.present = tuple(f for f in ANNOTATION_FIELDS if f in descriptions)
        self.clinvar = any(f in descriptions for f in CLINVAR_FIELDS)
        """The file has ClinVar's GENEINFO or MC: records carrying them get a ClinVar entry."""
        self.snpeff_lof = "LOF" in descriptions
        self.snpeff_nmd = "NMD" in descriptions
        self.clnsig_codes = clnsig_codes(descriptions.get("CLNSIG"))
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
            "canonical": _index(csq, "CANONICAL"),
            "mane": _index(csq, "MANE_SELECT", "MANE"),
            "lof": _index(csq, "LoF"),
            "clin_sig": _index(csq, "CLIN_SIG"),
        }
        self._csq_pop = [(i, f"CSQ:{name}") for i, name in enumerate(csq) if population_field(name, True)]
        self._widths = {
            name: len(layout)
            for name, layout in (("ANN", ann), ("CSQ", csq))
            if re.search(r"Format:", descriptions.get(name) or "", flags=re.IGNORECASE)
        }
        """Fields per entry that a header's own ``Format:`` declares (entries are checked against it)."""
        """(field index, source name) of CSQ's population frequencies (gnomAD_AF, MAX_AF, ...)."""

    def parse(self, info: Mapping[str, Any], ref: str, alts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Per ALT (index 0 = first ALT), the parsed entries that belong to it; ``AnnotationMismatch``
        when an entry's field count disagrees with its header."""
        n = max(1, len(alts))
        out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for name in self.present:
            raw = info.get(name)
            if not isinstance(raw, str) or not raw or raw == ".":
                continue
            width = self._widths.get(name)
            for number, entry in enumerate(raw.split(","), start=1):
                if not entry:
                    continue
                if width is not None and (got := entry.count("|") + 1) != width:
                    raise AnnotationMismatch(
                        f"INFO/{name} entry {number} has {got} fields where the header's Format declares {width}"
                    )
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
        if self.snpeff_lof or self.snpeff_nmd:
            lof_genes = _snpeff_genes(info.get("LOF")) if self.snpeff_lof else set()
            nmd_genes = _snpeff_genes(info.get("NMD")) if self.snpeff_nmd else set()
            for bucket in out:
                for e in bucket:
                    if e["source"] in ("ANN", "EFF") and e["impact"] == "HIGH":
                        if self.snpeff_lof:
                            e["is_lof"] = e["gene"] in lof_genes
                            e["lof"] = "snpEff" if e["is_lof"] else None
                        e["nmd"] = e["gene"] in nmd_genes
        if self.clinvar:
            for clinvar in self._clinvar_entries(info):
                for bucket in out:
                    bucket.append(clinvar)
        return out

    def _clinvar_entries(self, info: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One ClinVar entry per GENEINFO gene (one without a gene when only MC is given)."""
        genes: list[tuple[str | None, str | None]] = list(parse_geneinfo(info.get("GENEINFO")))
        terms = parse_mc(info.get("MC"))
        if not genes and not terms:
            return []
        clin_sig = decode_clnsig(info.get("CLNSIG"), self.clnsig_codes)
        entries = []
        for symbol, gene_id in genes or [(None, None)]:
            e = self._entry("ClinVar", None, "&".join(terms) or None, None)
            e.update(gene=symbol, gene_id=gene_id, clin_sig=clin_sig)
            entries.append(e)
        return entries

    def _entry(self, source: str, allele: str | None, consequence: str | None, impact: str | None) -> dict[str, Any]:
        terms = [t for t in (consequence or "").split("&") if t]
        worst = min(terms, key=term_rank) if terms else None  # the first of equally unknown terms
        if impact is None and terms:
            ranks = [IMPACT_RANK[_VEP_IMPACT.get(t, "MODIFIER")] for t in terms]
            impact = list(IMPACT_RANK)[min(ranks)]
        lof_tool = (source == "CSQ" and self._csq["lof"] is not None) or (source != "CSQ" and self.snpeff_lof)
        plof = not lof_tool and worst is not None and worst in PLOF_TERMS
        return {
            "source": source,
            "allele": allele,
            "gene": None,
            "gene_id": None,
            "transcript": None,
            "biotype": None,
            "consequence": worst,
            "consequences": terms,
            "impact": impact.upper() if impact else None,
            "hgvs_c": None,
            "hgvs_p": None,
            "canonical": False,
            "mane": None,
            "lof": "consequence" if plof else None,
            "is_lof": plof,
            "nmd": False,
            "clin_sig": None,
            "pop": [],
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
        for key in ("gene", "gene_id", "transcript", "biotype", "hgvs_c", "hgvs_p", "mane"):
            parsed[key] = _field(parts, f[key])
        parsed["canonical"] = (_field(parts, f["canonical"]) or "").upper() == "YES"
        lof = _field(parts, f["lof"])
        if f["lof"] is not None:  # LOFTEE ran: its verdict decides
            parsed["lof"] = lof
            parsed["is_lof"] = lof == "HC"
        clin_sig = _field(parts, f["clin_sig"])
        if clin_sig:
            parsed["clin_sig"] = "/".join(clinvar_spelling(t) for t in clin_sig.split("&") if t)
        for idx, name in self._csq_pop:
            value = as_frequency(_field(parts, idx))
            if value is not None:
                parsed["pop"].append((name, value))
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


def _snpeff_genes(value: Any) -> set[str]:
    """The genes named by snpEff's ``LOF``/``NMD`` INFO value: ``(GENE|ID|n|pct),(...)``."""
    if value is None:
        return set()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    genes = set()
    for item in items:
        gene = str(item).strip().strip("()").split("|")[0].strip()
        if gene:
            genes.add(gene)
    return genes


def _severity(entry: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """How an entry sorts for the variant's summary: impact, term, MANE, canonical (smaller first)."""
    term = entry.get("consequence")
    return (
        IMPACT_RANK.get(entry.get("impact") or "", 4),
        term_rank(term) if term else len(SO_TERMS) + 1,
        0 if entry.get("mane") else 1,
        0 if entry.get("canonical") else 1,
    )


SUMMARY_COLUMNS = ("gene", "consequence", "impact", "transcript", "hgvs_c", "hgvs_p")
"""The variant row's columns taken from its most severe entry."""


def row_summary(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A variant row's annotation columns from its entries: :data:`SUMMARY_COLUMNS` of the most
    severe one, and the any-entry columns (``genes``, ``consequences``, ``impacts``, ``lof``)."""
    best = most_severe(entries) or {}
    out = {name: best.get(name) for name in SUMMARY_COLUMNS}
    out["genes"] = list(dict.fromkeys(e["gene"] for e in entries if e["gene"]))
    out["consequences"] = list(dict.fromkeys(t for e in entries for t in e["consequences"] or ()))
    out["impacts"] = list(dict.fromkeys(e["impact"] for e in entries if e["impact"]))
    out["lof"] = any(e["is_lof"] for e in entries) if entries else None
    return out


def most_severe(entries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry the variant row summarises: the most severe impact (HIGH > MODERATE > LOW >
    MODIFIER > none), then the most severe term, then a MANE or canonical transcript; first on ties."""
    best: dict[str, Any] | None = None
    best_key: tuple[int, int, int, int] | None = None
    for entry in entries:
        key = _severity(entry)
        if best_key is None or key < best_key:
            best, best_key = entry, key
    return best
