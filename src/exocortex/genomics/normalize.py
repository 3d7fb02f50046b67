"""Allele normalisation: the minimal REF/ALT of a split allele, and left-alignment against a reference.

A multi-allelic record ``CAG -> GAG,C`` is stored one row per ALT; written against the record's
REF, the first row reads ``CAG>GAG``, which is the SNV ``C>G`` with two bases of context. Left
that way the same change has several keys (``vcf similar 20:10132722:C:G`` finds nothing), is
typed MNV and drops out of Ti/Tv. :func:`trim_alleles` gives the representation ``bcftools norm``
writes for split records: the common suffix trimmed, then the common prefix, each allele keeping
at least one base, POS moved right by the prefix bases removed. Symbolic (``<DEL>``), breakend,
``*`` and missing alleles are left as they are: they have no bases to trim.

With a reference (``vcf ingest --fasta``), :func:`left_align` then moves each insertion or
deletion to its leftmost equivalent position (``bcftools norm -f``): ``CAAAA -> CAAA`` at the end
of a run of A and ``GCA -> G`` before it are one deletion, with one key. :func:`ref_mismatch` is
the check that the file was called on that reference: it runs over the whole file before anything
is written (:func:`~exocortex.genomics.ingest.ingest_vcf`).
"""

from __future__ import annotations

from typing import Protocol

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


class Reference(Protocol):
    """What left-alignment reads of a reference: :class:`~exocortex.genomics.fasta.IndexedFasta`."""

    def fetch(self, name: str, start: int, end: int) -> str: ...


def left_align(fasta: Reference, chrom: str, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """An insertion or deletion moved to its leftmost equivalent position, as ``bcftools norm -f`` does.

    The alleles are trimmed of a common last base while they share one, extended by the reference
    base before them whenever one runs empty, then trimmed of a common first base (one base kept in
    each). Alleles of the same length (SNV, MNV) are only trimmed. ``fasta`` must hold ``chrom``;
    the REF is taken as checked against it (:func:`ref_mismatch`). Bases come back upper case.
    """
    if len(ref) == len(alt) or not is_sequence(alt):
        return trim_alleles(pos, ref, alt)
    r, a, p = ref.upper(), alt.upper(), pos
    while True:
        changed = False
        if r and a and r[-1] == a[-1]:
            r, a, changed = r[:-1], a[:-1], True
        if not r or not a:
            if p <= 1:  # nothing before the first base to anchor on: leave the allele as it was
                return trim_alleles(pos, ref, alt)
            base = fasta.fetch(chrom, p - 2, p - 1)
            if not base:
                return trim_alleles(pos, ref, alt)
            r, a, p, changed = base + r, base + a, p - 1, True
        if not changed:
            break
    start = 0
    while start < len(r) - 1 and start < len(a) - 1 and r[start] == a[start]:
        start += 1
    return p + start, r[start:], a[start:]


def ref_mismatch(fasta: Reference, chrom: str, pos: int, ref: str) -> str | None:
    """The FASTA's bases where ``ref`` (at 1-based ``pos``) differs from them, else None.

    Case does not matter, and an ``N`` on either side matches any base (bcftools' check too).
    """
    bases = fasta.fetch(chrom, pos - 1, pos - 1 + len(ref))
    upper = ref.upper()
    if bases == upper:
        return None
    if len(bases) == len(upper) and all(x == y or x == "N" or y == "N" for x, y in zip(bases, upper, strict=True)):
        return None
    return bases
