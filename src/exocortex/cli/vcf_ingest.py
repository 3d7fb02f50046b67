"""``exocortex vcf ingest FILE...``: one call on :meth:`exocortex.genomics.variants.Variants.ingest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exocortex.cli.output import cell, configure_logging, printable
from exocortex.cli.vcf import DebugOpt, JsonOpt, StoreOpt, print_json, vcf_app
from exocortex.cli.vcf import err as _err
from exocortex.cli.vcf import out as _out


@vcf_app.command("ingest")
def ingest_command(
    files: Annotated[
        list[str], typer.Argument(help="VCF, bgzipped/gzipped VCF or BCF files, or http(s):// URLs of them.")
    ],
    store: StoreOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Records per committed batch (default 50,000)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted ingest of the same file after its last batch.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Re-ingest a file already in the store (its old rows are deleted).")
    ] = False,
    no_index: Annotated[bool, typer.Option("--no-index", help="Skip building the scalar indexes at the end.")] = False,
    no_merge: Annotated[
        bool,
        typer.Option("--no-merge", help="Keep each file apart: own samples, a second row for a key another file has."),
    ] = False,
    wait: Annotated[float | None, typer.Option("--wait", help="Seconds to wait for another writer to finish.")] = None,
    fasta: Annotated[
        str | None,
        typer.Option("--fasta", help="Reference FASTA (plain, .fai-indexed): left-align indels as bcftools norm -f."),
    ] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Stream VCF/BCF files into the variant store: alleles, non-reference calls, samples, sources."""
    from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn

    from exocortex.genomics.reader import show_htslib_messages
    from exocortex.genomics.variants import Variants

    configure_logging("debug" if debug else "warning")
    show_htslib_messages(debug)
    with Progress(
        TextColumn("ingesting {task.description}"),
        TextColumn("{task.completed:,.0f} records"),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_terminal or debug,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(path: str, records: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(Path(path).name, total=None)
            bar.update(tasks[path], completed=records)

        summary = Variants.open(store).ingest(
            files,
            batch_size=batch_size,
            resume=resume,
            replace=replace,
            build_indexes=not no_index,
            wait_s=wait,
            progress=progress,
            fasta=fasta,
            merge=not no_merge,
        )
    if as_json:
        print_json(summary.to_dict())
        return
    from rich.table import Table

    table = Table(title=cell(f"ingested into {summary.store}"))
    table.add_column("file", overflow="fold")
    for col in ("records", "alleles", "ref blocks", "calls", "samples", "rejected", "s", "rec/s"):
        table.add_column(col, justify="right", no_wrap=True)
    for f in summary.files:
        table.add_row(
            cell(Path(f.path).name),
            f"{f.records:,}",
            f"{f.alleles:,}",
            f"{f.ref_blocks:,}",
            f"{f.calls:,}",
            f"{f.samples:,}",
            f"{f.rejected:,}",
            f"{f.seconds:.2f}",
            f"{f.records_per_s:,.0f}",
        )
    if len(summary.files) > 1:
        table.add_row(
            "total",
            f"{summary.records:,}",
            f"{summary.alleles:,}",
            f"{summary.ref_blocks:,}",
            f"{summary.calls:,}",
            f"{summary.samples:,}",
            f"{summary.rejected:,}",
            f"{summary.seconds:.2f}",
            f"{summary.records_per_s:,.0f}",
            style="bold",
        )
    _out.print(table)
    for f in summary.files:
        if f.resumed_from:
            resumed = f"{printable(f.path)}: resumed after {f.resumed_from:,} committed records"
            _out.print(resumed, highlight=False, markup=False)
        if f.merged:
            merged = f"{printable(f.path)}: {f.merged:,} alleles already in the store from another file: calls merged"
            if f.conflicts:
                merged += f", {f.conflicts:,} disagreeing calls dropped (the first file's kept)"
            _out.print(merged, highlight=False, markup=False)
        if f.rejects_path:
            _out.print(
                f"{printable(f.path)}: {f.rejected:,} rejected records listed in {printable(f.rejects_path)}",
                highlight=False,
                markup=False,
            )
    if not summary.indexed:
        _err.print("scalar indexes were not built (--no-index, or Lance refused them)", highlight=False)


@vcf_app.command("annotate")
def annotate_command(
    clinvar: Annotated[
        str | None, typer.Option("--clinvar", help="A ClinVar VCF: CLNSIG, review stars, gene and consequence.")
    ] = None,
    population: Annotated[
        str | None, typer.Option("--population", help="A population VCF (gnomAD, 1000 Genomes): its AF as pop_af.")
    ] = None,
    population_field: Annotated[
        str, typer.Option("--population-field", help="The population file's INFO field to read (default AF).")
    ] = "AF",
    store: StoreOpt = None,
    wait: Annotated[float | None, typer.Option("--wait", help="Seconds to wait for another writer to finish.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Join ClinVar and population frequencies from external VCFs into the stored variants, by normalised key."""
    from exocortex.genomics.variants import Variants

    configure_logging("debug" if debug else "warning")
    summaries = Variants.open(store).annotate(
        clinvar=clinvar, population=population, population_field=population_field, wait_s=wait
    )
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    for s in summaries:
        _out.print(
            cell(
                f"{s.kind} {Path(s.path).name}: {s.records:,} records, {s.alleles:,} alleles read; "
                f"{s.matched:,} stored alleles annotated, {s.unmatched:,} alleles not in the store"
            ),
            highlight=False,
        )
