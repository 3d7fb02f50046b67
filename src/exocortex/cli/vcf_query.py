"""``exocortex vcf query | stats | similar | graph``: each one call on :class:`~exocortex.genomics.variants.Variants`.

Each command takes ``--store`` (default ``$EXOCORTEX_STORE`` or ``./.exocortex``) and ``--json``
(one JSON object on stdout); without ``--json`` it prints a Rich table. ``Variants`` imports
lancedb, ladybug and the query modules inside its methods, so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from exocortex.cli.output import cell, printable
from exocortex.cli.vcf import DebugOpt, JsonOpt, StoreOpt, out, print_json, vcf_app

if TYPE_CHECKING:
    from rich.table import Table

    from exocortex.genomics.graph import GraphReport


def _table(**kwargs: Any) -> Table:
    """A rich table (rich.table is imported when a command renders one, not at start-up)."""
    from rich.table import Table

    return Table(**kwargs)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _carrier_text(carriers: list[dict[str, Any]], n: int | None) -> str:
    shown = ", ".join(f"{c['sample']}({c['zygosity']})" for c in carriers[:4])
    more = (n or len(carriers)) - min(len(carriers), 4)
    return shown + (f" +{more}" if more > 0 else "")


@vcf_app.command("query")
def query_command(
    region: Annotated[str | None, typer.Option("--region", help="CHROM, CHROM:POS or CHROM:START-END.")] = None,
    gene: Annotated[
        str | None, typer.Option("--gene", help="Gene symbol (with --impact/--consequence/--lof: on the same entry).")
    ] = None,
    sample: Annotated[str | None, typer.Option("--sample", help="Only alleles this sample carries.")] = None,
    zygosity: Annotated[
        str | None, typer.Option("--zygosity", help="het, hom_alt, hemi or het_alt (of --sample, or of any sample).")
    ] = None,
    min_af: Annotated[float | None, typer.Option("--min-af", help="AF at least this.")] = None,
    max_af: Annotated[float | None, typer.Option("--max-af", help="AF at most this.")] = None,
    min_qual: Annotated[float | None, typer.Option("--min-qual", help="QUAL at least this.")] = None,
    filter_: Annotated[str | None, typer.Option("--filter", help="PASS, or one failed filter's name.")] = None,
    consequence: Annotated[
        str | None, typer.Option("--consequence", help="Consequence term, e.g. missense_variant.")
    ] = None,
    impact: Annotated[str | None, typer.Option("--impact", help="HIGH, MODERATE, LOW, MODIFIER (comma list).")] = None,
    clnsig: Annotated[str | None, typer.Option("--clnsig", help="ClinVar significance term, e.g. Pathogenic.")] = None,
    lof: Annotated[
        bool, typer.Option("--lof", help="Loss of function (LOFTEE HC, snpEff LOF, else a pLoF consequence).")
    ] = False,
    max_pop_af: Annotated[
        float | None,
        typer.Option("--max-pop-af", help="Population AF (gnomAD, ExAC, 1000G... from annotations) at most this."),
    ] = None,
    min_stars: Annotated[
        int | None, typer.Option("--min-stars", help="ClinVar review stars (0-4) at least this.")
    ] = None,
    where: Annotated[str | None, typer.Option("--where", help="An extra Lance SQL predicate.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Return at most this many variants.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Find variants by region, gene, sample, frequency, quality, annotation or a SQL predicate."""
    from exocortex.genomics.variants import Variants

    result = Variants.open(store).query(
        region, gene=gene, sample=sample, zygosity=zygosity, min_af=min_af, max_af=max_af,
        min_qual=min_qual, filter=filter_, consequence=consequence, impact=impact, clnsig=clnsig,
        where=where, limit=limit, lof=lof, max_pop_af=max_pop_af, min_stars=min_stars,
    )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
        return
    table = _table(title=f"{result.rows.num_rows} of {result.matched:,} matching variants")
    cols = ("key", "vtype", "gene", "consequence", "impact", "af", "pop_af", "qual", "filter", "clnsig", "carriers")
    for col in cols:
        table.add_column(
            col, justify="right" if col in ("af", "pop_af", "qual") else "left", no_wrap=col == "key", overflow="fold"
        )
    for row in result.rows.to_pylist():
        carriers = _carrier_text(result.carriers.get(row["vid"], []), row.get("n_carriers"))
        table.add_row(*[cell(_fmt(row.get(c))) for c in cols[:-1]], cell(carriers))
    out.print(table)
    for entry in result.incomplete:
        out.print(f"note: {printable(entry['note'])}", highlight=False, markup=False)


