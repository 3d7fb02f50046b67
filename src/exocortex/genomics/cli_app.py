"""The ``exocortex vcf`` command group; each ``cli_*`` module adds its commands to ``vcf_app``."""

from __future__ import annotations

import typer

vcf_app = typer.Typer(
    help="Variant files: ingest VCF/BCF into the store, query, stats, similar variants, graph, validate.",
    no_args_is_help=True,
)
