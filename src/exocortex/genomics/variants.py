"""The variant store's public class: ``Variants.open(store)``, then one method per question.

``exocortex vcf ingest | annotate | validate | query | blocks | stats | samples | genotype |
inheritance | similar | graph | export`` and the variant tools of the MCP server are each one
call on :class:`Variants`; every check of an argument lives here, so the Python API and the
command line refuse the same things with the same errors (and exit codes).

The genomics modules it calls (cyvcf2, Lance, LadybugDB, pyarrow behind them) and the
configuration are imported inside the methods: the CLI imports this module at start-up for free.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exocortex.errors import ConfigError, InputPathError, UsageError, VcfFormatError

if TYPE_CHECKING:
    from exocortex.config import Config
    from exocortex.genomics.annotate import AnnotateSummary
    from exocortex.genomics.blocks import RefBlocksResult
    from exocortex.genomics.cohort import GenotypeAnswer
    from exocortex.genomics.export import ExportSummary
    from exocortex.genomics.graph import CypherResult, GraphReport
    from exocortex.genomics.ingest import IngestSummary
    from exocortex.genomics.inheritance import InheritanceResult
    from exocortex.genomics.pedigree import SamplesReport
    from exocortex.genomics.query import QueryResult
    from exocortex.genomics.similar import SimilarResult
    from exocortex.genomics.stats import VariantStats
    from exocortex.genomics.validate import ValidationReport

DEFAULT_MAX_PROBLEMS = 100
"""Problems :meth:`Variants.validate` keeps in detail unless told otherwise (all are counted)."""
EXPORT_FORMATS = ("vcf", "bcf", "parquet", "zarr")
"""What :meth:`Variants.export` writes (``genomics/export.py``)."""

PathArg = str | os.PathLike[str]


def variant_store_dir(store: PathArg | None = None, configured: str | None = None) -> Path:
    """``store``, else ``configured`` (``$EXOCORTEX_STORE``), else ``./.exocortex``: as for a code index.

    An empty ``store`` counts as none given. The path is kept as written (relative stays relative).
    """
    from exocortex.config import STORE_DIRNAME

    text = os.fspath(store) if store is not None else ""
    return Path(text or configured or STORE_DIRNAME)


@dataclass(frozen=True)
class GraphAnswer:
    """What :meth:`Variants.graph` did: the build report (``build=True``) and the query's rows (a query given)."""

    build: GraphReport | None
    result: CypherResult | None

    def to_dict(self) -> dict[str, Any]:
        """``{"build": ...}`` when the graph was built, then the result's ``columns, rows, truncated, stale``."""
        data: dict[str, Any] = {}
        if self.build is not None:
            data["build"] = self.build.to_dict()
        if self.result is not None:
            data.update(self.result.to_dict())
        return data


def _whole(value: object, error: type[ConfigError] | type[UsageError], refusal: str) -> int:
    """``value`` as an int (a NumPy integer too, never a bool), or ``error(refusal)``."""
    if isinstance(value, bool):
        raise error(refusal)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise error(refusal) from None