@vcf_app.command("stats")
def stats_command(store: StoreOpt = None, as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Counts by type and chromosome, Ti/Tv, per-sample het/hom-alt counts, missing fields."""
    from exocortex.genomics.variants import Variants

    variants = Variants.open(store)
    stats = variants.stats()
    if as_json:
        print_json(stats.to_dict())
        return
    summary = _table(show_header=False, title=cell(f"variant store {variants.store}"))
    summary.add_column("field")
    summary.add_column("value")
    ti_tv = f"{stats.ti_tv:.3f}" if stats.ti_tv is not None else "n/a"
    for key, value in (
        ("variants", f"{stats.variants:,}"),
        ("by type", ", ".join(f"{k} {v:,}" for k, v in stats.by_type.items())),
        ("by chromosome", ", ".join(f"{k} {v:,}" for k, v in stats.by_chrom.items())),
        ("by impact", ", ".join(f"{k} {v:,}" for k, v in stats.by_impact.items())),
        ("filter", ", ".join(f"{k} {v:,}" for k, v in stats.by_filter.items())),
        ("Ti/Tv", f"{ti_tv} ({stats.ti:,} transitions, {stats.tv:,} transversions)"),
        ("missing fields", ", ".join(f"{k} {v:.1%}" for k, v in stats.field_missing.items())),
        ("reference blocks", f"{stats.ref_blocks:,} (gVCF, not variants: `vcf blocks REGION`)"),
        *(("note", n) for n in stats.notes),
    ):
        summary.add_row(key, cell(value))
    out.print(summary)
    if stats.samples:
        per = _table(title="samples")
        cols = ("sample", "het", "hom_alt", "hemi", "het_alt", "carried")
        for col in cols:
            per.add_column(col, justify="left" if col == "sample" else "right")
        for row in stats.samples:
            per.add_row(*[cell(row[c]) if c == "sample" else f"{row[c]:,}" for c in cols])
        out.print(per)


@vcf_app.command("blocks")
def blocks_command(
    region: Annotated[str, typer.Argument(help="CHROM, CHROM:POS or CHROM:START-END.")],
    sample: Annotated[str | None, typer.Option("--sample", help="Only this sample's blocks.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Return at most this many blocks.")] = 1000,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """gVCF reference blocks covering REGION, with GT, GQ and depth: was a sample confidently hom-ref here?"""
    from exocortex.genomics.variants import Variants

    result = Variants.open(store).reference_calls(region, sample=sample, limit=limit)
    if as_json:
        print_json(result.to_dict())
        return
    table = _table(title=cell(f"{result.rows.num_rows} of {result.matched:,} reference blocks in {region}"))
    cols = ("sample_name", "chrom", "pos", "end", "gt", "gq", "dp", "min_dp")
    for col in cols:
        table.add_column("sample" if col == "sample_name" else col, justify="right" if col in cols[2:] else "left")
    for row in result.rows.to_pylist():
        table.add_row(*[cell(_fmt(row.get(c))) for c in cols])
    out.print(table)
    for entry in result.incomplete:
        out.print(f"note: {printable(entry['note'])}", highlight=False, markup=False)


@vcf_app.command("similar")
def similar_command(
    variant: Annotated[str, typer.Argument(help="A key CHROM:POS:REF:ALT, a vid or an rsid.")],
    k: Annotated[int, typer.Option("--k", "-k", help="How many neighbours.")] = 10,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Recompute the feature vectors first.")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The K variants nearest to VARIANT by type, length, position, frequency, consequence, impact, gene."""
    from exocortex.genomics.variants import Variants

    result = Variants.open(store).similar(variant, k, rebuild=rebuild)
    if as_json:
        print_json(result.to_dict())
        return
    q = result.query
    table = _table(
        title=cell(f"nearest to {q['key']} ({q['vtype']}, {q['gene'] or 'no gene'}, {q['consequence'] or '-'})")
    )
    cols = ("#", "distance", "key", "vtype", "gene", "consequence", "impact", "af")
    for col in cols:
        table.add_column(
            col, justify="right" if col in ("#", "distance", "af") else "left", no_wrap=col == "key", overflow="fold"
        )
    for rank, n in enumerate(result.neighbours, 1):
        table.add_row(str(rank), f"{n['distance']:.4f}", *[cell(_fmt(n.get(c))) for c in cols[2:]])
    out.print(table)


@vcf_app.command("graph")
def graph_command(
    query: Annotated[
        str | None, typer.Argument(help="A read-only Cypher query, e.g. MATCH (g:Gene) RETURN g.symbol.")
    ] = None,
    build: Annotated[
        bool, typer.Option("--build", help="(Re)build the graph from the committed tables first.")
    ] = False,
    limit: Annotated[
        int, typer.Option("--max-rows", help="Return at most this many rows (the rest are counted).")
    ] = 10_000,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Stop the query after this many seconds (default 60: graph_query_timeout_s)."),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run read-only Cypher over Sample-[CARRIES]->Variant-[IN_GENE]->Gene (build it with --build).

    The query runs in a process that cannot write files, with a time limit (--timeout, default
    60 s) and a memory limit (EXOCORTEX_GRAPH_QUERY_MEMORY_BYTES, default 1 GiB): past either it
    is stopped with exit 7 and a line saying which limit to raise.
    """
    from exocortex.genomics.variants import Variants

    def built(report: GraphReport) -> None:  # printed as soon as the graph is built, before the query runs
        if not as_json:
            counts = ", ".join(f"{k} {v:,}" for k, v in report.counts.items())
            out.print(
                f"built {report.path}: {counts} in {report.seconds['total']:.2f} s ({report.edges_per_s:,.0f} edges/s)",
                highlight=False,
            )

    answer = Variants.open(store).graph(query, build=build, max_rows=limit, timeout_s=timeout, on_build=built)
    if as_json:
        print_json(answer.to_dict())
        return
    result = answer.result
    if result is not None:
        table = _table(title=f"{len(result.rows)} rows" + (" (graph is stale: --build)" if result.stale else ""))
        for col in result.columns:
            table.add_column(cell(col), overflow="fold")
        for row in result.rows:
            table.add_row(*[cell(_fmt(v)) for v in row])
        out.print(table)
        if result.truncated:
            out.print(f"{result.truncated:,} more rows not shown (--max-rows)", highlight=False)
