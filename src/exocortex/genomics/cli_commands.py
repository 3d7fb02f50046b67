"""Imports the modules that add commands to ``vcf_app`` (so ``exocortex vcf --help`` lists them).

Command modules import their heavy dependencies (cyvcf2, lancedb, ladybug) inside the commands,
so the CLI starts fast.
"""
from exocortex.genomics import (
    cli_ingest,  # noqa: F401
    cli_query,  # noqa: F401
    cli_validate,  # noqa: F401
)
