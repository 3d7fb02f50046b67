"""ClinVar's fields and population frequencies, as a clinician reads them.

ClinVar VCFs (and files annotated from them) carry:

- ``CLNSIG``: the clinical significance. Current files write terms (``Pathogenic``,
  ``Likely_pathogenic``, ``Pathogenic/Likely_pathogenic``, ``Conflicting_classifications...``);
  older ones (and dbNSFP-era annotations) write numeric codes whose meaning is only in the
  header's description (``0 - Uncertain significance, ..., 5 - Pathogenic, ...``), several
  submissions joined by ``|`` and alleles by ``,``. :func:`clnsig_codes` reads that table from
  the header; :func:`decode_clnsig` turns codes into ClinVar's current spelling (spaces as
  ``_``), so a filter on ``Pathogenic`` matches both styles.
- ``CLNREVSTAT``: the review status, which ClinVar shows as 0-4 gold stars (:func:`review_stars`).
- ``GENEINFO`` (``SYMBOL:GeneID|SYMBOL:GeneID``), ``MC`` (``SO:0001583|missense_variant,...``)
  and ``RS`` (the dbSNP number): ClinVar's gene, molecular consequence and rsid. They become a
  ``ClinVar`` annotation entry, so ``--gene`` finds variants of a ClinVar VCF.

Population frequency: an allele is *rare* by the frequency in a reference population (gnomAD,
ExAC, 1000 Genomes, ESP, TOPMed), never by the file's own ``INFO/AF`` (in a trio that is never
below 1/6). :func:`population_field` recognises those fields by name, in INFO
(``gnomAD_AF``, ``AF_EXAC``, ``ExAC_AF``, ``1000Gp3_AF``, ``AF_TGP``, ``AF_ESP``...) and in VEP's
CSQ (``MAX_AF``, ``gnomAD_AF``, ``gnomADe_AF``, ``AF`` (1000 Genomes there), ``EUR_AF``...).
An allele's ``pop_af`` is VEP's ``MAX_AF`` when given, else the largest recognised value (the
population where it is most common: a variant is rare only if it is rare everywhere), with
``pop_af_source`` naming the field it came from (``CSQ:MAX_AF``, ``INFO:ExAC_AF``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# ClinVar's review statuses and their stars (ClinVar's "review status" documentation).
_STARS = {
    "practice_guideline": 4,
    "reviewed_by_expert_panel": 3,
    "criteria_provided,_multiple_submitters,_no_conflicts": 2,
    "criteria_provided,_multiple_submitters": 2,
    "criteria_provided,_conflicting_interpretations": 1,
    "criteria_provided,_conflicting_classifications": 1,
    "criteria_provided,_single_submitter": 1,
    "no_assertion_criteria_provided": 0,
    "no_assertion_provided": 0,
    "no_classification_provided": 0,
    "no_interpretation_for_the_single_variant": 0,
    "no_classification_for_the_single_variant": 0,
    "no_classifications_from_unflagged_records": 0,
}

_CODE_ITEM = re.compile(r"(?:^|[,;:(])\s*(-?\d+)\s*-\s*([^,;)]+)")


def clnsig_codes(description: str | None) -> dict[str, str]:
    """Numeric CLNSIG code -> term, from a header description like ``"..., 5 - Pathogenic, ..."``;
    empty when the description holds no such table (the file writes terms)."""
    text = (description or "").strip().strip('"')
    codes: dict[str, str] = {}
    for code, term in _CODE_ITEM.findall(text):
        term = term.strip()
        if term:
            codes[code] = clinvar_spelling(term)
    return codes


def clinvar_spelling(term: str) -> str:
    """ClinVar's current spelling: words joined by ``_``, the first letter upper case (a header's
    ``Likely pathogenic``, VEP's ``likely_pathogenic`` -> ``Likely_pathogenic``)."""
    term = re.sub(r"\s+", "_", term.strip())
    return term[:1].upper() + term[1:]