class Variants:
    """The variant store in one directory: ingest VCF/BCF files into it, then ask it questions.

    >>> from exocortex import Variants
    >>> variants = Variants.open("/tmp/store")                    # doctest: +SKIP
    >>> variants.ingest(["calls.vcf.gz"]).records                  # doctest: +SKIP
    >>> result = variants.query(gene="BRCA2", min_qual=30)         # doctest: +SKIP
    >>> result.matched, result.rows.num_rows                       # doctest: +SKIP
    >>> variants.similar("chr13:32315508:G:A", k=5).neighbours     # doctest: +SKIP
    >>> variants.graph("MATCH (g:Gene) RETURN g.symbol", build=True).result.rows  # doctest: +SKIP

    ``Variants.open()`` with no store uses ``$EXOCORTEX_STORE``, else ``./.exocortex``.
    ``Variants.validate(file)`` checks a file without a store. Errors are the classes of
    :mod:`exocortex.errors`: ``ConfigError`` for a bad filter, limit or setting, ``UsageError``
    for a bad count or no file, ``IndexNotFoundError`` before anything was ingested,
    ``NoMatchesError`` for an unknown sample or variant, ``VcfFormatError`` for an unreadable file.
    """

    def __init__(self, store: Path, config: Config) -> None:
        self.store = store
        """The store directory (the variant store is its ``genomics/`` folder)."""
        self.config = config

    @classmethod
    def open(cls, store: PathArg | None = None, **settings: Any) -> Variants:
        """The variant store at ``store`` (default ``$EXOCORTEX_STORE`` or ``./.exocortex``); reads nothing yet.

        ``settings`` override fields of :class:`exocortex.config.Config` (``lock_wait_s``,
        ``graph_query_timeout_s``, ``graph_query_memory_bytes``); the ``EXOCORTEX_*`` variables
        are read, config files are not (a store has no project root). ``graph_max_rows`` is read
        from ``EXOCORTEX_GRAPH_MAX_ROWS`` by the graph module itself.
        Raises ``ConfigError`` for an unknown or out-of-range setting.
        """
        from exocortex.config import load_config

        config = load_config(None, **settings)
        return cls(variant_store_dir(store, config.store), config)

    def holds_variants(self) -> bool:
        """Whether variants were ingested here: the variant store's manifest exists (no table is opened)."""
        from exocortex.genomics.store import GENOMICS_DIR, MANIFEST

        return (self.store / GENOMICS_DIR / MANIFEST).is_file()

    # --------------------------------------------------------------------------- writing

    def ingest(
        self,
        files: PathArg | Iterable[PathArg],
        *,
        batch_size: int | None = None,
        resume: bool = False,
        replace: bool = False,
        build_indexes: bool = True,
        wait_s: float | None = None,
        progress: Callable[[str, int], None] | None = None,
        fasta: PathArg | None = None,
        merge: bool = True,
    ) -> IngestSummary:
        """Stream VCF/BCF ``files`` into the store: alleles, non-reference calls, samples, sources.

        ``batch_size`` records are committed at a time (default 50,000); ``resume`` continues an
        interrupted ingest of the same file after its last batch; ``replace`` re-ingests a file
        whose content is already in the store; ``build_indexes=False`` skips the scalar indexes;
        ``wait_s`` is how long to wait for another writer (default ``lock_wait_s``);
        ``progress(path, records)`` is called as records are read; ``fasta``: the plain, indexed
        (``samtools faidx``) reference FASTA the files were called on: indels are left-aligned on it
        as ``bcftools norm -f`` does, and the assembly is recorded in ``sources.reference``.
        Files of the same samples merge
        (``merge``, the default): a sample name already in the store keeps its sample, and a key
        another file holds keeps its one row, this file's calls attached to it (the first file wins
        a disagreement; ``FileSummary.conflicts`` counts them); ``merge=False`` keeps files apart.

        Raises ``UsageError`` (no file, ``batch_size`` below 1), ``InputPathError`` (a file or the
        FASTA missing),
        ``VcfFormatError`` (every file is checked before anything is written; with ``fasta``, a
        contig it lacks or a REF that differs from it, the first one named), ``ConfigError`` (a
        compressed or malformed FASTA),
        ``DuplicateSourceError`` and ``StoreLockedError``.
        """
        from exocortex.genomics.ingest import DEFAULT_BATCH_RECORDS, ingest_vcf

        paths = [files] if isinstance(files, str | os.PathLike) else list(files)
        if not paths:
            raise UsageError("give at least one VCF/BCF file to ingest")
        if fasta is not None and not Path(os.fspath(fasta)).is_file():
            raise InputPathError(f"no such FASTA file: {os.fspath(fasta)} (--fasta takes a plain, indexed FASTA)")
        size = DEFAULT_BATCH_RECORDS
        if batch_size is not None:
            size = _whole(batch_size, UsageError, f"--batch-size must be at least 1 (got {batch_size!r})")
            if size < 1:
                raise UsageError(f"--batch-size must be at least 1 (got {batch_size!r})")
        return ingest_vcf(
            [p if isinstance(p, str) else Path(p) for p in paths],
            self.store,
            batch_size=size,
            resume=resume,
            replace=replace,
            build_indexes=build_indexes,
            lock_wait_s=self.config.lock_wait_s if wait_s is None else wait_s,
            progress=progress,
            fasta=None if fasta is None else Path(os.fspath(fasta)),
            merge=merge,
        )

    def annotate(
        self,
        *,
        clinvar: PathArg | None = None,
        population: PathArg | None = None,
        population_field: str = "AF",
        wait_s: float | None = None,
    ) -> list[AnnotateSummary]:
        """Join a ClinVar VCF (CLNSIG decoded, review stars, GENEINFO/MC as a ClinVar entry) and/or a
        population VCF (its ``population_field`` as ``pop_af``) into the stored alleles by normalised key.

        Raises ``UsageError`` (neither file given), ``InputPathError``, ``VcfFormatError`` (unreadable,
        or a ClinVar file without CLNSIG), ``ConfigError`` (no such population field),
        ``IndexNotFoundError`` (nothing ingested), ``StoreLockedError``.
        """
        if clinvar is None and population is None:
            raise UsageError("give --clinvar FILE and/or --population FILE to annotate from")
        if not population_field or not population_field.strip():
            raise ConfigError("--population-field is empty")
        from exocortex.genomics.annotate import annotate_store

        wait = self.config.lock_wait_s if wait_s is None else wait_s
        out = []
        if clinvar is not None:
            out.append(annotate_store(self.store, Path(clinvar), "clinvar", wait_s=wait))
        if population is not None:
            out.append(
                annotate_store(
                    self.store, Path(population), "population", population_field=population_field, wait_s=wait
                )
            )
        return out

    @staticmethod
    def validate(
        file: PathArg,
        *,
        strict: bool = False,
        max_problems: int = DEFAULT_MAX_PROBLEMS,
        on_report: Callable[[ValidationReport], None] | None = None,
    ) -> ValidationReport:
        """Stream ``file`` and report its header and record problems, with line (or BCF record) numbers.

        A file of the store's kind, not the store: call it on the class (``Variants.validate(path)``)
        or on an open store. The first ``max_problems`` problems are kept in detail, all are
        counted. ``on_report(report)`` is called with the report before any error below is raised
        (the CLI prints it that way).

        Raises ``VcfFormatError`` when the file cannot be read as VCF/BCF at all (empty, not VCF,
        no ``#CHROM`` line, truncated), and with ``strict`` when any problem was found;
        ``InputPathError`` when ``file`` is missing or not a file; ``UsageError`` for a negative
        ``max_problems``.
        """
        refusal = f"--max-problems must be 0 or more (got {max_problems!r})"
        if _whole(max_problems, UsageError, refusal) < 0:
            raise UsageError(refusal)
        from exocortex.genomics.validate import validate_vcf

        name = os.fspath(file)
        report = validate_vcf(name, max_problems=max_problems)
        if on_report is not None:
            on_report(report)
        if report.fatal is not None:
            raise VcfFormatError(f"{name}: {report.fatal}")
        if strict and report.total_problems:
            raise VcfFormatError(f"{name}: {report.total_problems:,} problems found (--strict)")
        return report

    # --------------------------------------------------------------------------- questions

    def query(
        self,
        region: str | None = None,
        *,
        gene: str | None = None,
        sample: str | None = None,
        zygosity: str | None = None,
        min_af: float | None = None,
        max_af: float | None = None,
        min_qual: float | None = None,
        filter: str | None = None,  # the VCF column's name, as in VariantQuery
        consequence: str | None = None,
        impact: str | None = None,
        clnsig: str | None = None,
        where: str | None = None,
        limit: int | None = None,
        with_carriers: bool = True,
        lof: bool = False,
        max_pop_af: float | None = None,
        min_stars: int | None = None,
    ) -> QueryResult:
        """The variants matching every filter given, by chromosome and position, at most ``limit`` (default 20).

        ``region``: ``CHROM``, ``CHROM:POS`` or ``CHROM:START-END`` (``chr`` or not);
        ``gene``, ``consequence``, ``impact`` and ``lof`` (loss of function: LOFTEE HC, snpEff LOF, or a
        pLoF term when no LoF tool ran) hold together on one annotation entry (a VEP/snpEff transcript
        or ClinVar's gene); ``max_pop_af``: the reference-population frequency (gnomAD, ExAC, 1000
        Genomes... from annotations), alleles without one never match; ``min_stars``: ClinVar review
        stars (0-4); ``sample`` (with ``zygosity``: ``het``,
        ``hom_alt``, ``hemi``, ``het_alt``): alleles it carries; ``min_af``/``max_af``/``min_qual``:
        inclusive bounds; ``filter``: ``PASS`` or one failed filter; ``impact``: ``HIGH``,
        ``MODERATE``, ``LOW``, ``MODIFIER`` (comma list); ``clnsig``: a ClinVar term; ``where``: an
        extra Lance SQL predicate. The result's ``matched`` counts every match; ``carriers``
        lists each returned variant's carriers unless ``with_carriers=False``.

        Raises ``ConfigError`` (a region, impact, zygosity, bound or predicate that is wrong, a
        negative limit), ``NoMatchesError`` (a sample the store does not hold),
        ``IndexNotFoundError`` (nothing ingested), ``InputPathError`` (the store is a file).
        """
        from exocortex.genomics.query import DEFAULT_LIMIT, VariantQuery, run_query

        stars = None
        if min_stars is not None:
            stars = _whole(min_stars, ConfigError, f"--min-stars must be 0 to 4 (got {min_stars!r})")
        count = DEFAULT_LIMIT
        if limit is not None:
            count = _whole(limit, ConfigError, f"--limit must be a whole number of 0 or more (got {limit!r})")
        q = VariantQuery(
            region=region, gene=gene, sample=sample, zygosity=zygosity, min_af=min_af, max_af=max_af,
            min_qual=min_qual, filter=filter, consequence=consequence, impact=impact, clnsig=clnsig,
            where=where, limit=count, lof=bool(lof), max_pop_af=max_pop_af,
            min_stars=stars,
        )  # fmt: skip
        return run_query(self.store, q, with_carriers=with_carriers)  # a negative limit: ConfigError there

    def reference_calls(self, region: str, *, sample: str | None = None, limit: int | None = None) -> RefBlocksResult:
        """The gVCF reference blocks overlapping ``region``: "was this sample confidently hom-ref here?".

        Each block gives its sample, ``[pos, end]``, GT (``0/0``, or ``./.`` where nothing was
        called) and GQ, DP, MIN_DP. ``region``: ``CHROM``, ``CHROM:POS`` or ``CHROM:START-END``;
        ``sample``: only that sample's blocks; at most ``limit`` blocks (default 1,000), by position.
        A store without gVCFs answers none. Raises ``ConfigError`` (a bad region, a negative
        limit), ``NoMatchesError`` (an unknown sample), ``IndexNotFoundError`` (nothing ingested).
        """
        from exocortex.genomics.blocks import DEFAULT_BLOCK_LIMIT, reference_blocks

        if not isinstance(region, str) or not region.strip():
            raise ConfigError("give a REGION: CHROM, CHROM:POS or CHROM:START-END")
        count = DEFAULT_BLOCK_LIMIT
        if limit is not None:
            refusal = f"--limit must be a whole number of 0 or more (got {limit!r})"
            count = _whole(limit, ConfigError, refusal)
            if count < 0:
                raise ConfigError(refusal)
        return reference_blocks(self.store, region, sample=sample, limit=count)

    def stats(self) -> VariantStats:
        """Counts by type, chromosome, impact and filter; Ti/Tv; per-sample zygosity counts; missing fields.

        Raises ``IndexNotFoundError`` when nothing was ingested.
        """
        from exocortex.genomics.stats import variant_stats

        return variant_stats(self.store)

    def genotype(self, variant: str | int, sample: str) -> GenotypeAnswer:
        """``sample``'s genotype at ``variant`` (a key ``CHROM:POS:REF:ALT``, a vid or an rsid).

        ``status`` tells what a carriers-only table cannot: ``carrier`` (with GT, zygosity, GQ, DP),
        ``hom_ref``, ``no_call`` (``./.``), ``partial`` (``0/.``), ``no_gt`` (the record has no GT:
        unknown) or ``absent`` (the sample's files hold no record at this site and no reference block
        of the sample covers it; where one does, its answer, with ``ref_block`` true).
        Raises ``UsageError`` for an empty sample name, ``NoMatchesError`` for a variant or sample
        the store does not hold, ``IndexNotFoundError`` when nothing was ingested.
        """
        if not isinstance(sample, str) or not sample.strip():
            raise UsageError(f"give a sample name (got {sample!r})")
        if isinstance(variant, bool) or not isinstance(variant, str | int) or not str(variant).strip():
            raise UsageError(f"give a variant: a key CHROM:POS:REF:ALT, a vid or an rsid (got {variant!r})")
        from exocortex.genomics.cohort import genotype

        return genotype(self.store, variant, sample)

    def samples(self, ped: PathArg | None = None, *, wait_s: float | None = None) -> SamplesReport:
        """The store's samples, one per name, with family, father, mother, sex and affected from the pedigree.

        ``ped``: a PED file (family, sample, father, mother, sex, phenotype) stored first, replacing
        the pedigree; its individuals the store has no sample of are left out and listed in
        ``unknown`` (the rest is applied). Raises ``UsageError`` for a malformed PED line (with its
        number; nothing is written), ``InputPathError`` for a missing PED file,
        ``IndexNotFoundError`` when nothing was ingested, ``StoreLockedError``.
        """
        from exocortex.genomics.pedigree import SamplesReport, list_samples, parse_ped, save_pedigree
        from exocortex.genomics.store import VariantStore

        VariantStore(self.store).table("variants")  # IndexNotFoundError (nothing ingested) before a PED is read
        unknown: list[str] = []
        if ped is not None:
            rows = parse_ped(os.fspath(ped))
            unknown = save_pedigree(self.store, rows, self.config.lock_wait_s if wait_s is None else wait_s)
        return SamplesReport(list_samples(self.store), unknown, None if ped is None else os.fspath(ped))

    def inheritance(
        self,
        mode: str,
        *,
        family: str | None = None,
        proband: str | None = None,
        gene: str | None = None,
        limit: int | None = None,
    ) -> InheritanceResult:
        """Allele rows that follow ``mode`` in the pedigree's trios: ``de_novo`` (the child carries it,
        both parents called hom-ref: a no-call parent does not count), ``recessive`` (the child
        hom-alt, each parent a het carrier) or ``compound_het`` (the child het for two or more alleles
        of one gene, one only from the father, one only from the mother).

        ``proband``: that child only (else the affected trio children, or all when none is marked
        affected); ``family``: that family's trios; ``gene``: alleles of that gene; at most ``limit``
        rows (default 20; ``matched`` counts all). Raises ``UsageError`` (an unknown mode, no
        pedigree, a bad limit), ``NoMatchesError`` (a family or proband without a trio, an unknown
        sample), ``IndexNotFoundError`` (nothing ingested).
        """
        from exocortex.genomics.inheritance import MODES, inheritance

        if mode not in MODES:
            raise UsageError(f"unknown inheritance mode {mode!r} (one of {', '.join(MODES)})")
        count = 20
        if limit is not None:
            count = _whole(limit, UsageError, f"--limit must be a whole number of 0 or more (got {limit!r})")
            if count < 0:
                raise UsageError(f"--limit must be a whole number of 0 or more (got {limit!r})")
        for name, value in (("--proband", proband), ("--family", family), ("--gene", gene)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise UsageError(f"{name} must be a non-empty name (got {value!r})")
        return inheritance(self.store, mode, family=family, proband=proband, gene=gene, limit=count)

    def similar(self, variant: str | int, k: int = 10, *, rebuild: bool = False) -> SimilarResult:
        """The ``k`` variants nearest to ``variant`` (a key ``CHROM:POS:REF:ALT``, a vid or an rsid).

        Nearness is by type, length, position, frequency, consequence, impact and gene. The
        feature vectors are built first when missing or older than the variants, and always with
        ``rebuild``. Raises ``ConfigError`` for ``k`` below 1, ``NoMatchesError`` for a variant
        the store does not hold, ``IndexNotFoundError`` when nothing was ingested.
        """
        refusal = f"--k must be at least 1 (got {k})"
        if _whole(k, ConfigError, refusal) < 1:
            raise ConfigError(refusal)
        from exocortex.genomics.similar import build_features, similar

        if rebuild:
            build_features(self.store, wait_s=self.config.lock_wait_s)
        return similar(self.store, variant, operator.index(k))

    def graph(
        self,
        query: str | None = None,
        *,
        build: bool = False,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        on_build: Callable[[GraphReport], None] | None = None,
    ) -> GraphAnswer:
        """Run read-only Cypher over ``Sample-[CARRIES]->Variant-[IN_GENE]->Gene``; ``build`` (re)builds it first.

        At most ``max_rows`` rows come back (default 10,000; the rest are counted in
        ``result.truncated``); the query stops after ``timeout_s`` (default
        ``graph_query_timeout_s``) or past ``graph_query_memory_bytes``. ``on_build(report)`` is
        called once the graph is built, before the query runs.

        Raises ``ConfigError`` (neither a query nor ``build``; a query that writes or holds two
        statements, checked before a long build; a limit out of range; a query stopped by its
        limits or refused by LadybugDB), ``IndexNotFoundError`` (nothing ingested, or the graph
        not built), ``WorkerCrashedError`` (the query's process died).
        """
        from exocortex.genomics.graph import build_graph, check_read_only, query_limits, run_cypher

        if query is None and not build:
            raise ConfigError("give a Cypher QUERY, or --build to (re)build the graph")
        timeout = self.config.graph_query_timeout_s if timeout_s is None else timeout_s
        memory = self.config.graph_query_memory_bytes
        if query is not None:
            check_read_only(query)  # refuse before a long build
            query_limits(max_rows, timeout_s)  # and a negative max_rows or a NaN timeout
        report = None
        if build:
            report = build_graph(self.store, wait_s=self.config.lock_wait_s)
            if on_build is not None:
                on_build(report)
        result = None
        if query is not None:
            result = run_cypher(self.store, query, max_rows=max_rows, timeout_s=timeout, memory_bytes=memory)
        return GraphAnswer(build=report, result=result)

    def export(
        self,
        path: PathArg,
        *,
        format: str | None = None,
        region: str | None = None,
        samples: str | Iterable[str] | None = None,
        force: bool = False,
        verify: bool = False,
    ) -> ExportSummary:
        """Write the store to ``path`` as ``vcf``, ``bcf``, ``parquet`` (a folder of one file per table) or
        ``zarr`` (VCF Zarr through bio2zarr); the variants overlapping ``region`` only, ``samples``'
        columns only (names, or one comma-separated string).

        ``format`` defaults from the name: ``.bcf`` is BCF, ``.vcf``/``.vcf.gz`` VCF (BGZF when it ends
        ``.gz``), ``.zarr``/``.vcz`` Zarr, ``.parquet`` or no suffix Parquet. ``verify`` runs
        bio2zarr's own check of a Zarr export against the BCF it was made from. A VCF/BCF holds one
        record per stored allele, as ``bcftools norm -m-`` splits the sources: see
        :mod:`exocortex.genomics.export`.

        Raises ``ConfigError`` (an unknown format, a bad region, ``verify`` with another format than
        zarr), ``UsageError`` (``path`` exists and ``force`` is not given, or is a folder other than an
        earlier Parquet or Zarr export, or its parent folder does not exist),
        ``IndexNotFoundError`` (nothing ingested), ``NoMatchesError`` (no variants to export, an
        unknown sample), ``VcfFormatError`` (htslib refused a record).
        """
        from exocortex.genomics.export import export_store
        from exocortex.genomics.filters import parse_region

        out = Path(path)
        fmt = _export_format(out, format)
        if verify and fmt != "zarr":
            raise ConfigError(f"--verify checks a zarr export with bio2zarr; it does not apply to {fmt}")
        if region is not None:
            parse_region(region)  # ConfigError for a bad one, before anything is read
        names: list[str] | None = None
        if samples is not None:
            names = [n.strip() for n in (samples.split(",") if isinstance(samples, str) else samples)]
            if not names or not all(names):
                raise UsageError(f"--sample takes sample names separated by commas (got {samples!r})")
        if (out.exists() or out.is_symlink()) and not force:
            raise UsageError(f"{out} exists: pass --force to replace it")
        if out.is_dir() and not out.is_symlink():
            from exocortex.genomics.export import is_export_folder

            if not is_export_folder(out):  # --force never deletes a folder of other files (., the store)
                raise UsageError(f"{out} is a folder that is not an earlier parquet or zarr export: not replaced")
        if not out.parent.is_dir():
            raise UsageError(f"{out.parent} is not a folder: the export is written there")
        return export_store(self.store, out, fmt, region=region, samples=names, force=force, verify=verify)

    def __repr__(self) -> str:
        return f"Variants(store={str(self.store)!r})"


def _export_format(path: Path, format: str | None) -> str:
    """The export format asked for, else the one ``path``'s name implies; ``ConfigError`` for an unknown one."""
    if format is not None:
        fmt = format.strip().lower()
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {format!r} (one of {', '.join(EXPORT_FORMATS)})")
        return fmt
    name = path.name.lower()
    if name.endswith(".bcf"):
        return "bcf"
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz")):
        return "vcf"
    if name.endswith((".zarr", ".vcz")):
        return "zarr"
    if name.endswith(".parquet") or "." not in name:
        return "parquet"
    raise ConfigError(f"cannot tell the export format from {path.name!r}: give --format ({', '.join(EXPORT_FORMATS)})")


__all__ = ["DEFAULT_MAX_PROBLEMS", "EXPORT_FORMATS", "GraphAnswer", "Variants", "variant_store_dir"]
