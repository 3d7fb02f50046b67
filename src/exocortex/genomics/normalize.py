"""Allele normalisation: the minimal REF/ALT of a split allele, and left-alignment against a reference.

A multi-allelic record ``CAG -> GAG,C`` is stored one row per ALT; written against the record's
REF, the first row reads ``CAG>GAG``, which is the SNV ``C>G`` with two bases of context. Left
that way the same change has several keys (``vcf similar 20:10132722:C:G`` finds nothing), is
typed MNV and drops out of Ti/Tv. :func:`trim_alleles` gives the representation ``bcftools norm``
writes for split records: the common suffix trimmed, then the common prefix, each allele keeping
at least one base, POS moved right by the prefix bases removed. Symbolic (``<DEL>``), breakend,
``*`` and missing alleles are left as they are: they have no bases to trim.
"""

from __future__ import annotations

_SEQUENCE = frozenset("ACGTNacgtn")


def is_sequence(allele: str | None) -> bool:
    """Whether ``allele`` is plain bases (not symbolic, a breakend, ``*`` or missing)."""
    return bool(allele) and _SEQUENCE.issuperset(allele)  # type: ignore[arg-type]


def trim_alleles(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """``(pos, ref, alt)`` with the common suffix, then the common prefix, trimmed (one base kept in each).

    Bases compare case-insensitively, as htslib does; the kept bases are those of the file.
    """
    if len(ref) < 2 or len(alt) < 2 or not is_sequence(alt):
        return pos, ref, alt
    r, a = ref.upper(), alt.upper()
    end_r, end_a = len(r), len(a)
    while end_r > 1 and end_a > 1 and r[end_r - 1] == a[end_a - 1]:
        end_r -= 1
        end_a -= 1
    start = 0
    while start < end_r - 1 and start < end_a - 1 and r[start] == a[start]:
        start += 1
    if start == 0 and end_r == len(r):
        return pos, ref, alt
    return pos + start, ref[start:end_r], alt[start:end_a]
