"""What the ``exocortex vcf`` commands share: the variant store option and the output helpers.

The commands themselves are in ``vcf_ingest``, ``vcf_query``, ``vcf_samples`` and ``vcf_validate``, each one call
on :class:`exocortex.genomics.variants.Variants` (which resolves ``--store``); the group,
``vcf_app``, is in ``exocortex.cli.app``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from exocortex.cli.app import vcf_app
from exocortex.cli.output import DebugOpt, JsonOpt, err, out, print_json

__all__ = ["DebugOpt", "JsonOpt", "StoreOpt", "err", "out", "print_json", "vcf_app"]

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store directory (default: $EXOCORTEX_STORE or ./.exocortex)."),
]
