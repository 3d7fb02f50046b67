"""The ``exocortex vcf`` command group and what its commands share.

Each ``cli_*`` module adds its commands to ``vcf_app``. They print through ``out`` / ``err``
(rich consoles that write to whatever ``sys.stdout`` / ``sys.stderr`` are at the time) and
``print_json``; they do not import ``exocortex.cli``, which imports them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from exocortex.cli_output import DebugOpt, JsonOpt, err, out, print_json

__all__ = ["DebugOpt", "JsonOpt", "StoreOpt", "err", "out", "print_json", "store_dir", "vcf_app"]

vcf_app = typer.Typer(
    help="Variant files: ingest VCF/BCF into the store, query, stats, similar variants, graph, validate.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store directory (default: $EXOCORTEX_STORE or ./.exocortex)."),
]


def store_dir(store: str | None) -> Path:
    """``--store``, else ``$EXOCORTEX_STORE``, else ``./.exocortex`` (as for a code index)."""
    return Path(store or os.environ.get("EXOCORTEX_STORE") or ".exocortex")
