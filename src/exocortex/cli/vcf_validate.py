"""``exocortex vcf validate FILE``: stream a VCF/BCF and report its header and record problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from exocortex.cli.output import cell, configure_logging, printable
from exocortex.cli.vcf import out, print_json, vcf_app
from exocortex.genomics.variants import DEFAULT_MAX_PROBLEMS

if TYPE_CHECKING:
    from exocortex.genomics.validate import ValidationReport


@vcf_app.command("validate")
def validate_command(
    file: Annotated[
        str, typer.Argument(help="A VCF, VCF.gz (gzip or bgzip) or BCF file, or an http(s):// URL; told by its bytes.")
    ],
    max_problems: Annotated[
        int, typer.Option("--max-problems", min=0, help="Keep and show at most N problems in detail (all are counted).")
    ] = DEFAULT_MAX_PROBLEMS,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 13 when any problem is found, not only when the file is unreadable.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Stream FILE and report header and record problems with their line numbers (record numbers for BCF).

    Checks: the ##fileformat line; ##INFO/FORMAT/FILTER/contig definitions; the #CHROM line and
    duplicate samples; per record: column and sample counts, contigs missing from the header,
    sort order, POS, REF, ALT, QUAL, undefined FILTER/INFO/FORMAT tags, INFO values against
    their Type and Number, sample fields against FORMAT, and GT. The file is never loaded.

    Exit status: 0 when the file was read, whether or not it has problems (they are printed);
    13 when it cannot be read as VCF/BCF at all (empty, not VCF, no #CHROM line, truncated or
    corrupt compression), and with --strict also when any problem was found; 3 when FILE is
    missing.
    """
    configure_logging("debug" if debug else "warning")
    from exocortex.genomics.reader import show_htslib_messages
    from exocortex.genomics.variants import Variants

    show_htslib_messages(debug)

    def shown(report: ValidationReport) -> None:  # printed before Variants.validate raises for it
        if as_json:
            print_json(report.to_dict())
        else:
            _render(report)

    Variants.validate(file, strict=strict, max_problems=max_problems, on_report=shown)


def _render(report: ValidationReport) -> None:
    unit = report.position
    where = f"{report.records:,} records, {report.format}, {report.seconds:.2f} s"
    if report.ok:
        out.print(f"{printable(report.path)}: no problems ({where})", highlight=False, markup=False)
        return
    if report.problems:
        from rich.table import Table

        table = Table(title=cell(f"{report.path}: problems"))
        table.add_column(unit, justify="right")
        table.add_column("code")
        table.add_column("message")
        for p in report.problems:
            table.add_row(str(p.line) if p.line else "-", p.code, cell(p.message))
        out.print(table)
    if report.truncated:
        out.print(f"(showing the first {len(report.problems):,} of {report.total_problems:,} problems)",
                  highlight=False)
    if report.counts:
        counts = ", ".join(f"{code} {n:,}" for code, n in sorted(report.counts.items()))
        out.print(f"{report.total_problems:,} problems ({where}): {counts}", highlight=False)
    if report.fatal is not None and report.records:
        out.print(
            f"{printable(report.path)}: read {where} before the file became unreadable", highlight=False, markup=False
        )
