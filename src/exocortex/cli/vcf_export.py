"""``exocortex vcf export --output PATH``: one call on :meth:`exocortex.genomics.variants.Variants.export`."""

from __future__ import annotations

from typing import Annotated

import typer

from exocortex.cli.output import configure_logging, printable
from exocortex.cli.vcf import DebugOpt, JsonOpt, StoreOpt, out, print_json, vcf_app


@vcf_app.command("export")
def export_command(
    output: Annotated[
        str, typer.Option("--output", "-o", help="The file (vcf, bcf) or folder (parquet, zarr) to write.")
    ],
    format: Annotated[
        str | None,
        typer.Option("--format", help="vcf, bcf, parquet or zarr (default: from the output's name)."),
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Only variants in CHROM, CHROM:POS or CHROM:START-END.")
    ] = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="Only these samples' columns (comma-separated names).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT when it exists.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="zarr: check the result with bio2zarr's verify.")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the variant store as VCF (bgzipped when OUTPUT ends .gz), BCF, Parquet or VCF Zarr.

    VCF/BCF: one record per stored allele (multi-allelic sites split as `bcftools norm -m-` does),
    sorted by the header's contig order and position, with GT (and GQ, DP, AD where stored) for
    every sample. Parquet: a folder with one file per table. Zarr: VCF Zarr made by bio2zarr.
    """
    from exocortex.genomics.reader import show_htslib_messages
    from exocortex.genomics.variants import Variants

    configure_logging("debug" if debug else "warning")
    show_htslib_messages(debug)
    summary = Variants.open(store).export(
        output, format=format, region=region, samples=sample, force=force, verify=verify
    )
    if as_json:
        print_json(summary.to_dict())
        return
    what = f"{summary.variants:,} variants, {summary.samples:,} samples, {summary.calls:,} carrier calls"
    checked = " (verified by bio2zarr)" if summary.verified else ""
    out.print(
        f"exported {what} as {summary.format} to {printable(summary.path)} in {summary.seconds:.2f} s{checked}",
        highlight=False,
        markup=False,
    )
