"""The ``exocortex vcf`` command group and what its commands share.

Each ``cli_*`` module adds its commands to ``vcf_app``. They print through ``out`` / ``err``
(rich consoles that write to whatever ``sys.stdout`` / ``sys.stderr`` are at the time) and
``print_json``; they do not import ``exocortex.cli``, which imports them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

vcf_app = typer.Typer(
    help="Variant files: ingest VCF/BCF into the store, query, stats, similar variants, graph, validate.",
    no_args_is_help=True,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store directory (default: $EXOCORTEX_STORE or ./.exocortex)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]


def store_dir(store: str | None) -> Path:
    """``--store``, else ``$EXOCORTEX_STORE``, else ``./.exocortex`` (as for a code index)."""
    return Path(store or os.environ.get("EXOCORTEX_STORE") or ".exocortex")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