def decode_clnsig(value: Any, codes: Mapping[str, str]) -> str | None:
    """A CLNSIG value as text with numeric codes decoded (separators kept); None when empty."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        parts = [decode_clnsig(v, codes) for v in value]
        text = ",".join(p for p in parts if p)
        return text or None
    text = str(value).strip()
    if not text or text == ".":
        return None
    if not codes:
        return text
    return re.sub(r"-?\d+", lambda m: codes.get(m.group(0), m.group(0)), text)


def clnsig_terms(text: str | None) -> list[str]:
    """The single terms of a CLNSIG text (split on ``/ | , &``), e.g. ``Pathogenic/Likely_pathogenic``
    -> ``[Pathogenic, Likely_pathogenic]``."""
    if not text:
        return []
    return [t for t in re.split(r"[/|,&]", text) if t and t != "."]


def review_stars(status: Any) -> int | None:
    """ClinVar's gold stars (0-4) for a CLNREVSTAT value; None when absent or unknown."""
    if status is None:
        return None
    text = ",".join(str(s) for s in status) if isinstance(status, list | tuple) else str(status)
    key = text.strip().lower().replace(" ", "_")
    if key in _STARS:
        return _STARS[key]
    # multi-valued spellings ("criteria_provided|_single_submitter") and unknown orders of the same words
    key = re.sub(r"[|&]", ",", key)
    return _STARS.get(key)


def parse_geneinfo(value: Any) -> list[tuple[str, str | None]]:
    """``GENEINFO`` (``BRCA2:675|ZAR1L:646799``) -> [(symbol, gene id)]."""
    if value is None:
        return []
    text = "|".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    out = []
    for part in text.split("|"):
        if not part or part == ".":
            continue
        symbol, _, gene_id = part.partition(":")
        if symbol:
            out.append((symbol, gene_id or None))
    return out


def parse_mc(value: Any) -> list[str]:
    """``MC`` (``SO:0001583|missense_variant,SO:0001819|synonymous_variant``) -> the terms."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    terms = []
    for item in items:
        _, _, term = str(item).partition("|")
        term = term or str(item)
        if term and not term.startswith("SO:") and term not in terms:
            terms.append(term)
    return terms


# --- population frequency ----------------------------------------------------------------------

_POP_SOURCES = r"(gnomad|exac|esp\d*|tgp|1000g\w*|1kg\w*|kg|topmed|uk10k|alfa|gonl)"
_INFO_POP = re.compile(
    rf"^(max_af|af_popmax|popmax_af|{_POP_SOURCES}_(\w+_)?af(_\w+)?|af_{_POP_SOURCES}(_\w+)?|{_POP_SOURCES}af)$",
    re.IGNORECASE,
)
_CSQ_POP = re.compile(
    rf"^(max_af|af|(afr|amr|eas|eur|sas|aa|ea)_af|{_POP_SOURCES}\w*_af|af_{_POP_SOURCES}\w*)$", re.IGNORECASE
)


def population_field(name: str, in_csq: bool) -> bool:
    """Whether an INFO key (or a CSQ field, ``in_csq``) holds a reference population's allele
    frequency. INFO's plain ``AF`` is the file's own cohort, never a population; CSQ's plain ``AF``
    is VEP's 1000 Genomes frequency."""
    if not in_csq and name.upper() == "AF":
        return False
    return bool((_CSQ_POP if in_csq else _INFO_POP).match(name))


def as_frequency(value: Any) -> float | None:
    """A frequency value (a number, or VEP's text like ``0.0012`` or ``0.01&0.02``) as a float in
    [0, 1]; None when absent or not a frequency. Several values (``&``) give the largest."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        f = float(value)
    else:
        best = None
        for part in re.split(r"[&,]", str(value)):
            try:
                v = float(part)
            except ValueError:
                continue
            best = v if best is None or v > best else best
        if best is None:
            return None
        f = best
    if f != f or f < 0 or f > 1:  # NaN or not a frequency
        return None
    return f


def best_frequency(candidates: Iterable[tuple[str, float]]) -> tuple[float | None, str | None]:
    """``(pop_af, source)`` from ``(source, value)`` pairs: a ``MAX_AF`` field when present, else the largest."""
    best: tuple[float | None, str | None] = (None, None)
    for source, value in candidates:
        if source.upper().endswith(":MAX_AF"):
            return value, source
        if best[0] is None or value > best[0]:
            best = (value, source)
    return best


__all__ = [
    "as_frequency", "best_frequency", "clinvar_spelling", "clnsig_codes", "clnsig_terms", "decode_clnsig",
    "parse_geneinfo", "parse_mc", "population_field", "review_stars",
]  # fmt: skip
