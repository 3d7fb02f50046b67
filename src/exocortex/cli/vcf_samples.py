"""``exocortex vcf samples | genotype | inheritance``: the cohort, each one call on
:class:`~exocortex.genomics.variants.Variants` (``samples``, ``genotype``, ``inheritance``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from exocortex.cli.output import cell, printable
from exocortex.cli.vcf import DebugOpt, JsonOpt, StoreOpt, err, out, print_json, vcf_app


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@vcf_app.command("samples")
def samples_command(
    ped: Annotated[
        str | None, typer.Option("--ped", help="A PED file (family, sample, father, mother, sex, phenotype) to store.")
    ] = None,
    wait: Annotated[float | None, typer.Option("--wait", help="Seconds to wait for another writer.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the samples (one per name) with family, parents, sex and affected status from the PED."""
    from exocortex.genomics.variants import Variants

    report = Variants.open(store).samples(ped, wait_s=wait)
    if report.unknown:
        shown = ", ".join(report.unknown[:20]) + (", ..." if len(report.unknown) > 20 else "")
        err.print(
            f"warning: {len(report.unknown)} PED samples are not in the variant store (left out): {printable(shown)}",
            highlight=False,
            markup=False,
        )
    if as_json:
        print_json(report.to_dict())
        return
    from rich.table import Table

    table = Table(title=f"{len(report.samples)} samples")
    cols = ("sample", "family", "father", "mother", "sex", "affected", "files")
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in report.samples:
        table.add_row(*[cell(_fmt(row[c])) for c in cols])
    out.print(table)


@vcf_app.command("genotype")
def genotype_command(
    variant: Annotated[str, typer.Argument(help="A key CHROM:POS:REF:ALT, a vid or an rsid.")],
    sample: Annotated[str, typer.Argument(help="A sample name.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """SAMPLE's genotype at VARIANT: carrier, other_alt, hom_ref, no_call, partial, no_gt or absent."""
    from exocortex.genomics.variants import Variants

    answer = Variants.open(store).genotype(variant, sample)
    if as_json:
        print_json(answer.to_dict())
        return
    detail = ", ".join(f"{k} {v}" for k, v in answer.to_dict().items() if k in ("gt", "zygosity", "gq", "dp") and v)
    out.print(cell(f"{answer.sample} at {answer.variant}: {answer.status}" + (f" ({detail})" if detail else "")))


@vcf_app.command("inheritance")
def inheritance_command(
    mode: Annotated[str, typer.Argument(help="de_novo, recessive or compound_het.")],
    proband: Annotated[str | None, typer.Option("--proband", help="Only this child of the pedigree.")] = None,
    family: Annotated[str | None, typer.Option("--family", help="Only this family of the pedigree.")] = None,
    gene: Annotated[str | None, typer.Option("--gene", help="Only alleles of this gene.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Return at most this many rows.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Variants of the pedigree's trios that are de novo, homozygous recessive or compound heterozygous."""
    from exocortex.genomics.variants import Variants

    result = Variants.open(store).inheritance(mode, proband=proband, family=family, gene=gene, limit=limit)
    if as_json:
        print_json(result.to_dict())
        return
    from rich.table import Table

    trios = "; ".join(f"{t.child} (father {t.father}, mother {t.mother})" for t in result.trios)
    table = Table(title=cell(f"{mode}: {len(result.rows)} of {result.matched:,} in {trios}"))
    cols = ("child", "key", "gene", "child_gt", "father_status", "father_gt", "mother_status", "mother_gt", "origin")
    for col in cols:
        table.add_column(col, overflow="fold", no_wrap=col == "key")
    for row in result.rows:
        table.add_row(*[cell(_fmt(row[c])) for c in cols])
    out.print(table)
    for note in result.notes:
        out.print(f"note: {printable(note)}", highlight=False, markup=False)
