"""What the ``exocortex vcf`` commands share: the variant store option and where it points.

The commands themselves are in ``vcf_ingest``, ``vcf_query`` and ``vcf_validate``; the group,
``vcf_app``, is in ``exocortex.cli.app``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from exocortex.cli.app import vcf_app
from exocortex.cli.output import DebugOpt, JsonOpt, err, out, print_json

__all__ = ["DebugOpt", "JsonOpt", "StoreOpt", "err", "out", "print_json", "store_dir", "vcf_app"]

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store directory (default: $EXOCORTEX_STORE or ./.exocortex)."),
]


def store_dir(store: str | None) -> Path:
    """``--store``, else ``$EXOCORTEX_STORE``, else ``./.exocortex`` (as for a code index)."""
    return Path(store or os.environ.get("EXOCORTEX_STORE") or ".exocortex")
